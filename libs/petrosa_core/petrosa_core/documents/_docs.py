"""What every document backend shares: queries, pages, ETags, updates and their errors."""

from __future__ import annotations

import base64
import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from petrosa_core.documents._filters import All, Node, Projection, bad
from petrosa_core.errors import ValidationError

MAX_ID_CHARS = 128
# Documents one update may touch: each is read, changed and written back in one transaction.
MAX_UPDATE_MATCHES = 10_000
_ENCODER = msgspec.json.Encoder(order="sorted")


class PreconditionFailed(ValidationError):
    """If-Match named a version that is no longer the document's (HTTP 412)."""


class DuplicateId(ValidationError):
    """An insert reused an ``_id`` the collection holds (HTTP 409)."""


@dataclass(frozen=True)
class FindQuery:
    """A read: filter tree, sort, projection and one page (offset or cursor)."""

    filter: Node = field(default_factory=lambda: All(()))
    sort: list[tuple[str, int]] = field(default_factory=list)
    projection: Projection | None = None
    limit: int = 100
    offset: int = 0
    cursor: str | None = None

    def id_order(self) -> int:
        """1 or -1 when pages run in ``_id`` order (cursors need it), else 0."""
        if not self.sort:
            return 1
        if len(self.sort) == 1 and self.sort[0][0] == "_id":
            return self.sort[0][1]
        return 0


@dataclass(frozen=True)
class FoundPage:
    docs: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(frozen=True)
class Operation:
    """One step of a batch: insert ``docs``, update with ``filter``/``fields``, or delete."""

    kind: Literal["insert", "update", "delete"]
    docs: list[dict[str, Any]] = field(default_factory=list)
    filter: Node = field(default_factory=lambda: All(()))
    fields: dict[str, Any] = field(default_factory=dict)


def etag(doc: dict[str, Any]) -> str:
    """A strong ETag of a document's content: equal documents, equal tags."""
    return '"' + hashlib.sha256(_ENCODER.encode(doc)).hexdigest()[:24] + '"'


def new_id() -> str:
    return uuid.uuid4().hex


def check_id(value: Any) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise ValidationError("bad_id", f"_id must be a string of 1..{MAX_ID_CHARS} characters")
    return value


def with_ids(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documents, each with its ``_id`` (a new one where none was given)."""
    out = []
    for doc in docs:
        given = doc.get("_id")
        out.append({**doc, "_id": new_id() if given is None else check_id(given)})
    ids = [d["_id"] for d in out]
    if len(set(ids)) != len(ids):
        raise DuplicateId("duplicate_id", "the batch repeats an _id")
    return out


def check_fields(fields: dict[str, Any]) -> None:
    if not fields:
        raise bad("data names at least one field to set")
    if any(name == "_id" or name.startswith("_id.") for name in fields):
        raise ValidationError("bad_update", "_id cannot be changed")


def set_fields(doc: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with each (possibly dotted) field set, as MongoDB's ``$set``."""
    out = msgspec.json.decode(msgspec.json.encode(doc))
    for path, value in fields.items():
        *parents, last = path.split(".")
        target = out
        for part in parents:
            child = target.get(part)
            if not isinstance(child, dict):
                child = target[part] = {}
            target = child
        target[last] = value
    return dict(out)


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([value])).decode().rstrip("=")


def decode_cursor(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        (value,) = msgspec.json.decode(base64.urlsafe_b64decode(padded))
    except (ValueError, TypeError, msgspec.DecodeError):
        raise ValidationError("bad_cursor", "the cursor is not one this API issued") from None
    return value
