"""What the registry refuses, each an ``ApiError`` with its HTTP status and error code.

ApiError
├── UnknownSchema        404 schema_not_found
├── UnknownDatabase      400 unknown_database
├── SchemaRejected       422 invalid_schema (draft-07 meta-schema, compilation, strict mode)
├── IncompatibleSchema   409 incompatible_schema (breaking_changes, each with its pointer)
└── VersionLimit         409 max_versions_reached (SCHEMA_MAX_VERSIONS)
"""

from __future__ import annotations

from typing import Any

from petrosa_api.errors import ApiError

DATABASES = ("mongodb", "mysql")


class UnknownSchema(ApiError):
    def __init__(self, database: str, name: str, version: int | None = None) -> None:
        which = f"{database}/{name}" + (f" version {version}" if version is not None else "")
        super().__init__(404, "schema_not_found", f"no schema {which} is registered")


class UnknownDatabase(ApiError):
    def __init__(self, database: str) -> None:
        super().__init__(
            400, "unknown_database", f"{database[:40]!r} is not one of {', '.join(DATABASES)}"
        )


class SchemaRejected(ApiError):
    def __init__(self, message: str, pointer: str = "") -> None:
        super().__init__(422, "invalid_schema", message, details={"pointer": pointer})


class IncompatibleSchema(ApiError):
    def __init__(self, mode: str, changes: list[dict[str, Any]]) -> None:
        first = changes[0]["message"] if changes else ""
        super().__init__(
            409,
            "incompatible_schema",
            f"the schema breaks {mode} compatibility ({len(changes)} change(s)): {first}",
            details={"mode": mode, "breaking_changes": changes},
        )


class VersionLimit(ApiError):
    def __init__(self, name: str, limit: int) -> None:
        super().__init__(
            409,
            "max_versions_reached",
            f"{name} already has {limit} versions (SCHEMA_MAX_VERSIONS); register it under a "
            "new name",
        )


def check_database(database: str) -> None:
    if database not in DATABASES:
        raise UnknownDatabase(database)
