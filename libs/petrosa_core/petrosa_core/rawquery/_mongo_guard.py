"""Raw MongoDB reads are admitted by their shape: a stage allow-list and operators refused anywhere.

``$where``, ``$function`` and ``$accumulator`` run JavaScript; ``$out`` and ``$merge`` write;
a ``$lookup``, ``$graphLookup`` or ``$unionWith`` naming another database reads outside the
store. Any of them anywhere in the request, at any depth, refuses the whole request.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from petrosa_core.errors import ValidationError

Operation = Literal["find", "aggregate", "count", "distinct"]

MAX_REGEX_CHARS = 256
_FORBIDDEN = frozenset({"$where", "$function", "$accumulator", "$out", "$merge", "$eval"})
_STAGES = frozenset(
    {
        "$match", "$project", "$addFields", "$set", "$unset", "$group", "$sort", "$limit",
        "$skip", "$count", "$unwind", "$lookup", "$bucket", "$bucketAuto", "$facet",
        "$sortByCount", "$replaceRoot", "$replaceWith", "$sample", "$graphLookup",
        "$unionWith",
    }
)  # fmt: skip
_FOREIGN = {"$lookup": "from", "$graphLookup": "from", "$unionWith": "coll"}
COLLECTION_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,119}")


@dataclass(frozen=True)
class MongoRead:
    """One admitted read: which collection, which operation, and its arguments."""

    collection: str
    operation: Operation
    filter: dict[str, Any] = field(default_factory=dict)
    pipeline: list[dict[str, Any]] = field(default_factory=list)
    projection: dict[str, Any] | None = None
    sort: list[tuple[str, int]] = field(default_factory=list)
    skip: int = 0
    field_name: str = ""


def refused(why: str) -> ValidationError:
    return ValidationError("query_refused", why)


def check_collection(name: object) -> str:
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        raise refused(
            "collection must be a name of letters, digits and _ starting with a letter "
            "(no dots, so no system collections)"
        )
    return name


def check_document(value: Any, where: str) -> None:
    """Refuse forbidden operators and over-long patterns anywhere inside ``value``."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_key(str(key), child, where)
                stack.append(child)


def _check_key(key: str, child: Any, where: str) -> None:
    if key in _FORBIDDEN:
        raise refused(f"{key} is refused in {where}: it runs code or writes")
    if key == "$regex" and isinstance(child, str) and len(child) > MAX_REGEX_CHARS:
        raise refused(f"a $regex pattern is longer than {MAX_REGEX_CHARS} characters")
    if key in _FOREIGN:
        _check_foreign(key, child)


def _check_foreign(stage: str, spec: Any) -> None:
    """A stage reading another collection may name one of this database, never another's."""
    if isinstance(spec, str):
        check_collection(spec)
        return
    if not isinstance(spec, dict):
        raise refused(f"{stage} takes an object")
    if "db" in spec:
        raise refused(f"{stage} may not read another database")
    target = spec.get(_FOREIGN[stage])
    if target is not None or stage != "$unionWith":
        check_collection(target)
    if "pipeline" in spec:
        check_pipeline(spec["pipeline"])


def check_pipeline(pipeline: Any) -> list[dict[str, Any]]:
    if not isinstance(pipeline, list):
        raise refused("aggregate takes a list of stages")
    for position, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise refused(f"stage {position} must be an object with one key")
        name = next(iter(stage))
        if name not in _STAGES:
            raise refused(f"stage {position} ({name}) is not on the allow-list")
        if name == "$facet" and isinstance(stage[name], dict):
            for sub in stage[name].values():
                check_pipeline(sub)
    check_document(pipeline, "the pipeline")
    return pipeline


_OPERATIONS: tuple[Operation, ...] = ("find", "aggregate", "count", "distinct")


def parse_request(body: dict[str, Any]) -> MongoRead:
    """The read a request asks for, in the structured form or the original's string form."""
    if isinstance(body.get("query"), str):
        body = _from_string(body["query"])
    collection = check_collection(body.get("collection"))
    named = [op for op in _OPERATIONS if op in body]
    if len(named) != 1:
        raise refused("name exactly one of find, aggregate, count or distinct")
    operation = named[0]
    if operation == "aggregate":
        return MongoRead(collection, operation, pipeline=check_pipeline(body["aggregate"]))
    if operation == "distinct":
        name = body["distinct"]
        if not isinstance(name, str) or not name or name.startswith("$"):
            raise refused("distinct takes a field name")
        return MongoRead(collection, operation, _filter(body.get("filter")), field_name=name)
    filter_ = _filter(body[operation])
    if operation == "count":
        return MongoRead(collection, operation, filter_)
    return _find(collection, filter_, body)


def _from_string(query: str) -> dict[str, Any]:
    """The original's forms: a JSON object, or ``collection: {json}``."""
    try:
        value = json.loads(query)
    except ValueError:
        collection, sep, rest = query.partition(":")
        if not sep:
            raise refused("the query is neither JSON nor collection: {json}") from None
        try:
            value = json.loads(rest)
        except ValueError:
            raise refused("the query after collection: is not JSON") from None
        if isinstance(value, dict):
            value["collection"] = collection.strip()
    if not isinstance(value, dict):
        raise refused("the query must be a JSON object")
    return value


def _filter(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise refused("a filter is an object")
    check_document(value, "the filter")
    return value


def _find(collection: str, filter_: dict[str, Any], body: dict[str, Any]) -> MongoRead:
    projection = body.get("projection")
    if projection is not None:
        if not isinstance(projection, dict):
            raise refused("projection is an object")
        check_document(projection, "the projection")
    sort = body.get("sort") or {}
    if not isinstance(sort, dict) or any(v not in (1, -1) for v in sort.values()):
        raise refused("sort is an object of field: 1 or -1")
    skip = body.get("skip", 0)
    if not isinstance(skip, int) or skip < 0:
        raise refused("skip is a non-negative integer")
    return MongoRead(
        collection, "find", filter_, projection=projection,
        sort=[(str(k), int(v)) for k, v in sort.items()], skip=skip,
    )  # fmt: skip
