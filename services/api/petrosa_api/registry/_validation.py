"""Records against one schema version: fastjsonschema decides, jsonschema-rs explains.

fastjsonschema's compiled function is the fast path and the verdict; it stops at the first
error, so an invalid record is walked again by jsonschema-rs to list every error with its
JSON pointer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import fastjsonschema
import jsonschema_rs
import msgspec

# What a schema can make fastjsonschema's generator trip over; check_schema refused these at
# registration, so here they mean a stored document this version of the library rejects.
_COMPILE_ERRORS = (
    fastjsonschema.JsonSchemaDefinitionException,
    re.error,
    AttributeError,
    TypeError,
    ValueError,
    KeyError,
)
# A record may hold many errors (a 10,000-element array of wrong types): the first ones tell
# the story, and the answer stays small.
MAX_ERRORS_PER_RECORD = 50


class RecordError(msgspec.Struct, frozen=True):
    """One reason a record is invalid: where in the record, what, and which schema keyword."""

    pointer: str
    message: str
    keyword: str
    schema_pointer: str


class RecordErrors(msgspec.Struct, frozen=True):
    """The errors of the record at ``index`` of the batch."""

    index: int
    errors: list[RecordError]


def pointer(path: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer of a path: ``~`` and ``/`` in names are escaped."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _refuse_remote(uri: str) -> Any:
    raise fastjsonschema.JsonSchemaDefinitionException(f"{uri}: remote $ref is not allowed")


_NO_REMOTE = dict.fromkeys(("", "http", "https", "ftp", "file", "data"), _refuse_remote)


class _NoRetrieval:
    """jsonschema-rs asks it for any URI outside the document; it never fetches."""

    def __call__(self, uri: str) -> Any:
        raise ValueError(f"{uri}: remote $ref is not allowed")


class CompiledSchema:
    """One schema version, compiled once: ``check`` is the verdict, ``errors`` the reasons."""

    __slots__ = ("_explainer", "check", "fingerprint")

    def __init__(self, document: dict[str, Any], fingerprint: str) -> None:
        self.fingerprint = fingerprint
        self.check: Callable[[Any], Any] = fastjsonschema.compile(document, handlers=_NO_REMOTE)
        self._explainer: jsonschema_rs.Validator | None = None

    def errors(
        self, record: Any, first: fastjsonschema.JsonSchemaValueException
    ) -> list[RecordError]:
        """Every error of an invalid ``record`` (at most ``MAX_ERRORS_PER_RECORD``)."""
        found: list[RecordError] = []
        for error in self._explain(record):
            found.append(
                RecordError(
                    pointer(error.instance_path),
                    error.message,
                    str(error.schema_path[-1]) if error.schema_path else "",
                    pointer(error.schema_path),
                )
            )
            if len(found) == MAX_ERRORS_PER_RECORD:
                break
        # The two libraries agree on draft-07; should they not, fastjsonschema's verdict stands.
        return found or [_from_fastjsonschema(first)]

    def _explain(self, record: Any) -> Iterable[jsonschema_rs.ValidationError]:
        if self._explainer is None:
            return []
        return self._explainer.iter_errors(record)

    def with_explainer(self, document: dict[str, Any]) -> CompiledSchema:
        self._explainer = jsonschema_rs.Draft7Validator(
            document, retriever=_NoRetrieval(), validate_formats=True
        )
        return self


def _from_fastjsonschema(error: fastjsonschema.JsonSchemaValueException) -> RecordError:
    path = list(error.path or [])
    path = path[1:] if path[:1] == ["data"] else path  # fastjsonschema names the root "data"
    return RecordError(pointer(path), error.message, str(error.rule or ""), "")


def compile_schema(document: dict[str, Any], fingerprint: str) -> CompiledSchema:
    """The compiled pair for ``document``; ``ValueError`` if it cannot be compiled."""
    try:
        return CompiledSchema(document, fingerprint).with_explainer(document)
    except _COMPILE_ERRORS as exc:
        raise ValueError(str(exc)) from exc


def validate_all(compiled: CompiledSchema, records: list[Any]) -> list[RecordErrors]:
    """One entry per invalid record, in batch order; an empty list when all are valid."""
    check = compiled.check
    invalid: list[RecordErrors] = []
    for index, record in enumerate(records):
        try:
            check(record)
        except fastjsonschema.JsonSchemaValueException as first:
            invalid.append(RecordErrors(index, compiled.errors(record, first)))
    return invalid
