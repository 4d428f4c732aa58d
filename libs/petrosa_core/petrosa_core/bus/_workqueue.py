"""A JetStream work queue: a stream that forgets each message once it is acked, and one
durable pull consumer every replica shares, so each item goes to one worker at a time.

An item a worker does not ack in ``ack_wait`` seconds (it crashed, or was killed) is
delivered again, to whichever worker pulls next.
"""

from __future__ import annotations

from nats.js.api import RetentionPolicy

from petrosa_core.bus._connection import Bus
from petrosa_core.bus._jetstream import bind_pull_consumer, ensure_pull_consumer, ensure_stream
from petrosa_core.bus._messages import PullConsumer


async def ensure_work_queue(
    bus: Bus,
    stream: str,
    subject: str,
    durable: str,
    *,
    ack_wait: float,
    max_deliver: int,
    max_age: float | None = None,
    max_msgs: int | None = None,
) -> PullConsumer:
    """Create (or converge on) the work-queue stream and its consumer, and bind it."""
    await ensure_stream(
        bus,
        stream,
        [subject],
        retention=RetentionPolicy.WORK_QUEUE,
        max_age=max_age,
        max_msgs=max_msgs,
    )
    await ensure_pull_consumer(
        bus,
        stream,
        durable,
        filter_subject=subject,
        ack_wait=ack_wait,
        max_deliver=max_deliver,
        # Each worker holds one item at a time; a few more keep the pipe full.
        max_ack_pending=1000,
    )
    return await bind_pull_consumer(bus, stream, durable)
