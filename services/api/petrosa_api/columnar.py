"""Arrow tables of market records rendered as JSON rows and CSV, a column at a time.

A page used to become one Python dict per row before msgspec encoded it; at ~5 µs a row
that was most of a 1000-row request. Here each column is formatted to text by polars in
one vectorised pass and the rows are concatenated from those columns, so no per-row
Python object is made. The text is byte for byte what msgspec writes for the same rows
(``RowShape.row``): the property tests in tests/api/test_columnar.py hold it to that.

Values whose text polars cannot produce exactly are formatted by msgspec, those values only:
strings needing a JSON escape (a quote, a backslash, a control character).
"""

from __future__ import annotations

import functools

import msgspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from petrosa_api.rows import SHAPES, RowShape
from petrosa_core.models import DatasetKind

ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.3fZ"
# A string holding any of these is not its own JSON text between quotes.
_JSON_ESCAPED = r'[\x00-\x1f"\\]'
# A CSV cell holding any of these is quoted, its quotes doubled (RFC 4180).
_CSV_QUOTED = r'[",\r\n]'
# From this magnitude on, floats are written with an exponent (``1e16``).
EXPONENT_FROM = 1e16

_ENCODE = msgspec.json.Encoder().encode


def _float_text(expr: pl.Expr, plain: bool) -> pl.Expr:
    """msgspec's text of a float: the shortest round trip, ``1e16`` where polars says ``1e+16``.

    Not-a-number and infinities are ``null``, as msgspec writes them. ``plain`` says the
    column holds neither nor any magnitude of 1e16 or more: its polars text is then exact.
    """
    text = expr.cast(pl.String)
    if plain:
        return text
    text = text.str.replace("e+", "e", literal=True)
    return pl.when(expr.is_finite()).then(text).otherwise(pl.lit("null"))


def _plain_floats(column: pa.ChunkedArray) -> bool:
    """Whether every float's polars text already is msgspec's (finite, below 1e16)."""
    if column.null_count == len(column):
        return True
    if pc.all(pc.is_finite(column)).as_py() is False:
        return False
    bounds = pc.min_max(column).as_py()
    return bool(-EXPONENT_FROM < bounds["min"] and bounds["max"] < EXPONENT_FROM)


def _escaped_string(value: str) -> str:
    return _ENCODE(value).decode()


def _plain_strings(column: pa.ChunkedArray) -> bool:
    """Whether no string needs a JSON escape, so quotes around it make its JSON text."""
    # A column holds few distinct strings (a symbol, an interval): look at each once.
    return not pc.any(pc.match_substring_regex(pc.unique(column), _JSON_ESCAPED)).as_py()


def _levels_text(expr: pl.Expr) -> pl.Expr:
    """``[[price,quantity],...]`` from a list of lists of floats."""
    number = _float_text(pl.element(), plain=False)
    pair = pl.concat_str([pl.lit("["), pl.element().list.eval(number).list.join(","), pl.lit("]")])
    joined = expr.list.eval(pair).list.join(",")
    return pl.concat_str([pl.lit("["), joined, pl.lit("]")])


def _column_class(table: pa.Table, name: str) -> str:
    """How a column's JSON text is made: by its type, and for floats and strings by its values."""
    dtype = table.schema.field(name).type
    if pa.types.is_timestamp(dtype):
        return "time"
    if pa.types.is_boolean(dtype):
        return "bool"
    if pa.types.is_floating(dtype):
        return "float" if _plain_floats(table.column(name)) else "odd_float"
    if pa.types.is_integer(dtype):
        return "int"
    if pa.types.is_list(dtype) or pa.types.is_large_list(dtype):
        return "levels"
    return "string" if _plain_strings(table.column(name)) else "odd_string"


def _value_text(name: str, kind: str, nullable: bool) -> pl.Expr:
    """The JSON text of every value of one column (``null`` for a missing value)."""
    expr = pl.col(name)
    texts = {
        "time": lambda: expr.dt.epoch("ms").cast(pl.String),
        "bool": lambda: pl.when(expr).then(pl.lit("true")).otherwise(pl.lit("false")),
        "float": lambda: _float_text(expr, plain=True),
        "odd_float": lambda: _float_text(expr, plain=False),
        "int": lambda: expr.cast(pl.String),
        "levels": lambda: _levels_text(expr),
        "string": lambda: pl.concat_str([pl.lit('"'), expr, pl.lit('"')]),
        "odd_string": lambda: expr.map_elements(
            _escaped_string, return_dtype=pl.String, skip_nulls=True
        ),
    }
    text = texts[kind]()
    return text.fill_null(pl.lit("null")) if nullable else text


def _iso_text(expr: pl.Expr) -> pl.Expr:
    return pl.concat_str([pl.lit('"'), expr.dt.strftime(ISO_FORMAT), pl.lit('"')])


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table, rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


def json_rows(shape: RowShape, table: pa.Table) -> bytes:
    """The rows of ``table`` as a JSON array, exactly msgspec's ``[shape.row(r), ...]``.

    Keys are the record's fields in order, then ``<time>_iso`` for each time field.
    """
    if table.num_rows == 0:
        return b"[]"
    classes = tuple(
        (_column_class(table, name), table.column(name).null_count > 0) for name in shape.fields
    )
    row = _json_row(shape.kind, classes)
    text: str = _frame(table).select(row).item()
    return b"[" + text.encode() + b"]"


@functools.lru_cache(maxsize=256)
def _json_row(kind: DatasetKind, classes: tuple[tuple[str, bool], ...]) -> pl.Expr:
    """The expression writing every row of a page; built once per kind and column classes."""
    shape = SHAPES[kind]
    parts: list[pl.Expr] = []
    for index, (name, (column_class, nullable)) in enumerate(
        zip(shape.fields, classes, strict=True)
    ):
        key = ("{" if index == 0 else ",") + _ENCODE(name).decode() + ":"
        parts += [pl.lit(key), _value_text(name, column_class, nullable)]
    for name in shape.times:
        parts += [pl.lit(f',"{name}_iso":'), _iso_text(pl.col(name)).fill_null(pl.lit("null"))]
    parts.append(pl.lit("}"))
    return pl.concat_str(parts).str.join(",")


def _csv_cell(name: str, table: pa.Table) -> pl.Expr:
    """One column's CSV cells: JSON's text of numbers and lists, empty for a missing value."""
    expr = pl.col(name)
    column_class = _column_class(table, name)
    if column_class in ("string", "odd_string"):
        text = expr
    elif column_class in ("float", "odd_float"):
        # Not-a-number and infinities are empty cells, like a missing value.
        text = pl.when(expr.is_finite()).then(_float_text(expr, column_class == "float"))
    else:
        text = _value_text(name, column_class, nullable=False)
    if table.column(name).null_count:
        text = pl.when(expr.is_null()).then(pl.lit("")).otherwise(text)
    if column_class not in ("string", "odd_string", "levels"):
        return text.fill_null(pl.lit(""))
    quoted = pl.concat_str(
        [pl.lit('"'), text.str.replace_all('"', '""', literal=True), pl.lit('"')]
    )
    return pl.when(text.str.contains(_CSV_QUOTED)).then(quoted).otherwise(text).fill_null("")


def csv_header(shape: RowShape) -> bytes:
    """The header line: every column, ``<time>_iso`` beside each time."""
    return (",".join(shape.columns) + "\n").encode()


def csv_rows(shape: RowShape, table: pa.Table) -> bytes:
    """The rows of ``table`` as CSV lines (no header), in ``shape.columns`` order.

    Numbers and lists are written as in JSON, booleans ``true``/``false``, a missing value
    as an empty cell; times as epoch ms with the ISO text in the next column.
    """
    if table.num_rows == 0:
        return b""
    cells: list[pl.Expr] = []
    for name in shape.fields:
        cells.append(_csv_cell(name, table))
        if name in shape.times:
            cells.append(pl.col(name).dt.strftime(ISO_FORMAT).fill_null(""))
    line = pl.concat_str(cells, separator=",").str.join("\n")
    text: str = _frame(table).select(line).item()
    return text.encode() + b"\n"
