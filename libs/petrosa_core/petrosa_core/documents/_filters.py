"""The filter language of the generic API: MongoDB's, cut down to an allow-list.

A filter is checked once, here, into a small tree every backend translates; MongoDB gets
the checked filter itself. Field names are dotted identifiers, values are scalars (lists of
scalars for ``$in``/``$nin``), and anything else is a ``bad_filter`` naming what was wrong.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any, Literal

from petrosa_core.errors import ValidationError

# The parsed form of a pattern, to refuse the shapes that backtrack exponentially. The
# modules have no type stubs; both ship with CPython.
_regex_parser: Any = importlib.import_module("re._parser")
_regex_constants: Any = importlib.import_module("re._constants")

Scalar = str | int | float | bool | None
Comparison = Literal["$eq", "$gt", "$gte", "$lt", "$lte"]

MAX_REGEX_CHARS = 256
MAX_CLAUSES = 200
MAX_IN_VALUES = 1_000
FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}")
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$not", "$regex")
LOGICAL = ("$and", "$or")


@dataclass(frozen=True)
class Compare:
    path: str
    op: Comparison
    value: Scalar


@dataclass(frozen=True)
class AnyOf:
    path: str
    values: tuple[Scalar, ...]


@dataclass(frozen=True)
class Exists:
    path: str
    present: bool


@dataclass(frozen=True)
class Regex:
    path: str
    pattern: str
    ignore_case: bool


@dataclass(frozen=True)
class Not:
    node: Node


@dataclass(frozen=True)
class All:
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class AnyNode:
    nodes: tuple[Node, ...]


Node = Compare | AnyOf | Exists | Regex | Not | All | AnyNode


def bad(message: str) -> ValidationError:
    return ValidationError("bad_filter", message)


def check_field(name: object) -> str:
    """A dotted identifier such as ``price`` or ``meta.source``; ``_id`` included."""
    if not isinstance(name, str) or not FIELD.fullmatch(name):
        shown = str(name)[:40]
        raise bad(f"field {shown!r} is not a dotted name of letters, digits and _")
    return name


def parse_filter(value: Any) -> Node:
    """The checked tree of a filter object; ``{}`` matches everything."""
    if not isinstance(value, dict):
        raise bad("a filter is a JSON object")
    budget = [MAX_CLAUSES]
    return _document(value, budget)


def _spend(budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise bad(f"the filter has more than {MAX_CLAUSES} clauses")


def _document(value: dict[str, Any], budget: list[int]) -> Node:
    nodes: list[Node] = []
    for key, child in value.items():
        _spend(budget)
        if key in LOGICAL:
            nodes.append(_logical(key, child, budget))
        elif key.startswith("$"):
            raise _unknown(key)
        else:
            nodes.append(_field(check_field(key), child, budget))
    return All(tuple(nodes))


def _unknown(key: str) -> ValidationError:
    allowed = ", ".join((*OPERATORS, *LOGICAL))
    return bad(f"operator {key[:40]} is not allowed; use one of {allowed}")


def _logical(key: str, child: Any, budget: list[int]) -> Node:
    if not isinstance(child, list) or not child or not all(isinstance(c, dict) for c in child):
        raise bad(f"{key} takes a non-empty list of filter objects")
    nodes = tuple(_document(c, budget) for c in child)
    return All(nodes) if key == "$and" else AnyNode(nodes)


def _field(path: str, spec: Any, budget: list[int]) -> Node:
    if not isinstance(spec, dict):
        return Compare(path, "$eq", _scalar(path, spec))
    if not spec or not all(isinstance(k, str) and k.startswith("$") for k in spec):
        raise bad(f"{path}: compare embedded fields with dotted names, e.g. {path}.field")
    if "$options" in spec and "$regex" not in spec:
        raise bad(f"{path}: $options goes with $regex")
    nodes = [_operator(path, op, arg, spec, budget) for op, arg in spec.items() if op != "$options"]
    return All(tuple(nodes))


def _operator(path: str, op: str, arg: Any, spec: dict[str, Any], budget: list[int]) -> Node:
    _spend(budget)
    if op in ("$eq", "$gt", "$gte", "$lt", "$lte"):
        return Compare(path, op, _scalar(path, arg))  # type: ignore[arg-type]
    if op == "$ne":
        return Not(Compare(path, "$eq", _scalar(path, arg)))
    if op in ("$in", "$nin"):
        node = AnyOf(path, _scalars(path, op, arg))
        return node if op == "$in" else Not(node)
    if op == "$exists":
        if not isinstance(arg, bool):
            raise bad(f"{path}: $exists takes true or false")
        return Exists(path, arg)
    if op == "$regex":
        return _regex(path, arg, spec.get("$options", ""))
    if op == "$not":
        if not isinstance(arg, dict) or not arg:
            raise bad(f"{path}: $not takes an object of operators")
        return Not(_field(path, arg, budget))
    raise _unknown(op)


def _scalar(path: str, value: Any) -> Scalar:
    if value is None or isinstance(value, str | bool | int | float):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 1 << 63:
            raise bad(f"{path}: {value} is beyond a 64-bit integer")
        return value
    raise bad(f"{path}: compare with a string, number, boolean or null")


def _scalars(path: str, op: str, value: Any) -> tuple[Scalar, ...]:
    if not isinstance(value, list) or len(value) > MAX_IN_VALUES:
        raise bad(f"{path}: {op} takes a list of at most {MAX_IN_VALUES} values")
    return tuple(_scalar(path, v) for v in value)


def _regex(path: str, pattern: Any, options: Any) -> Regex:
    if not isinstance(pattern, str) or len(pattern) > MAX_REGEX_CHARS:
        raise bad(f"{path}: $regex takes a pattern of at most {MAX_REGEX_CHARS} characters")
    if options not in ("", "i"):
        raise bad(f"{path}: $options may only be 'i'")
    try:
        parsed = _regex_parser.parse(pattern)
    except re.error as exc:
        raise bad(f"{path}: $regex is not a valid pattern: {exc}") from None
    if _explosive(parsed.data, 0):
        raise bad(
            f"{path}: $regex with a repetition or alternation inside a repetition, or a "
            "backreference, "
            "can take exponential time; simplify the pattern"
        )
    return Regex(path, pattern, options == "i")


_REPEATS = (_regex_constants.MAX_REPEAT, _regex_constants.MIN_REPEAT)


def _explosive(items: Any, depth: int) -> bool:
    """Whether a parsed pattern nests repetitions or refers back to a group (ReDoS shapes)."""
    for op, arg in items:
        if op == _regex_constants.GROUPREF:
            return True
        if op in _REPEATS:
            if depth > 0 or _explosive(arg[2], depth + 1):
                return True
        elif op == _regex_constants.SUBPATTERN and _explosive(arg[3], depth):
            return True
        elif op == _regex_constants.BRANCH:
            # Alternatives under a repetition may overlap, (a|aa)*, and backtrack too.
            if depth > 0 or any(_explosive(b, depth) for b in arg[1]):
                return True
    return False


def parse_sort(value: Any) -> list[tuple[str, int]]:
    """``{"field": 1 | -1, ...}`` in order."""
    if not isinstance(value, dict) or len(value) > 8:
        raise bad("sort is an object of at most 8 fields, each 1 or -1")
    sort = []
    for key, direction in value.items():
        if direction not in (1, -1) or isinstance(direction, bool):
            raise bad(f"sort: {str(key)[:40]} must be 1 or -1")
        sort.append((check_field(key), int(direction)))
    return sort


@dataclass(frozen=True)
class Projection:
    """Top-level fields to keep (or, with ``keep`` false, to drop), and whether ``_id`` stays."""

    fields: frozenset[str]
    keep: bool
    with_id: bool

    def apply(self, doc: dict[str, Any]) -> dict[str, Any]:
        if self.keep:
            shown = {k: v for k, v in doc.items() if k in self.fields}
        else:
            shown = {k: v for k, v in doc.items() if k not in self.fields}
        if self.with_id and "_id" in doc:
            shown["_id"] = doc["_id"]
        else:
            shown.pop("_id", None)
        return shown


def parse_projection(value: Any) -> Projection:
    """MongoDB's form: fields each 1 (keep) or each 0 (drop); ``_id`` 0 drops the id."""
    if not isinstance(value, dict) or not value or len(value) > 64:
        raise bad("projection is an object of at most 64 fields, each 1 or 0")
    if any(v not in (0, 1) for v in value.values()):
        raise bad("projection values are 1 (keep) or 0 (drop)")
    fields = {check_field(k): bool(v) for k, v in value.items() if k != "_id"}
    if len(set(fields.values())) > 1:
        raise bad("projection either keeps fields (1) or drops them (0), not both")
    keep = next(iter(fields.values()), False)
    return Projection(frozenset(fields), keep, bool(value.get("_id", 1)))
