"""Registry operations over many versions: compatibility questions, listing, search and
bootstrap."""

from __future__ import annotations

import asyncio
from typing import Any

from petrosa_api.errors import ApiError
from petrosa_api.registry._bootstrap import common_schemas
from petrosa_api.registry._compat_keywords import CHECKED_FORMATS
from petrosa_api.registry._documents import check_document
from petrosa_api.registry._errors import UnknownSchema, check_database
from petrosa_api.registry._history import compared_with, history_changes, pair_changes
from petrosa_api.registry._registry import SchemaRegistry, current
from petrosa_api.registry.modes import CompatibilityMode
from petrosa_core.metadata import SchemaRecord


async def compatibility(
    registry: SchemaRegistry,
    database: str,
    name: str,
    *,
    mode: CompatibilityMode | None,
    schema: Any = None,
    old_version: int | None = None,
    new_version: int | None = None,
) -> dict[str, Any]:
    """Would ``schema`` be accepted under ``name``, or is ``new_version`` compatible with
    ``old_version``? The answer lists every breaking change."""
    history = await registry.versions(database, name)
    used = mode or await registry.mode_of(database, name)
    if schema is not None:
        check_document(schema, strict=registry.options.strict, formats=CHECKED_FORMATS)
        changes = await asyncio.to_thread(history_changes, used, schema, history)
        compared = [v.version for v in compared_with(used, history)]
    else:
        old, new = _pair(history, database, name, old_version, new_version)
        changes = await asyncio.to_thread(
            pair_changes, used, new.document, old.document, old.version
        )
        compared = [old.version] if used is not CompatibilityMode.NONE else []
    return {
        "compatible": not changes,
        "mode": used.value,
        "compared_versions": compared,
        "messages": [c["message"] for c in changes],
        "breaking_changes": changes,
    }


def _pair(
    history: list[SchemaRecord], database: str, name: str, old: int | None, new: int | None
) -> tuple[SchemaRecord, SchemaRecord]:
    if old is None or new is None:
        raise ApiError(400, "bad_compatibility_request", "send either schema, or both "
                       "old_version and new_version")  # fmt: skip
    by_version = {v.version: v for v in history}
    for wanted in (old, new):
        if wanted not in by_version:
            raise UnknownSchema(database, name, wanted)
    return by_version[old], by_version[new]


async def summaries(registry: SchemaRegistry, database: str | None) -> list[dict[str, Any]]:
    """One entry per schema name: its current version, how many versions, its mode."""
    if database is not None:
        check_database(database)
    by_name: dict[tuple[str, str], list[SchemaRecord]] = {}
    for record in await registry.metadata.list_schemas(database):
        by_name.setdefault((record.store, record.name), []).append(record)
    out = []
    for (store, name), versions in by_name.items():
        latest = current(versions)
        out.append({
            "database": store, "name": name, "latest_version": latest.version,
            "versions": [v.version for v in versions], "status": latest.status,
            "description": latest.description, "describes": latest.describes,
            "compatibility": (await registry.mode_of(store, name)).value,
        })  # fmt: skip
    return out


def _mentions(record: SchemaRecord, needle: str) -> list[str]:
    """Where a version mentions ``needle``: its name, description, dataset or a property."""
    found = [
        field
        for field, text in (("name", record.name), ("description", record.description),
                            ("describes", record.describes or ""))
        if needle in text.lower()
    ]  # fmt: skip
    properties = record.document.get("properties")
    if isinstance(properties, dict) and any(needle in p.lower() for p in properties):
        found.append("properties")
    return found


async def search(registry: SchemaRegistry, query: str) -> list[dict[str, Any]]:
    """Names whose current version mentions ``query`` (case-insensitive)."""
    needle = query.lower()
    by_name: dict[tuple[str, str], list[SchemaRecord]] = {}
    for record in await registry.metadata.list_schemas():
        by_name.setdefault((record.store, record.name), []).append(record)
    hits = []
    for (store, name), versions in by_name.items():
        latest = current(versions)
        where = _mentions(latest, needle)
        if where:
            hits.append({"database": store, "name": name, "version": latest.version,
                         "description": latest.description, "matched": where})  # fmt: skip
    return hits


async def bootstrap(registry: SchemaRegistry, overwrite_existing: bool) -> dict[str, Any]:
    """Register the common schemas; existing names are left alone unless overwritten.

    Overwriting registers the common document as a new version of the name (unless the
    current one is identical), without a compatibility check: nothing is ever erased.
    """
    outcome: dict[str, list[dict[str, Any]]] = {"registered": [], "unchanged": [], "skipped": []}
    for common in common_schemas():
        key = {"database": common.database, "name": common.name}
        known = await registry.metadata.schema_versions(common.database, common.name)
        if known and not overwrite_existing:
            outcome["skipped"].append({**key, "version": current(known).version})
            continue
        done = await registry.register(
            common.database, common.name, common.document, description=common.description,
            describes=common.describes, check=not known,
        )  # fmt: skip
        bucket = "registered" if done.created else "unchanged"
        outcome[bucket].append({**key, "version": done.record.version})
    return outcome
