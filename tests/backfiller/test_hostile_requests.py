"""Hostile and malformed backfill requests: each gets a clear error that gives nothing of
the backfiller's insides away, none creates a job, and the backfiller goes on answering."""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from petrosa_backfiller.intake import answer
from petrosa_core.contracts import ErrorReply, JobView
from petrosa_core.metadata import MetadataStore
from tests.backfiller.test_jobs_support import HOUR_MS, Backfill


def funding(**fields: Any) -> dict[str, Any]:
    return {"symbol": "BTCUSDT", "data_type": "funding_rates", "start": 0, "end": HOUR_MS, **fields}


@dataclass
class Answers:
    """What a running backfiller answered, whether it still answered after, and jobs made."""

    replies: dict[str, dict[str, Any]]
    still_answering: bool
    jobs_created: int

    def codes(self) -> dict[str, str]:
        return {
            name: reply.get("error", {}).get("code", "none") for name, reply in self.replies.items()
        }

    def message(self, name: str) -> str:
        return str(self.replies[name]["error"]["message"])


async def ask_all(backfill: Backfill, requests: dict[str, Any]) -> Answers:
    bus = await backfill.bus()
    metadata = await MetadataStore.open(backfill.metadata_url)
    try:
        async with backfill.running():
            replies = {name: await backfill.ask(bus, "request", r) for name, r in requests.items()}
            status = await backfill.ask(bus, "status", {"job_id": "none"})
        jobs = await metadata.list_jobs()
    finally:
        await metadata.close()
        await bus.close()
    return Answers(replies, status["error"]["code"] == "job_not_found", len(jobs))


async def test_json_bombs_and_oversized_payloads_are_refused_before_any_work(
    backfill: Backfill,
) -> None:
    requests = {
        "nested": b"[" * 100_000 + b"]" * 100_000,
        "nested_small": b"[" * 3000 + b"]" * 3000,
        "nested_in_a_field": b'{"symbol": "BTCUSDT", "x": ' + b"[" * 3000 + b"]" * 3000 + b"}",
        "padded": json.dumps(funding(note="x" * 20_000)).encode(),
    }

    answers = await ask_all(backfill, requests)

    assert answers.codes() == {
        "nested": "payload_too_large",
        "nested_small": "bad_json",
        "nested_in_a_field": "bad_json",
        "padded": "payload_too_large",
    }
    assert answers.message("nested_small") == "the request nests too deeply"
    assert answers.message("nested") == "a request may hold at most 8192 bytes, not 200000"
    assert (answers.still_answering, answers.jobs_created) == (True, 0)


async def test_symbols_that_are_not_binance_symbols_are_bad_symbol(backfill: Backfill) -> None:
    requests = {
        "long": funding(symbol="A" * 4000),
        "sharp_s": funding(symbol="ßUSDT"),  # upper-cased by Unicode rules it would be SSUSDT
        "german": funding(symbol="straße"),
        "full_width": funding(symbol="ＢＴＣＵＳＤＴ"),
        "dotless_i": funding(symbol="ıusdt"),
    }

    answers = await ask_all(backfill, requests)

    assert answers.codes() == {name: "bad_symbol" for name in requests}
    assert answers.message("long") == f"'{'A' * 36}...' (4000 characters) is not a Binance symbol"
    assert (answers.still_answering, answers.jobs_created) == (True, 0)


async def test_times_that_are_not_epoch_ms_or_iso_are_bad_time(backfill: Backfill) -> None:
    requests = {
        "start_true": funding(start=True),
        "end_false": funding(end=False),
        "full_width_digits": funding(start="１２"),
        "arabic_digits": funding(start="١٢"),
        "five_thousand_digits": funding(start="9" * 5000),
        "after_9999": funding(start=0, end=10**20),
    }

    answers = await ask_all(backfill, requests)

    assert answers.codes() == {name: "bad_time" for name in requests}
    assert answers.message("start_true") == (
        "start true is neither epoch milliseconds nor ISO-8601"
    )
    assert answers.message("five_thousand_digits") == (
        f"start '{'9' * 40}...' is outside 1970-01-01 .. 9999-12-31 (UTC)"
    )
    assert (answers.still_answering, answers.jobs_created) == (True, 0)


async def test_a_store_failure_is_answered_without_the_drivers_words(
    backfill: Backfill, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bus = await backfill.bus()
    try:
        async with backfill.running():
            with sqlite3.connect(tmp_path / "meta.db") as db:
                db.execute("DROP TABLE backfill_jobs")
            with caplog.at_level(logging.WARNING, logger="petrosa_backfiller.intake"):
                reply = await backfill.ask(bus, "request", funding())
    finally:
        await bus.close()

    error = reply["error"]
    assert (error["code"], error["message"]) == (
        "store_unavailable",
        f"the job store did not answer; try again later (reference {error['reference']})",
    )
    [logged] = [r for r in caplog.records if r.__dict__.get("reference") == error["reference"]]
    assert logged.exc_info is not None and "backfill_jobs" in str(logged.exc_info[1])


async def test_an_unexpected_failure_is_answered_with_a_reference_to_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def fails(payload: bytes) -> JobView:
        raise RuntimeError("mysql://backfill:s3cret@db.internal/meta exploded")

    with caplog.at_level(logging.ERROR, logger="petrosa_backfiller.intake"):
        reply = await answer(fails, b"{}")

    assert isinstance(reply, ErrorReply)
    error = json.loads(reply.encode())["error"]
    assert (error["code"], error["message"]) == (
        "internal_error",
        f"the backfiller failed on this request (reference {error['reference']})",
    )
    [logged] = [r for r in caplog.records if r.__dict__.get("reference") == error["reference"]]
    assert logged.exc_info is not None and "s3cret" in str(logged.exc_info[1])
