"""Filter trees as SQLAlchemy clauses: on JSON bodies (documents) or on plain columns (tables).

Each leaf is made two-valued (``CASE WHEN ... THEN 1 ELSE 0 END = 1``), so ``$not``,
``$ne`` and ``$nin`` match missing fields as MongoDB does instead of vanishing into SQL's
NULL. Values and JSON paths are bound parameters. Comparisons stay inside one type, as
MongoDB's do: ``{"a": {"$gt": 5}}`` never matches the string ``"6"``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from petrosa_core.documents._filters import (
    All,
    AnyNode,
    AnyOf,
    Compare,
    Exists,
    Node,
    Not,
    Regex,
    Scalar,
    bad,
)

Clause = ColumnElement[Any]
BINARY = "utf8mb4_bin"
REGEXP_FUNCTION = "petrosa_regexp"
_OPS: dict[str, Callable[[Clause, Any], Clause]] = {
    "$eq": lambda a, b: a == b,
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


def sqlite_regexp(pattern: str | None, value: Any) -> int:
    """SQLite has no REGEXP of its own; this one is registered on every connection."""
    if pattern is None or not isinstance(value, str):
        return 0
    return int(re.search(pattern, value) is not None)


def _flagged(pattern: str, ignore_case: bool) -> str:
    return f"(?i){pattern}" if ignore_case else pattern


def _two_valued(clause: Clause) -> Clause:
    return sa.case((clause, 1), else_=0) == 1


class JsonFields:
    """Leaves on fields of a JSON body column; ``_id`` is the id column."""

    def __init__(self, body: Clause, id_column: Clause, dialect: str) -> None:
        self._body, self.id_column, self._mysql = body, id_column, dialect != "sqlite"

    def _path(self, path: str) -> Any:
        return sa.literal("$." + path, sa.String)

    def type_of(self, path: str) -> Clause:
        """The JSON type of the field, lower case; NULL when the field is missing."""
        if self._mysql:
            return sa.func.lower(sa.func.json_type(self.extract(path)))
        return sa.func.json_type(self._body, self._path(path))

    def extract(self, path: str) -> Clause:
        return sa.func.json_extract(self._body, self._path(path))

    def number(self, path: str) -> Clause:
        if self._mysql:
            return sa.cast(sa.func.json_value(self._body, self._path(path)), sa.Numeric(65, 20))
        return self.extract(path)

    def text(self, path: str) -> Clause:
        if self._mysql:
            return sa.func.json_value(self._body, self._path(path)).collate(BINARY)
        return self.extract(path)

    def _numeric_type(self, path: str) -> Clause:
        kinds = ("integer", "double", "decimal", "unsigned integer", "real")
        return self.type_of(path).in_(kinds)

    def _string_type(self, path: str) -> Clause:
        return self.type_of(path).in_(("string", "text"))

    def compare(self, path: str, op: str, value: Scalar) -> Clause:
        if path == "_id":
            return _compare_id(self.id_column, op, value)
        if value is None:
            if op not in ("$eq", "$gte", "$lte"):
                return sa.false()
            return sa.or_(self.type_of(path).is_(None), self.type_of(path) == "null")
        if isinstance(value, bool):
            if op != "$eq":
                raise bad(f"{path}: compare booleans with $eq, $ne, $in or $nin")
            word = "true" if value else "false"
            if self._mysql:
                return sa.and_(self.type_of(path) == "boolean", self.extract(path) == word)
            return self.type_of(path) == word
        if isinstance(value, str):
            return sa.and_(self._string_type(path), _OPS[op](self.text(path), value))
        return sa.and_(self._numeric_type(path), _OPS[op](self.number(path), value))

    def exists(self, path: str) -> Clause:
        if path == "_id":
            return sa.true()
        return self.type_of(path).is_not(None)

    def regex(self, path: str, pattern: str, ignore_case: bool) -> Clause:
        flagged = _flagged(pattern, ignore_case)
        if path == "_id":
            subject: Clause = self.id_column
        else:
            subject = self.text(path)
        if self._mysql:
            return sa.and_(subject.is_not(None), subject.op("REGEXP")(flagged))
        return sa.func.coalesce(getattr(sa.func, REGEXP_FUNCTION)(flagged, subject), 0) == 1


def _compare_id(column: Clause, op: str, value: Scalar) -> Clause:
    if not isinstance(value, str):
        return sa.false()
    return _OPS[op](column, value)


class ColumnFields:
    """Leaves on the columns of a table; a name that is not a column is refused."""

    def __init__(self, table: sa.Table, dialect: str) -> None:
        self._table, self._mysql = table, dialect != "sqlite"

    def column(self, path: str) -> Clause:
        column: Clause | None = self._table.c.get(path)
        if column is None or isinstance(column.type, sa.JSON):
            names = ", ".join(c.name for c in self._table.c if not isinstance(c.type, sa.JSON))
            raise bad(f"{self._table.name} has no filterable field {path!r}; it has {names}")
        return column

    def compare(self, path: str, op: str, value: Scalar) -> Clause:
        column = self.column(path)
        if value is None:
            return column.is_(None) if op in ("$eq", "$gte", "$lte") else sa.false()
        if isinstance(value, bool) and op != "$eq":
            raise bad(f"{path}: compare booleans with $eq, $ne, $in or $nin")
        return sa.and_(column.is_not(None), _OPS[op](column, value))

    def exists(self, path: str) -> Clause:
        return self.column(path).is_not(None)

    def regex(self, path: str, pattern: str, ignore_case: bool) -> Clause:
        column = self.column(path)
        flagged = _flagged(pattern, ignore_case)
        if self._mysql:
            return sa.and_(column.is_not(None), column.op("REGEXP")(flagged))
        return sa.func.coalesce(getattr(sa.func, REGEXP_FUNCTION)(flagged, column), 0) == 1


Fields = JsonFields | ColumnFields


def to_clause(node: Node, fields: Fields) -> Clause:
    """The WHERE clause of a checked filter tree."""
    if isinstance(node, All):
        return sa.and_(sa.true(), *(to_clause(n, fields) for n in node.nodes))
    if isinstance(node, AnyNode):
        return sa.or_(sa.false(), *(to_clause(n, fields) for n in node.nodes))
    if isinstance(node, Not):
        return sa.not_(to_clause(node.node, fields))
    return _two_valued(_leaf(node, fields))


def _leaf(node: Compare | AnyOf | Exists | Regex, fields: Fields) -> Clause:
    if isinstance(node, Compare):
        return fields.compare(node.path, node.op, node.value)
    if isinstance(node, AnyOf):
        return sa.or_(sa.false(), *(fields.compare(node.path, "$eq", v) for v in node.values))
    if isinstance(node, Exists):
        present = fields.exists(node.path)
        return present if node.present else sa.not_(present)
    return fields.regex(node.path, node.pattern, node.ignore_case)


def json_sort_keys(fields: JsonFields, path: str, descending: bool) -> list[Clause]:
    """MongoDB's order across types: missing and null, then numbers, then strings."""
    if path == "_id":
        return [fields.id_column.desc() if descending else fields.id_column.asc()]
    kind = fields.type_of(path)
    rank = sa.case(
        (kind.is_(None), 0), (kind == "null", 0),
        (kind.in_(("integer", "double", "decimal", "unsigned integer", "real")), 1),
        (kind.in_(("string", "text")), 2), else_=3,
    )  # fmt: skip
    keys = [rank, fields.number(path), fields.text(path)]
    return [k.desc() if descending else k.asc() for k in keys]
