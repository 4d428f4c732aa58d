"""The JSON Schema registry's rows: versions per (store, name), their status and modes.

Versions are final: a document is never rewritten and a version never erased. A version
number is claimed by inserting it; two writers racing for the same number cannot both win.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa

from petrosa_core.errors import ValidationError
from petrosa_core.metadata._base import SqlBase, check_text
from petrosa_core.metadata._catalog import check_schema
from petrosa_core.metadata._records import JsonObject, SchemaRecord
from petrosa_core.metadata._tables import schema_subjects, schemas

SCHEMA_STORES = ("mongodb", "mysql")
SCHEMA_STATUSES = ("active", "deprecated")
MAX_DESCRIPTION = 1024


def canonical(document: Any) -> Any:
    """``document`` with integral floats as ints: ``1.0`` and ``1`` are one JSON number."""
    if isinstance(document, dict):
        return {k: canonical(v) for k, v in document.items()}
    if isinstance(document, list):
        return [canonical(v) for v in document]
    if isinstance(document, float) and document.is_integer() and abs(document) < 2**53:
        return int(document)
    return document


def fingerprint(document: Any) -> str:
    """sha256 of the canonical JSON text: equal for documents that mean the same bytes."""
    text = json.dumps(canonical(document), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_store(store: str) -> None:
    if store not in SCHEMA_STORES:
        raise ValidationError("bad_schema_store", f"{store!r} is not one of {SCHEMA_STORES}")


def _check_status(status: str) -> None:
    if status not in SCHEMA_STATUSES:
        raise ValidationError("bad_schema_status", f"{status!r} is not one of {SCHEMA_STATUSES}")


def _check_description(description: str) -> None:
    if len(description) > MAX_DESCRIPTION:
        raise ValidationError(
            "bad_description", f"description must be at most {MAX_DESCRIPTION} characters"
        )


class SchemaOps(SqlBase):
    async def add_schema_version(
        self,
        store: str,
        name: str,
        version: int,
        document: JsonObject,
        *,
        description: str = "",
        describes: str | None = None,
    ) -> SchemaRecord | None:
        """Insert ``version``; None when another writer holds that number already.

        Callers pick ``version`` as one past the history they checked the document against,
        so a None means the history moved on: read it again and decide again.
        """
        _check_store(store)
        check_text("schema_name", name, 128)
        _check_description(description)
        if describes is not None:
            check_text("describes", describes, 96)
        if version < 1:
            raise ValidationError("bad_schema_version", "versions start at 1")
        check_schema(document)
        now = self._clock()
        row: dict[str, Any] = {
            "store": store, "name": name, "version": version, "document": document,
            "fingerprint": fingerprint(document), "description": description,
            "status": "active", "describes": describes, "created_at": now, "updated_at": now,
        }  # fmt: skip
        if not await self._insert_new(schemas, row):
            return None
        return SchemaRecord(**row)

    async def register_schema(
        self, name: str, version: int, schema: JsonObject, *, store: str = "mongodb"
    ) -> bool:
        """Store a draft-07 schema; True if new, False if this exact document is already there.

        A different document under an existing (name, version) is refused: versions are final.
        """
        if await self.add_schema_version(store, name, version, schema, describes=name):
            return True
        existing = await self.get_schema(name, version, store=store)
        if existing is None or existing.fingerprint != fingerprint(schema):
            raise ValidationError("schema_version_exists", f"{name} v{version} differs")
        return False

    async def get_schema(
        self, name: str, version: int | None = None, *, store: str = "mongodb"
    ) -> SchemaRecord | None:
        """One version of a schema, or its latest when ``version`` is None."""
        query = sa.select(schemas).where(schemas.c.store == store, schemas.c.name == name)
        if version is not None:
            query = query.where(schemas.c.version == version)
        return await self._one(SchemaRecord, query.order_by(schemas.c.version.desc()))

    async def schema_versions(self, store: str, name: str) -> list[SchemaRecord]:
        """Every version of one name, oldest first."""
        query = sa.select(schemas).where(schemas.c.store == store, schemas.c.name == name)
        return await self._all(SchemaRecord, query.order_by(schemas.c.version))

    async def list_schemas(self, store: str | None = None) -> list[SchemaRecord]:
        """Every version of every schema (of one store), by store, name and version."""
        query = sa.select(schemas).order_by(schemas.c.store, schemas.c.name, schemas.c.version)
        if store is not None:
            query = query.where(schemas.c.store == store)
        return await self._all(SchemaRecord, query)

    async def schemas_describing(self, names: list[str]) -> list[SchemaRecord]:
        """Versions that say they describe one of ``names`` (dataset ids or kinds)."""
        query = sa.select(schemas).where(schemas.c.describes.in_(names))
        order = (schemas.c.store, schemas.c.name, schemas.c.version)
        return await self._all(SchemaRecord, query.order_by(*order))

    async def update_schema_version(
        self,
        store: str,
        name: str,
        version: int,
        *,
        description: str | None = None,
        status: str | None = None,
    ) -> SchemaRecord | None:
        """Change what may change of a version (its description and status); None if absent."""
        values: dict[str, Any] = {}
        if description is not None:
            _check_description(description)
            values["description"] = description
        if status is not None:
            _check_status(status)
            values["status"] = status
        key = (schemas.c.store == store, schemas.c.name == name, schemas.c.version == version)
        if values:
            async with self._write() as conn:
                await conn.execute(
                    sa.update(schemas).where(*key).values(updated_at=self._clock(), **values)
                )
        return await self._one(SchemaRecord, sa.select(schemas).where(*key))

    async def schema_mode(self, store: str, name: str) -> str | None:
        """The compatibility mode set for one name, or None when it follows the default."""
        c = schema_subjects.c
        query = sa.select(c.compatibility).where(c.store == store, c.name == name)
        async with self._read() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def set_schema_mode(self, store: str, name: str, mode: str) -> None:
        _check_store(store)
        check_text("schema_name", name, 128)
        check_text("compatibility", mode, 32)
        row = {"store": store, "name": name, "compatibility": mode, "updated_at": self._clock()}
        if await self._insert_new(schema_subjects, row):
            return
        c = schema_subjects.c
        async with self._write() as conn:
            await conn.execute(
                sa.update(schema_subjects)
                .where(c.store == store, c.name == name)
                .values(compatibility=mode, updated_at=row["updated_at"])
            )
