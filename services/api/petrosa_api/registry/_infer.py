"""A schema that accepts the given records, for SCHEMA_AUTO_REGISTER: the types each field
holds, the fields every record has as required, the content model left open."""

from __future__ import annotations

from typing import Any

from petrosa_api.registry._documents import DRAFT_07

# Nested records deeper than this are described as "any value" rather than walked.
MAX_INFER_DEPTH = 16


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _describe(values: list[Any], depth: int) -> dict[str, Any]:
    if depth >= MAX_INFER_DEPTH or not values:
        return {}
    types = {_type_of(v) for v in values}
    if "number" in types:
        types.discard("integer")  # a field holding 1 and 1.5 is a number
    schema: dict[str, Any] = {"type": sorted(types) if len(types) > 1 else types.pop()}
    objects = [v for v in values if isinstance(v, dict)]
    if objects:
        schema.update(_object(objects, depth))
    elements = [e for v in values if isinstance(v, list) for e in v]
    if elements:
        schema["items"] = _describe(elements, depth + 1)
    return schema


def _object(objects: list[dict[str, Any]], depth: int) -> dict[str, Any]:
    names = sorted({k for o in objects for k in o})
    return {
        "properties": {n: _describe([o[n] for o in objects if n in o], depth + 1) for n in names},
        "required": [n for n in names if all(n in o for o in objects)],
    }


def infer_schema(records: list[Any]) -> dict[str, Any]:
    """A draft-07 schema every one of ``records`` satisfies."""
    return {"$schema": DRAFT_07, **_describe(records, 0)}
