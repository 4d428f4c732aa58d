"""The dataset catalog, its lineage, and what makes a JSON Schema acceptable."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

import fastjsonschema
import sqlalchemy as sa

from petrosa_core.errors import ValidationError
from petrosa_core.metadata._base import SqlBase, check_text, inserted_id
from petrosa_core.metadata._records import DatasetRecord, JsonObject, LineageRecord
from petrosa_core.metadata._tables import datasets, lineage_records
from petrosa_core.models import DatasetId, DatasetKind

DRAFT_07 = "http://json-schema.org/draft-07/schema"
# fastjsonschema reports a malformed schema with its own error or, for wrong shapes, with
# whatever the generator tripped over.
_SCHEMA_ERRORS = (
    fastjsonschema.JsonSchemaDefinitionException,
    re.error,
    AttributeError,
    TypeError,
    ValueError,
    KeyError,
)


def _refuse_remote(uri: str) -> Any:
    raise ValidationError("remote_schema_ref", f"{uri}: only refs inside the document are allowed")


# Schemas come from API clients: a $ref must never make the server fetch a URL or read a file.
_NO_REMOTE_REFS = dict.fromkeys(("", "http", "https", "ftp", "file", "data"), _refuse_remote)


def check_schema(document: Any) -> None:
    """Raise ``ValidationError`` unless ``document`` is a compilable draft-07 JSON Schema."""
    if not isinstance(document, dict):
        raise ValidationError("invalid_schema", "a schema must be a JSON object")
    declared = document.get("$schema", DRAFT_07)
    if not isinstance(declared, str) or declared.rstrip("#") != DRAFT_07:
        raise ValidationError("unsupported_schema_draft", f"{declared!r} is not draft-07")
    try:
        fastjsonschema.compile(document, handlers=_NO_REMOTE_REFS)
    except _SCHEMA_ERRORS as exc:
        raise ValidationError("invalid_schema", str(exc)) from exc


class CatalogFacts(NamedTuple):
    """What a catalog entry says of its dataset unless whoever registers it says otherwise."""

    description: str
    category: str
    # How often new data is due: an interval (1m, 8h) or ``realtime`` (as the market moves).
    update_frequency: str


# Per kind: the category to browse by, the expected update frequency (candles: their
# interval) and what the records are. Frequencies are Binance's stream speeds: depth@100ms,
# markPrice (3 s), the 24h ticker (500 ms); funding settles every 8 h on most symbols.
_KIND_FACTS: dict[DatasetKind, tuple[str, str, str]] = {
    DatasetKind.CANDLES: ("ohlcv", "", "candles (OHLCV)"),
    DatasetKind.TRADES: ("trades", "realtime", "aggregate and raw trades"),
    DatasetKind.DEPTH: ("order_book", "100ms", "order-book diff updates"),
    DatasetKind.MARK_PRICES: ("derivatives", "3s", "mark and index prices with the funding rate"),
    DatasetKind.FUNDING_RATES: ("derivatives", "8h", "realised funding rates"),
    DatasetKind.TICKERS: ("statistics", "500ms", "24-hour rolling tickers"),
    DatasetKind.BOOK_TICKERS: ("order_book", "realtime", "best bid and ask"),
}


def catalog_facts(dataset: DatasetId) -> CatalogFacts:
    """The description, category and expected update frequency a dataset has by default."""
    category, frequency, what = _KIND_FACTS[dataset.kind]
    if dataset.interval is not None:
        frequency, what = dataset.interval, f"{dataset.interval} {what}"
    return CatalogFacts(f"{dataset.symbol} {what} from Binance USD-M futures", category, frequency)


def _checked(field: str, value: str, max_length: int) -> str:
    check_text(field, value, max_length)
    return value


class CatalogOps(SqlBase):
    async def register_dataset(
        self,
        dataset_id: DatasetId,
        *,
        source: str,
        description: str = "",
        category: str = "",
        update_frequency: str = "",
    ) -> bool:
        """Record a dataset once; True if this call created it (safe under concurrent callers).

        The first ``source`` stays; a later non-empty ``description`` replaces the stored one.
        What is left empty is filled from ``catalog_facts``.
        """
        check_text("source", source, 64)
        if len(description) > 512:
            raise ValidationError("bad_description", "description must be at most 512 characters")
        defaults = catalog_facts(dataset_id)
        now = self._clock()
        row = {
            "id": str(dataset_id),
            "kind": dataset_id.kind.value,
            "symbol": dataset_id.symbol,
            "interval": dataset_id.interval,
            "source": source,
            "description": description or defaults.description,
            "category": _checked("category", category or defaults.category, 32),
            "update_frequency": _checked(
                "update_frequency", update_frequency or defaults.update_frequency, 16
            ),
            "created_at": now,
            "updated_at": now,
        }
        if await self._insert_new(datasets, row):
            return True
        if description:
            async with self._write() as conn:
                await conn.execute(
                    sa.update(datasets)
                    .where(datasets.c.id == row["id"], datasets.c.description != description)
                    .values(description=description, updated_at=now)
                )
        return False

    async def get_dataset(self, dataset_id: DatasetId | str) -> DatasetRecord | None:
        query = sa.select(datasets).where(datasets.c.id == str(dataset_id))
        return await self._one(DatasetRecord, query)

    async def list_datasets(
        self,
        kind: DatasetKind | None = None,
        symbol: str | None = None,
        interval: str | None = None,
    ) -> list[DatasetRecord]:
        query = sa.select(datasets).order_by(datasets.c.id)
        if kind is not None:
            query = query.where(datasets.c.kind == kind.value)
        if symbol is not None:
            query = query.where(datasets.c.symbol == symbol.upper())
        if interval is not None:
            query = query.where(datasets.c.interval == interval)
        return await self._all(DatasetRecord, query)

    async def add_lineage(
        self,
        dataset_id: DatasetId | str,
        *,
        source: str,
        process: str,
        job_id: str | None = None,
        start: int | None = None,
        end: int | None = None,
        record_count: int | None = None,
        details: JsonObject | None = None,
    ) -> int:
        """Record that ``dataset_id`` was produced from ``source``; returns the record id."""
        check_text("source", source, 128)
        check_text("process", process, 64)
        row = {
            "dataset_id": str(dataset_id),
            "source": source,
            "process": process,
            "job_id": job_id,
            "range_start": start,
            "range_end": end,
            "record_count": record_count,
            "details": details,
            "created_at": self._clock(),
        }
        async with self._write() as conn:
            result = await conn.execute(sa.insert(lineage_records).values(row))
        return inserted_id(result)

    async def lineage_for(self, dataset_id: DatasetId | str) -> list[LineageRecord]:
        """Where ``dataset_id`` came from (upstream), oldest first."""
        query = sa.select(lineage_records).where(lineage_records.c.dataset_id == str(dataset_id))
        return await self._all(LineageRecord, query.order_by(lineage_records.c.id))

    async def lineage_from(self, source: DatasetId | str) -> list[LineageRecord]:
        """What was produced from ``source`` (downstream), oldest first."""
        query = sa.select(lineage_records).where(lineage_records.c.source == str(source))
        return await self._all(LineageRecord, query.order_by(lineage_records.c.id))
