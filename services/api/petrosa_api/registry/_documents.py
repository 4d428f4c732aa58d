"""What makes a document acceptable as a schema: the draft-07 meta-schema, a compilable
body, references inside the document only, and in strict mode draft-07 keywords only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs

from petrosa_api.registry._errors import SchemaRejected
from petrosa_api.registry._schema_nodes import escape
from petrosa_api.registry._validation import pointer
from petrosa_core.errors import ValidationError
from petrosa_core.metadata import check_schema

DRAFT_07 = "http://json-schema.org/draft-07/schema#"
# Every keyword draft-07 defines (validation, annotation, core); strict mode refuses others.
KEYWORDS = frozenset(
    {
        "$schema", "$id", "$ref", "$comment", "title", "description", "default", "readOnly",
        "writeOnly", "examples", "definitions", "type", "enum", "const", "multipleOf",
        "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
        "pattern", "format", "items", "additionalItems", "maxItems", "minItems", "uniqueItems",
        "contains", "maxProperties", "minProperties", "required", "properties",
        "patternProperties", "additionalProperties", "dependencies", "propertyNames", "if",
        "then", "else", "allOf", "anyOf", "oneOf", "not", "contentMediaType",
        "contentEncoding",
    }
)  # fmt: skip
_ONE_SCHEMA = ("additionalItems", "contains", "additionalProperties", "propertyNames", "if",
               "then", "else", "not")  # fmt: skip
_SCHEMA_MAPS = ("definitions", "properties", "patternProperties", "dependencies")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")


def check_document(document: Any, *, strict: bool, formats: frozenset[str]) -> None:
    """Raise ``SchemaRejected`` (422) saying why ``document`` cannot be registered."""
    if not isinstance(document, dict):
        raise SchemaRejected("a schema must be a JSON object")
    declared = document.get("$schema", DRAFT_07)
    if not isinstance(declared, str) or declared.rstrip("#") != DRAFT_07.rstrip("#"):
        raise SchemaRejected(f"{str(declared)[:80]!r} is not draft-07", "/$schema")
    try:
        jsonschema_rs.meta.validate({**document, "$schema": DRAFT_07})
    except jsonschema_rs.ValidationError as exc:
        where = pointer(exc.instance_path)
        raise SchemaRejected(
            f"the draft-07 meta-schema refuses it at {where or '/'}: {exc.message}", where
        ) from None
    try:
        check_schema(document)
    except ValidationError as exc:
        raise SchemaRejected(exc.detail or exc.reason) from None
    if strict:
        for where, problem in _unknown(document, "", formats):
            raise SchemaRejected(f"strict mode (SCHEMA_STRICT_MODE): {problem}", where)


def subschemas(schema: Any, where: str) -> Iterator[tuple[Any, str]]:
    """Each schema directly inside ``schema``, with its pointer."""
    if not isinstance(schema, dict):
        return
    for key in _ONE_SCHEMA:
        if key in schema:
            yield schema[key], f"{where}/{key}"
    for key in _SCHEMA_MAPS:
        named = schema.get(key) or {}
        # dependencies may list property names instead of holding a schema
        yield from (
            (v, f"{where}/{key}/{escape(n)}") for n, v in named.items() if not isinstance(v, list)
        )
    for key in _SCHEMA_LISTS:
        yield from ((v, f"{where}/{key}/{i}") for i, v in enumerate(schema.get(key) or []))
    items = schema.get("items")
    if isinstance(items, list):
        yield from ((v, f"{where}/items/{i}") for i, v in enumerate(items))
    elif items is not None:
        yield items, f"{where}/items"


def _unknown(schema: Any, where: str, formats: frozenset[str]) -> Iterator[tuple[str, str]]:
    if not isinstance(schema, dict):
        return
    for key in schema.keys() - KEYWORDS:
        yield f"{where}/{escape(key)}", f"{key!r} is not a draft-07 keyword"
    if "format" in schema and schema["format"] not in formats:
        yield f"{where}/format", f"format {schema['format']!r} is not one this registry checks"
    for sub, at in subschemas(schema, where):
        yield from _unknown(sub, at, formats)
