"""The schema registry: versions in the metadata store, compiled validators in memory.

Every replica reads the same ``schemas`` table; a version number is claimed by inserting
it, so two replicas registering at once get consecutive versions, never the same one.
A replica's cached "latest version" of a name may lag another replica's registration by
up to SCHEMA_CACHE_TTL seconds; a version's document never changes, so a cached compiled
validator is never wrong.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from petrosa_api.errors import ApiError
from petrosa_api.registry._cache import ExpiringCache
from petrosa_api.registry._compat_keywords import CHECKED_FORMATS
from petrosa_api.registry._documents import check_document
from petrosa_api.registry._errors import (
    IncompatibleSchema,
    SchemaRejected,
    UnknownSchema,
    VersionLimit,
    check_database,
)
from petrosa_api.registry._history import history_changes
from petrosa_api.registry._infer import infer_schema
from petrosa_api.registry._validation import (
    CompiledSchema,
    RecordErrors,
    compile_schema,
    validate_all,
)
from petrosa_api.registry.modes import CompatibilityMode
from petrosa_core.metadata import MetadataStore, SchemaRecord, fingerprint

# Compiled versions held at once; a compiled schema is a few KiB of generated code.
MAX_COMPILED = 1024
# Registrations of one name racing on other replicas: each lost race re-reads the history
# and decides again; this many losses in a row is a registration storm, answered 503.
MAX_CLAIM_ATTEMPTS = 50
# Records validated between two turns of the event loop (about 20 ms of candles).
YIELD_EVERY = 1000
# Names travel in URL paths: letters, digits and . _ - only.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class RegistryOptions:
    """The SCHEMA_* settings the registry follows."""

    compatibility: CompatibilityMode = CompatibilityMode.BACKWARD
    validation_enabled: bool = True
    strict: bool = False
    auto_register: bool = False
    max_versions: int = 100
    cache_ttl: float = 300.0


@dataclass(frozen=True)
class Compiled:
    record: SchemaRecord
    schema: CompiledSchema


@dataclass(frozen=True)
class Registration:
    record: SchemaRecord
    created: bool
    mode: CompatibilityMode


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise ApiError(
            400,
            "bad_schema_name",
            f"{name[:40]!r}: a schema name is 1..128 "
            "letters, digits, '.', '_' or '-', starting with a letter or digit",
        )


class SchemaRegistry:
    """Registers, finds and validates against versioned draft-07 schemas."""

    def __init__(
        self,
        metadata: MetadataStore,
        options: RegistryOptions,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.metadata = metadata
        self.options = options
        self.validators: ExpiringCache[Compiled] = ExpiringCache(
            options.cache_ttl, MAX_COMPILED, clock
        )
        # Which version is the latest of a name, as of ``cache_ttl`` seconds ago at most.
        self._latest: ExpiringCache[int] = ExpiringCache(options.cache_ttl, MAX_COMPILED, clock)

    # Validation

    async def validate(
        self,
        database: str,
        name: str,
        records: list[Any],
        version: int | None = None,
        *,
        may_register: bool = True,
    ) -> list[RecordErrors]:
        """One entry per invalid record (its index and every error); [] when all are valid.

        ``version`` None means the latest active version. Raises ``UnknownSchema`` for a
        name or version nobody registered (unless SCHEMA_AUTO_REGISTER registers one
        inferred from ``records``, when ``may_register``: the caller may write); with
        SCHEMA_VALIDATION_ENABLED off nothing is checked.
        """
        # The hot path, inlined: one cache lookup, then the compiled function per record.
        compiled = self.validators.get((database, name, version))
        if compiled is None:
            compiled = await self._compiled_or_registered(
                database, name, records, version, may_register
            )
        if not self.options.validation_enabled:
            return []
        if len(records) <= YIELD_EVERY:
            return validate_all(compiled.schema, records)
        return await self._validate_long(compiled, records)

    async def _validate_long(self, compiled: Compiled, records: list[Any]) -> list[RecordErrors]:
        """A large batch in slices, letting other requests run between them."""
        invalid: list[RecordErrors] = []
        for start in range(0, len(records), YIELD_EVERY):
            found = validate_all(compiled.schema, records[start : start + YIELD_EVERY])
            invalid += [RecordErrors(start + e.index, e.errors) for e in found]
            await asyncio.sleep(0)
        return invalid

    async def check(
        self,
        database: str,
        name: str,
        records: list[Any],
        version: int | None = None,
        may_register: bool = True,
    ) -> tuple[SchemaRecord, list[RecordErrors]]:
        """``validate``, with the version the records were checked against."""
        compiled = self.validators.get((database, name, version))  # the hot path: one lookup
        if compiled is None:
            compiled = await self._compiled_or_registered(
                database, name, records, version, may_register
            )
        if not self.options.validation_enabled:
            return compiled.record, []
        return compiled.record, validate_all(compiled.schema, records)

    async def _compiled_or_registered(
        self, database: str, name: str, records: list[Any], version: int | None, may: bool
    ) -> Compiled:
        try:
            return await self._load(database, name, version)
        except UnknownSchema:
            if not (self.options.auto_register and may and version is None and records):
                raise
            inferred = infer_schema(records)
            note = "registered from records (SCHEMA_AUTO_REGISTER)"
            await self.register(database, name, inferred, description=note)
            return await self._load(database, name, None)

    async def compiled(self, database: str, name: str, version: int | None = None) -> Compiled:
        """The compiled validator of one version (the latest active when None), cached.

        Under ``(database, name, None)`` the latest is cached too, for SCHEMA_CACHE_TTL.
        """
        hit = self.validators.get((database, name, version))
        return hit if hit is not None else await self._load(database, name, version)

    async def _load(self, database: str, name: str, version: int | None) -> Compiled:
        check_database(database)
        if version is None:
            number = await self.latest_version(database, name)
            latest = self.validators.peek((database, name, number))
            if latest is None:
                latest = await self._load(database, name, number)
            self.validators.put((database, name, None), latest)
            return latest
        record = await self.metadata.get_schema(name, version, store=database)
        if record is None:
            raise UnknownSchema(database, name, version)
        try:
            schema = compile_schema(record.document, record.fingerprint)
        except ValueError as exc:
            raise SchemaRejected(f"{database}/{name} v{version} does not compile: {exc}") from exc
        self.validators.stats.compilations += 1
        found = Compiled(record, schema)
        self.validators.put((database, name, version), found)
        return found

    async def latest_version(self, database: str, name: str) -> int:
        """The newest active version of ``name`` (the newest when all are deprecated)."""
        key = (database, name)
        cached = self._latest.get(key)
        if cached is not None:
            return cached
        latest = current(await self.versions(database, name)).version
        self._latest.put(key, latest)
        return latest

    # Reads

    async def versions(self, database: str, name: str) -> list[SchemaRecord]:
        """Every version of ``name``, oldest first; ``UnknownSchema`` when there is none."""
        check_database(database)
        found = await self.metadata.schema_versions(database, name)
        if not found:
            raise UnknownSchema(database, name)
        return found

    async def version(self, database: str, name: str, version: int | None) -> SchemaRecord:
        """One version, or the current one (newest active) when ``version`` is None."""
        check_database(database)
        if version is None:
            return current(await self.versions(database, name))
        record = await self.metadata.get_schema(name, version, store=database)
        if record is None:
            raise UnknownSchema(database, name, version)
        return record

    async def mode_of(self, database: str, name: str) -> CompatibilityMode:
        stored = await self.metadata.schema_mode(database, name)
        return CompatibilityMode(stored) if stored else self.options.compatibility

    # Writes

    async def register(
        self,
        database: str,
        name: str,
        document: Any,
        *,
        description: str = "",
        compatibility: CompatibilityMode | None = None,
        describes: str | None = None,
        check: bool = True,
    ) -> Registration:
        """Register ``document`` as the next version of ``name``, unless it breaks the mode.

        An identical document already registered answers that version (``created`` False).
        ``compatibility`` also becomes the name's own mode. ``check`` False skips the
        compatibility check and reuses only an identical current version (bootstrap's
        overwrite makes the document current).
        """
        check_database(database)
        check_name(name)
        check_document(document, strict=self.options.strict, formats=CHECKED_FORMATS)
        mode = compatibility or await self.mode_of(database, name)
        for _ in range(MAX_CLAIM_ATTEMPTS):
            history = await self.metadata.schema_versions(database, name)
            settled = self._settled(database, name, document, history, mode if check else None)
            if settled is not None:
                return Registration(settled, False, mode)
            if check:
                # CPU-bound and bounded (MAX_PAIRS), but long enough to stall other requests.
                changes = await asyncio.to_thread(history_changes, mode, document, history)
                if changes:
                    raise IncompatibleSchema(mode.value, changes)
            next_version = history[-1].version + 1 if history else 1
            record = await self.metadata.add_schema_version(
                database,
                name,
                next_version,
                document,
                description=description,
                describes=describes,
            )
            if record is not None:
                if compatibility is not None:
                    await self.metadata.set_schema_mode(database, name, compatibility.value)
                self.forget(database, name)
                return Registration(record, True, mode)
            await asyncio.sleep(random.uniform(0.001, 0.02))  # jitter, not secrecy
        raise ApiError(
            503, "registration_contention", f"{name}: too many registrations at once; retry"
        )

    def _settled(
        self,
        database: str,
        name: str,
        document: dict[str, Any],
        history: list[SchemaRecord],
        mode: CompatibilityMode | None,
    ) -> SchemaRecord | None:
        """The existing identical version, or None when the document may be added (the
        version limit allowing)."""
        print_ = fingerprint(document)
        # Unchecked (bootstrap's overwrite) means "make it current": only the current
        # version counts as already holding it.
        candidates = history if mode is not None or not history else [current(history)]
        for existing in candidates:
            if existing.fingerprint == print_:
                return existing
        if len(history) >= self.options.max_versions:
            raise VersionLimit(f"{database}/{name}", self.options.max_versions)
        return None

    async def update(
        self,
        database: str,
        name: str,
        version: int,
        *,
        description: str | None = None,
        status: str | None = None,
    ) -> SchemaRecord:
        """Change a version's description or status (its document never changes)."""
        check_database(database)
        record = await self.metadata.update_schema_version(
            database, name, version, description=description, status=status
        )
        if record is None:
            raise UnknownSchema(database, name, version)
        self.forget(database, name)
        return record

    def forget(self, database: str, name: str) -> None:
        """Drop what this replica remembers of ``name`` after it changed here."""
        self._latest.drop((database, name))
        self.validators.drop((database, name, None))

    def clear(self) -> int:
        """Forget every compiled validator and latest version; returns how many validators."""
        self._latest.clear()
        return self.validators.clear()

    def cache_stats(self) -> dict[str, Any]:
        return {**self.validators.describe(), "latest_versions": self._latest.describe()}


def current(versions: list[SchemaRecord]) -> SchemaRecord:
    """The version readers get by default: the newest active, else the newest."""
    active = [v for v in versions if v.status == "active"]
    return (active or versions)[-1]
