"""The reader's keywords one by one: combinators, types, numbers and strings.

Each rule asks one question: does the writer's schema imply this reader keyword? When it
cannot be shown, the keyword is reported with its pointer.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Any

from fastjsonschema.draft07 import CodeGeneratorDraft07

from petrosa_api.registry import _compat as compat
from petrosa_api.registry._compat_containers import compare_arrays, compare_objects
from petrosa_api.registry._schema_nodes import Node, child, deref, type_set

# Formats fastjsonschema asserts; any other format is an annotation no instance can fail.
CHECKED_FORMATS = frozenset(CodeGeneratorDraft07.FORMAT_REGEXS) | {"regex"}
NUMERIC = frozenset({"number", "integer"})


def compare_keywords(c: compat.Comparison, r: Node, w: Node) -> None:
    """Report each reader keyword the writer does not imply."""
    _combinators(c, r, w)
    _listed_values(c, r, w)
    types = _types(c, r, w)
    ws = w.schema if isinstance(w.schema, dict) else {}
    if types & NUMERIC:
        integers_only = "number" not in types or _integral(ws.get("multipleOf"))
        _numbers(c, r, w, integers_only)
    if "string" in types:
        _strings(c, r, w)
    if "array" in types:
        compare_arrays(c, r, w)
    if "object" in types:
        compare_objects(c, r, w)


def _combinators(c: compat.Comparison, r: Node, w: Node) -> None:
    rs = r.schema
    if "allOf" in rs and not compat.same_keyword(r, w, "allOf"):
        for i in range(len(rs["allOf"])):
            compat.subset(c, child(r, "allOf", str(i)), w)
    for keyword in ("anyOf", "oneOf"):
        if keyword in rs and not compat.same_keyword(r, w, keyword):
            _one_of(c, r, w, keyword)
    if "not" in rs and not compat.same_keyword(r, w, "not"):
        if not disjoint(c, child(r, "not"), w):
            c.report(
                child(r, "not"),
                w,
                "the reading schema's 'not' may exclude values the writing schema allows",
            )
    if "if" in rs and not all(compat.same_keyword(r, w, k) for k in ("if", "then", "else")):
        _conditional(c, r, w)


def _listed_values(c: compat.Comparison, r: Node, w: Node) -> None:
    """A reader limited to listed values; the writer (not so limited, or it would have been
    checked value by value) may write others."""
    for keyword in ("enum", "const"):
        if keyword in r.schema and not compat.same_keyword(r, w, keyword):
            c.report(
                child(r, keyword),
                child(w, keyword),
                f"{keyword} limits the values the "
                "reading schema accepts; the writing schema does not",
            )


def _one_of(c: compat.Comparison, r: Node, w: Node, keyword: str) -> None:
    branches = [child(r, keyword, str(i)) for i in range(len(r.schema[keyword]))]
    fitting = [b for b in branches if compat.provable(c, b, w)]
    if not fitting:
        c.report(
            child(r, keyword),
            w,
            f"the writing schema's values are not shown to match "
            f"any branch of the reading schema's {keyword}",
        )
        return
    if keyword == "oneOf":
        others = [b for b in branches if b is not fitting[0]]
        if not all(disjoint(c, b, w) for b in others):
            c.report(
                child(r, keyword),
                w,
                "the writing schema's values may match more than "
                "one branch of the reading schema's oneOf, which then refuses them",
            )


def _conditional(c: compat.Comparison, r: Node, w: Node) -> None:
    condition = child(r, "if")
    if compat.provable(c, condition, w):
        compat.subset(c, child(r, "then"), w)
    elif disjoint(c, condition, w):
        compat.subset(c, child(r, "else"), w)
    else:
        compat.subset(c, child(r, "then"), w)
        compat.subset(c, child(r, "else"), w)


def disjoint(c: compat.Comparison, a: Node, w: Node, depth: int = 0) -> bool:
    """Whether no instance satisfies both (``a`` in the reader, ``w`` in the writer)."""
    a, w = deref(a), deref(w)
    if a.schema is False or w.schema is False:
        return True
    if not isinstance(a.schema, dict) or not isinstance(w.schema, dict) or depth > 8:
        return False
    if not type_set(a.schema) & type_set(w.schema):
        return True
    values = _listed(w.schema)
    if values is not None:
        return not any(c.accepts(a, v) for v in values)
    # One side's "not" excludes all of the other.
    if "not" in w.schema and compat.provable(c, child(w, "not"), a):
        return True
    if "not" in a.schema and compat.provable(c, child(a, "not"), w):
        return True
    return _discriminated(c, a, w, depth)


def _listed(schema: dict[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    enum = schema.get("enum")
    return enum if isinstance(enum, list) else None


def _discriminated(c: compat.Comparison, a: Node, w: Node, depth: int) -> bool:
    """Objects told apart by a property both require with values that cannot meet."""
    if not (type_set(a.schema) <= {"object"} or type_set(w.schema) <= {"object"}):
        return False
    shared = set(a.schema.get("required", [])) & set(w.schema.get("required", []))
    return any(
        disjoint(c, child(a, "properties", n), child(w, "properties", n), depth + 1)
        for n in sorted(shared)
        if n in a.schema.get("properties", {}) and n in w.schema.get("properties", {})
    )


def _types(c: compat.Comparison, r: Node, w: Node) -> frozenset[str]:
    """The writer's types the reader takes; the others are reported as a narrowing."""
    written, readable = type_set(w.schema), type_set(r.schema)
    ws = w.schema if isinstance(w.schema, dict) else {}
    refused = written - readable
    if refused == {"number"} and _integral(ws.get("multipleOf")):
        refused = frozenset()  # multiples of an integer are integers
    if refused:
        was = "any type" if "type" not in ws else _named(written, frozenset())
        c.report(
            child(r, "type"),
            child(w, "type"),
            f"type narrowed: the writing schema allows {was}; the reading schema refuses "
            f"{_named(refused, readable)}",
        )
    return written - refused


def _named(types: frozenset[str], readable: frozenset[str]) -> str:
    """Types as a reader would say them: "number" covers "integer", unless integers pass."""
    if "number" in types and "integer" in readable:
        types = (types - {"number"}) | {"non-integer number"}
    shown = types - {"integer"} if "number" in types else types
    return ", ".join(sorted(shown))


def _exact(x: Any) -> Fraction | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return Fraction(Decimal(repr(x))) if isinstance(x, float) else Fraction(x)


def _integral(x: Any) -> bool:
    exact = _exact(x)
    return exact is not None and exact > 0 and exact.denominator == 1


def _bound(schema: Any, inclusive: str, exclusive: str, integers: bool, low: bool) -> Any:
    """The tightest bound of one side as (value, is_exclusive), integer-rounded if asked."""
    found: list[tuple[Fraction, bool]] = []
    if isinstance(schema, dict):
        for key, strict in ((inclusive, False), (exclusive, True)):
            value = _exact(schema.get(key))
            if value is not None:
                found.append((value, strict))
    if not found:
        return None
    if integers:
        found = [_to_integer(v, s, low) for v, s in found]
    return (
        max(found, key=lambda b: (b[0], b[1])) if low else min(found, key=lambda b: (b[0], -b[1]))
    )


def _to_integer(value: Fraction, strict: bool, low: bool) -> tuple[Fraction, bool]:
    if low:
        return Fraction(math.floor(value) + 1 if strict else math.ceil(value)), False
    return Fraction(math.ceil(value) - 1 if strict else math.floor(value)), False


def _numbers(c: compat.Comparison, r: Node, w: Node, integers: bool) -> None:
    for low, inclusive, exclusive in (
        (True, "minimum", "exclusiveMinimum"),
        (False, "maximum", "exclusiveMaximum"),
    ):
        rb = _bound(r.schema, inclusive, exclusive, integers, low)
        wb = _bound(w.schema, inclusive, exclusive, integers, low)
        if rb is not None and not _within(rb, wb, low):
            key = exclusive if rb[1] else inclusive
            c.report(
                child(r, key),
                child(w, key),
                f"{key} {_show(rb[0])} is tighter than the writing schema's {_show_bound(wb)}",
            )
    _multiple_of(c, r, w, integers)


def _within(rb: tuple[Fraction, bool], wb: tuple[Fraction, bool] | None, low: bool) -> bool:
    if wb is None:
        return False
    if wb[0] != rb[0]:
        return wb[0] > rb[0] if low else wb[0] < rb[0]
    return wb[1] or not rb[1]


def _show(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else str(float(value))


def _show_bound(bound: tuple[Fraction, bool] | None) -> str:
    return "(none)" if bound is None else _show(bound[0]) + (" (exclusive)" if bound[1] else "")


def _multiple_of(c: compat.Comparison, r: Node, w: Node, integers: bool) -> None:
    rm = _exact(r.schema.get("multipleOf"))
    if rm is None or rm <= 0:
        return
    wm = _exact(w.schema.get("multipleOf")) if isinstance(w.schema, dict) else None
    if wm is not None and wm > 0 and (wm / rm).denominator == 1:
        return
    if integers and (1 / rm).denominator == 1:
        return  # every integer is a multiple of 1/k
    c.report(
        child(r, "multipleOf"),
        child(w, "multipleOf"),
        f"multipleOf {_show(rm)} is not "
        f"implied by the writing schema's {_show(wm) if wm else '(none)'}",
    )


def _strings(c: compat.Comparison, r: Node, w: Node) -> None:
    ws = w.schema if isinstance(w.schema, dict) else {}
    rs = r.schema
    if _int(rs, "minLength", 0) > _int(ws, "minLength", 0):
        c.report(
            child(r, "minLength"),
            child(w, "minLength"),
            f"minLength {rs['minLength']} "
            f"is more than the writing schema's {ws.get('minLength', 0)}",
        )
    if "maxLength" in rs and _int(rs, "maxLength", 0) < _int(ws, "maxLength", math.inf):
        c.report(
            child(r, "maxLength"),
            child(w, "maxLength"),
            f"maxLength {rs['maxLength']} "
            f"is less than the writing schema's {ws.get('maxLength', '(none)')}",
        )
    if "pattern" in rs and rs["pattern"] != ws.get("pattern"):
        c.report(
            child(r, "pattern"),
            child(w, "pattern"),
            f"pattern {rs['pattern']!r} cannot "
            f"be shown to accept every string the writing schema allows",
        )
    fmt = rs.get("format")
    if fmt in CHECKED_FORMATS and fmt != ws.get("format"):
        c.report(
            child(r, "format"),
            child(w, "format"),
            f"format {fmt!r} is checked by the "
            f"reading schema; the writing schema does not require it",
        )


def _int(schema: dict[str, Any], key: str, default: float) -> float:
    value = schema.get(key, default)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default
