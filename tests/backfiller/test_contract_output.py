"""Everything a running backfiller sends reads back as the core contract's types: replies to
requests, status and cancels, refusals, and the events of a job from start to end."""

from __future__ import annotations

from petrosa_core.bus import Message
from petrosa_core.contracts import (
    BackfillEvent,
    BackfillReply,
    BackfillRequest,
    DataType,
    ErrorReply,
    JobRef,
    JobView,
    decode_reply,
)
from petrosa_core.metadata import MetadataStore
from tests.backfiller.test_jobs_support import HOUR_MS, Backfill, wait_for_job

WAIT = 20.0


async def test_replies_and_events_decode_as_the_contract_types(backfill: Backfill) -> None:
    request = BackfillRequest(
        symbol="XRPUSDT", data_type=DataType.FUNDING_RATES, start=1_636_934_400_000, origin="cli"
    )
    subjects = backfill.subjects
    events: list[bytes] = []

    async def collect(msg: Message) -> None:
        events.append(msg.data)

    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        await bus.subscribe(subjects["events"], handler=collect)
        async with backfill.running():
            raw = await bus.request(subjects["request"], request.encode(), within=WAIT)
            reply = decode_reply(raw, BackfillReply.decode)
            assert isinstance(reply, BackfillReply)
            done = await wait_for_job(metadata, reply.job_id)
            ref = JobRef(reply.job_id).encode()
            status = await bus.request(subjects["status"], ref, within=WAIT)
            cancel = await bus.request(subjects["cancel"], ref, within=WAIT)
            unknown = await bus.request(subjects["status"], JobRef("nope").encode(), within=WAIT)
            refused = await bus.request(subjects["request"], b'{"start": 0}', within=WAIT)
            await bus.flush()
    finally:
        await metadata.close()
        await bus.close()

    assert reply.job is not None and reply.job.to_job().id == done.id
    assert (reply.job.origin, reply.job.range_end - reply.job.range_start > HOUR_MS) == (
        "cli",
        True,
    )
    assert (reply.covering_job_ids, reply.new_job_ids) == ([done.id], [done.id])
    assert decode_reply(status, JobView.decode) == JobView.of(done)
    assert isinstance(decode_reply(cancel, JobView.decode), JobView)
    assert [(r.code, r.http_status) for r in map(_refusal, (unknown, refused))] == [
        ("job_not_found", 404),
        ("missing_data_type", 400),
    ]
    seen = [BackfillEvent.decode(event) for event in events]
    assert [e.job_id for e in seen] == [done.id] * len(seen)
    assert (seen[0].status, seen[0].claimable, seen[-1].status) == ("pending", True, "completed")


def _refusal(data: bytes) -> ErrorReply:
    reply = decode_reply(data, JobView.decode)
    assert isinstance(reply, ErrorReply)
    return reply
