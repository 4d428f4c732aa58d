"""A candidate schema against the versions before it, under one compatibility mode."""

from __future__ import annotations

from typing import Any

from petrosa_api.registry._compat import breaking_changes
from petrosa_api.registry.modes import CompatibilityMode
from petrosa_core.metadata import SchemaRecord

# Breaking changes listed in one answer; the first ones say what to fix.
MAX_CHANGES = 100


def compared_with(mode: CompatibilityMode, history: list[SchemaRecord]) -> list[SchemaRecord]:
    """The versions a new one must be compatible with: the active ones, or the latest."""
    if mode is CompatibilityMode.NONE:
        return []
    active = [v for v in history if v.status == "active"]
    return active if mode.transitive else active[-1:]


def pair_changes(
    mode: CompatibilityMode, new: dict[str, Any], old: dict[str, Any], old_version: int | None
) -> list[dict[str, Any]]:
    """The breaking changes of ``new`` against ``old``; pointers are into ``new``."""
    found: list[dict[str, Any]] = []
    if mode.backward:
        for change in breaking_changes(new, old):
            found.append(
                _entry("BACKWARD", change.reader, change.writer, change.message, old_version)
            )
    if mode.forward:
        for change in breaking_changes(old, new):
            found.append(
                _entry("FORWARD", change.writer, change.reader, change.message, old_version)
            )
    return found


def _entry(
    direction: str, new_ptr: str, old_ptr: str, message: str, old_version: int | None
) -> dict[str, Any]:
    against = f"version {old_version}" if old_version is not None else "the old schema"
    new = "the new schema"
    reader, writer = (new, against) if direction == "BACKWARD" else (against, new)
    return {
        "direction": direction,
        "version": old_version,
        "pointer": new_ptr,
        "old_pointer": old_ptr,
        "message": f"{direction} against {against} ({reader} must read data written under "
        f"{writer}): {message}",
    }


def history_changes(
    mode: CompatibilityMode, document: dict[str, Any], history: list[SchemaRecord]
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for old in reversed(compared_with(mode, history)):
        found += pair_changes(mode, document, old.document, old.version)
        if len(found) >= MAX_CHANGES:
            break
    return found[:MAX_CHANGES]
