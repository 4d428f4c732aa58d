"""The NATS subjects and queue groups the services share; each setting defaults to one."""

from __future__ import annotations

from petrosa_core.models import DatasetKind

# Raw Binance frames from the socket client (``NATS_CONSUMER_SUBJECT``).
MARKET_DATA = "binance.futures.websocket.data"
# Request/reply: a ``BackfillRequest`` in, a ``BackfillReply`` or ``ErrorReply`` out.
BACKFILL_REQUEST = "petrosa.backfill.request"
# Request/reply: a ``JobRef`` in, a ``JobView`` or ``ErrorReply`` out.
BACKFILL_CANCEL = "petrosa.backfill.cancel"
BACKFILL_STATUS = "petrosa.backfill.status"
# ``BackfillEvent`` of every change of every job.
BACKFILL_EVENTS = "petrosa.backfill.events"
BACKFILL_QUEUE_GROUP = "backfiller"
# Request/reply: an audit request in, reports or an ``ErrorReply`` out.
AUDIT_REQUEST = "petrosa.audit.request"
AUDIT_QUEUE_GROUP = "auditor"
# ``AuditEvent`` of findings opened and resolved, and of sequence breaks seen at ingest.
AUDIT_EVENTS = "petrosa.audit.events"
# ``HealthUpdate`` of every health measurement the auditor stores.
AUDIT_HEALTH = "petrosa.audit.health"
# Frames the ingestor could not store, with the reason in a header.
INGESTOR_DEADLETTERS = "petrosa.deadletter.ingestor"
# ``MarketUpdate`` after each durable write: ``petrosa.market.updates.{kind}.{SYMBOL}``.
MARKET_UPDATES = "petrosa.market.updates"
MARKET_UPDATES_ALL = f"{MARKET_UPDATES}.>"


def market_updates_subject(kind: DatasetKind, symbol: str) -> str:
    """Where records of ``kind`` for ``symbol`` are announced once durably written."""
    return f"{MARKET_UPDATES}.{kind.value}.{symbol}"
