"""Raw SQL is admitted by its parse tree, never by its text.

The query is parsed with sqlglot; exactly one statement whose every node is of a class on
an allow-list (reads: SELECT, WITH, set operations, joins, expressions) survives, and every
function in it must be on a second allow-list. What then runs is the SQL regenerated from
that tree, without comments, so text the parser saw as a comment (MySQL's ``/*! ... */``)
never reaches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect as Dialect_
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import SqlglotError

from petrosa_core.errors import ValidationError

Dialect = Literal["sqlite", "mysql"]

MAX_QUERY_CHARS = 20_000
# A parse tree past this many nodes is generated, not written by a person; it also bounds
# the planner's work before the statement timeout starts.
MAX_NODES = 5_000

_STATEMENTS = (exp.Select, exp.Union, exp.Intersect, exp.Except)

# Structure of a read: anything else (INSERT, a lock clause, INTO, SET, PRAGMA, a command
# sqlglot did not understand) is refused wherever it sits in the tree.
_NODES: frozenset[type[exp.Expression]] = frozenset(
    {
        *_STATEMENTS,
        exp.With, exp.CTE, exp.Subquery, exp.From, exp.Join, exp.Where, exp.Group,
        exp.Having, exp.Order, exp.Ordered, exp.Limit, exp.Offset, exp.Column,
        exp.Identifier, exp.Table, exp.TableAlias, exp.Alias, exp.Star, exp.Literal,
        exp.Boolean, exp.Null, exp.Paren, exp.Placeholder, exp.Distinct, exp.Tuple,
        exp.Window, exp.WindowSpec, exp.DataType, exp.DataTypeParam, exp.Interval,
        exp.Var, exp.Between, exp.In, exp.Is, exp.Like, exp.ILike, exp.Not, exp.And,
        exp.Or, exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.NullSafeEQ,
        exp.Add, exp.Sub, exp.Mul, exp.Div, exp.IntDiv, exp.Mod, exp.Neg, exp.Exists,
        exp.Any, exp.All, exp.DPipe, exp.Escape, exp.JSONPath, exp.JSONPathKey,
        exp.JSONPathRoot, exp.JSONPathSubscript, exp.JSONValue, exp.Case, exp.If,
        exp.Cast, exp.TryCast, exp.Bracket, exp.Dot,
    }
)  # fmt: skip

# Functions that compute from their arguments and nothing else: no files, locks, sleeps,
# randomness big enough to fill memory, session state or server variables.
_FUNCTIONS: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max, exp.Stddev, exp.StddevPop,
        exp.StddevSamp, exp.Variance, exp.VariancePop, exp.Abs, exp.Round, exp.Floor,
        exp.Ceil, exp.Sqrt, exp.Ln, exp.Log, exp.Exp, exp.Pow, exp.Sign, exp.Coalesce,
        exp.Nullif, exp.Greatest, exp.Least, exp.Lower, exp.Upper, exp.Length,
        exp.Substring, exp.Trim, exp.Concat, exp.ConcatWs, exp.Replace, exp.StrPosition,
        exp.Left, exp.Right, exp.GroupConcat, exp.RowNumber, exp.Rank, exp.DenseRank,
        exp.Lag, exp.Lead, exp.FirstValue, exp.LastValue, exp.NthValue, exp.Ntile,
        exp.PercentRank, exp.CumeDist, exp.JSONExtract, exp.JSONExtractScalar, exp.Date,
        exp.TimeToStr, exp.StrToTime, exp.StrToDate, exp.TsOrDsToTimestamp,
        exp.TsOrDsToDate, exp.UnixToTime, exp.TimeToUnix, exp.TimestampDiff, exp.DateAdd,
        exp.DateSub, exp.DateDiff, exp.Extract, exp.Year, exp.Month, exp.Day, exp.Hour,
        exp.Minute, exp.Second, exp.CurrentTimestamp, exp.CurrentDate, exp.Cast,
        exp.TryCast, exp.If, exp.Case, exp.DateTrunc, exp.TimestampTrunc,
    }
)  # fmt: skip
# Functions sqlglot does not model, by name; lower case.
_NAMED_FUNCTIONS = frozenset(
    {
        "datetime", "julianday", "unixepoch", "printf", "total", "ifnull", "iif", "instr",
        "json_unquote", "json_value", "json_type", "unix_timestamp", "from_unixtime",
        "date_format", "truncate", "log10", "log2", "now", "char_length", "locate",
        "week", "dayofweek", "weekday", "quarter", "json_length", "json_array_length",
    }
)  # fmt: skip
# Schemas of the servers themselves; also refused by the table allow-list, named here
# so that the refusal says why.
_SYSTEM_PREFIXES = ("sqlite_", "information_schema", "performance_schema", "mysql", "sys")


class _SQLite(SQLite):
    """SQLite as sqlglot writes it, keeping a CTE's column list (``WITH r(n) AS``), which
    SQLite accepts and sqlglot's own SQLite writer drops."""

    class Generator(SQLite.Generator):
        SUPPORTS_TABLE_ALIAS_COLUMNS = True


_WRITERS: dict[str, type[Dialect_] | str] = {"sqlite": _SQLite, "mysql": "mysql"}


@dataclass(frozen=True)
class GuardedSql:
    """A query the guard admitted: its SQL as regenerated from the tree, and its tables."""

    sql: str
    tables: frozenset[str]
    parameters: frozenset[str]


def refused(why: str) -> ValidationError:
    return ValidationError("query_refused", why)


def guard_sql(query: str, dialect: Dialect, tables: frozenset[str], row_cap: int) -> GuardedSql:
    """Admit ``query`` if it is one read of ``tables`` (lower-case names); else ``query_refused``.

    The admitted SQL carries a LIMIT of at most ``row_cap + 1``.
    """
    tree = _one_statement(query, dialect)
    _check_nodes(tree)
    read = _check_tables(tree, tables)
    _cap_rows(tree, row_cap + 1)
    names = frozenset(p.name for p in tree.find_all(exp.Placeholder))
    return GuardedSql(tree.sql(dialect=_WRITERS[dialect], comments=False), read, names)


def _one_statement(query: str, dialect: Dialect) -> exp.Expression:
    if len(query) > MAX_QUERY_CHARS:
        raise refused(f"the query is longer than {MAX_QUERY_CHARS} characters")
    if "\x00" in query:
        raise refused("the query holds a NUL character")
    try:
        if any(token.comments for token in Dialect_.get_or_raise(dialect).tokenize(query)):
            raise refused(
                "comments are refused: MariaDB runs /*! ... */ as code, and a read needs none"
            )
        statements = [s for s in sqlglot.parse(query, read=dialect) if s is not None]
    except SqlglotError as exc:
        raise refused(f"the query does not parse as {dialect} SQL: {_first_line(exc)}") from None
    except RecursionError:
        raise refused("the query nests too deeply to parse") from None
    if len(statements) != 1:
        raise refused(f"send exactly one statement; this query holds {len(statements)}")
    tree = statements[0]
    if not isinstance(tree, _STATEMENTS):
        raise refused(f"only reads (SELECT, WITH ... SELECT, UNION) run here, not {_name(tree)}")
    return tree


def _check_nodes(tree: exp.Expression) -> None:
    for count, node in enumerate(tree.walk(), start=1):
        if count > MAX_NODES:
            raise refused(f"the query has more than {MAX_NODES} parts")
        if type(node) in _NODES:
            pass
        elif isinstance(node, exp.Func):
            _check_function(node)
        else:
            raise refused(f"{_name(node)} is not allowed in a read-only query")
        if isinstance(node, exp.Column) and (node.args.get("db") or node.args.get("catalog")):
            raise refused(f"column {node.sql()!r} names another database")
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise refused("recursive CTEs are refused: they can generate rows without end")
        if isinstance(node, exp.Placeholder) and not node.name:
            raise refused("use named parameters (:name) with a params object, not ?")


def _check_function(node: exp.Func) -> None:
    if isinstance(node, exp.Anonymous):
        if str(node.name).lower() in _NAMED_FUNCTIONS:
            return
        raise refused(f"function {str(node.name).upper()} is not on the allow-list")
    if type(node) not in _FUNCTIONS:
        raise refused(f"function {node.key.upper()} is not on the allow-list")


def _check_tables(tree: exp.Expression, allowed: frozenset[str]) -> frozenset[str]:
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    read: set[str] = set()
    for table in tree.find_all(exp.Table):
        name = table.name.lower()
        if table.args.get("db") or table.args.get("catalog"):
            raise refused(f"table {table.sql()!r} names another database or schema")
        if name in ctes:
            continue
        if name.startswith(_SYSTEM_PREFIXES):
            raise refused(f"{name!r} belongs to the database server, not to the stores")
        if name not in allowed:
            raise refused(f"table {name!r} is not one of the stores' tables")
        read.add(name)
    return frozenset(read)


def _cap_rows(tree: exp.Expression, cap: int) -> None:
    """Bound the rows the server produces, so a join bomb is never buffered whole."""
    limit = tree.args.get("limit")
    given = limit.expression if isinstance(limit, exp.Limit) else None
    if isinstance(given, exp.Literal) and given.is_int and int(given.this) <= cap:
        return
    if limit is not None and not isinstance(given, exp.Literal):
        raise refused("LIMIT takes a number here")
    tree.set("limit", exp.Limit(expression=exp.Literal.number(cap)))


def _name(node: exp.Expression) -> str:
    key = node.key.upper()
    return {"COMMAND": f"the command {str(node.this).upper()}"}.get(key, key)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200]
