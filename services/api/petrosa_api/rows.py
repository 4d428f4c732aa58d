"""Records as response rows: every stored field, plus ``*_iso`` beside each epoch-ms time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi

from petrosa_api.fields import describe
from petrosa_api.times import iso_column, iso_or_none
from petrosa_core.models import RECORD_TYPES, DatasetKind, Record

_TIME_SUFFIXES = ("_time",)


@dataclass(frozen=True)
class RowShape:
    """How one kind's records look when served: column order, times, types, meanings."""

    kind: DatasetKind
    fields: tuple[str, ...]
    times: tuple[str, ...]
    columns: tuple[str, ...]
    types: dict[str, mi.Type]
    descriptions: dict[str, str]

    def row(self, record: Record) -> dict[str, Any]:
        row = msgspec.structs.asdict(record)
        for name in self.times:
            row[f"{name}_iso"] = iso_or_none(row[name])
        return row

    def rows(self, records: list[Record]) -> list[dict[str, Any]]:
        """Rows of a page; the ISO strings are formatted a column at a time, in polars."""
        rows = [msgspec.structs.asdict(record) for record in records]
        for name in self.times:
            key = f"{name}_iso"
            for row, text in zip(rows, iso_column([r[name] for r in rows]), strict=True):
                row[key] = text
        return rows


def _shape(kind: DatasetKind) -> RowShape:
    info = mi.type_info(RECORD_TYPES[kind])
    assert isinstance(info, mi.StructType)
    fields = tuple(f.name for f in info.fields)
    times = tuple(name for name in fields if name.endswith(_TIME_SUFFIXES))
    columns: list[str] = []
    for name in fields:
        columns.append(name)
        if name in times:
            columns.append(f"{name}_iso")
    types: dict[str, mi.Type] = {f.name: f.type for f in info.fields}
    types.update({f"{name}_iso": mi.UnionType((mi.StrType(), mi.NoneType())) for name in times})
    descriptions = {name: describe(kind, name) for name in columns}
    return RowShape(kind, fields, times, tuple(columns), types, descriptions)


SHAPES: dict[DatasetKind, RowShape] = {kind: _shape(kind) for kind in DatasetKind}


def type_name(tp: mi.Type) -> str:
    """A short JSON-ish name of a field type: ``integer``, ``number | null``, ..."""
    if isinstance(tp, mi.UnionType):
        return " | ".join(type_name(t) for t in tp.types)
    if isinstance(tp, mi.LiteralType):
        return " | ".join(repr(v) for v in tp.values)
    if isinstance(tp, mi.VarTupleType | mi.TupleType):
        return "array"
    names = {
        mi.IntType: "integer",
        mi.FloatType: "number",
        mi.BoolType: "boolean",
        mi.StrType: "string",
        mi.NoneType: "null",
    }
    return names.get(type(tp), "any")
