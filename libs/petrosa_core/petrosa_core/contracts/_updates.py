"""The push notifications of stored data: market updates and health measurements.

A ``MarketUpdate`` names one dataset and the records just written to it: always their
keys and time span, and the records themselves when they are few (``INLINE_RECORDS``).
A subscriber that needs the records of a keys-only update reads them from the market
store. ``publisher`` and ``seq`` order one publisher's updates; a gap in ``seq`` means
updates were lost on the way (core NATS keeps no copy).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from petrosa_core.errors import ParseError
from petrosa_core.models import RECORD_TYPES, DatasetId, DatasetKind, Record

# Records carried inline at most: a page of candles or a burst of trades, a few KiB.
INLINE_RECORDS = 200
# Records one update names at most: 1,000 keys are about 15 KiB, far below NATS's 1 MiB.
MAX_UPDATE_RECORDS = 1000


class MarketUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """Records of one dataset durably written; times are epoch ms."""

    dataset_id: str
    kind: DatasetKind
    symbol: str
    interval: str | None = None
    count: int
    first_time: int
    last_time: int
    keys: list[int]
    records: list[dict[str, Any]] | None = None
    written_time: int
    publisher: str
    seq: int

    @classmethod
    def of(
        cls,
        dataset: DatasetId,
        records: Sequence[Record],
        *,
        written_time: int,
        publisher: str,
        seq: int,
    ) -> MarketUpdate:
        """An update naming ``records`` (at most ``MAX_UPDATE_RECORDS``), inline when few."""
        times = [r.time for r in records]
        inline = len(records) <= INLINE_RECORDS
        return cls(
            dataset_id=str(dataset),
            kind=dataset.kind,
            symbol=dataset.symbol,
            interval=dataset.interval,
            count=len(records),
            first_time=min(times),
            last_time=max(times),
            keys=[r.key for r in records],
            records=[msgspec.structs.asdict(r) for r in records] if inline else None,
            written_time=written_time,
            publisher=publisher,
            seq=seq,
        )

    @property
    def dataset(self) -> DatasetId:
        return DatasetId(self.kind, self.symbol, self.interval)

    def inline_records(self) -> list[Record] | None:
        """The records carried inline, typed; ``None`` for a keys-only update."""
        if self.records is None:
            return None
        try:
            return [msgspec.convert(r, RECORD_TYPES[self.kind]) for r in self.records]
        except msgspec.ValidationError as exc:
            raise ParseError("bad_update", str(exc)) from None

    def encode(self) -> bytes:
        return _encode(self)

    @classmethod
    def decode(cls, data: bytes) -> MarketUpdate:
        try:
            return _decode_market(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ParseError("bad_update", str(exc)) from None
        except RecursionError:  # msgspec recurses once per nested array or object
            raise ParseError("bad_update", "the update nests too deeply") from None


class HealthUpdate(msgspec.Struct, frozen=True, kw_only=True):
    """One health measurement of a dataset, as the auditor stored it (score 0..100)."""

    dataset_id: str
    score: float
    band: str
    completeness: float
    validity: float
    freshness: float
    consistency: float
    open_findings: int
    measured_time: int

    def encode(self) -> bytes:
        return _encode(self)

    @classmethod
    def decode(cls, data: bytes) -> HealthUpdate:
        try:
            return _decode_health(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ParseError("bad_event", str(exc)) from None
        except RecursionError:
            raise ParseError("bad_event", "the event nests too deeply") from None


_encode = msgspec.json.Encoder().encode
_decode_market = msgspec.json.Decoder(MarketUpdate).decode
_decode_health = msgspec.json.Decoder(HealthUpdate).decode
