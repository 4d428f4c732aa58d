"""Arrays and objects: items and tuples, properties under open and closed content models."""

from __future__ import annotations

import math
import re
from typing import Any

from petrosa_api.registry import _compat as compat
from petrosa_api.registry._schema_nodes import Node, child, deref, is_true

# Characters that end a pattern's literal prefix.
_REGEX_META = re.compile(r"[\\.^$|?*+()\[\]{}]")


def _dict(node: Node) -> dict[str, Any]:
    return node.schema if isinstance(node.schema, dict) else {}


def _count(schema: dict[str, Any], key: str, default: float) -> float:
    value = schema.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _bounds(c: compat.Comparison, r: Node, w: Node, low: str, high: str) -> None:
    rs, ws = _dict(r), _dict(w)
    if _count(rs, low, 0) > _count(ws, low, 0):
        c.report(
            child(r, low),
            child(w, low),
            f"{low} {rs[low]} is more than the writing schema's {ws.get(low, 0)}",
        )
    if high in rs and _count(rs, high, math.inf) < _count(ws, high, math.inf):
        c.report(
            child(r, high),
            child(w, high),
            f"{high} {rs[high]} is less than the writing schema's {ws.get(high, '(none)')}",
        )


# Arrays


def _item(node: Node, index: int) -> Node:
    """The schema that position ``index`` of an array must satisfy."""
    items = _dict(node).get("items", True)
    if isinstance(items, list):
        if index < len(items):
            return child(node, "items", str(index))
        return child(node, "additionalItems")
    return child(node, "items")


def _tuple_length(node: Node) -> int:
    items = _dict(node).get("items")
    return len(items) if isinstance(items, list) else 0


def compare_arrays(c: compat.Comparison, r: Node, w: Node) -> None:
    """Each position (tuple places, then the rest) and the array-wide keywords."""
    ws = _dict(w)
    longest = _count(ws, "maxItems", math.inf)
    positions = max(_tuple_length(r), _tuple_length(w))
    # Positions past the longest tuple all follow the same pair of schemas: check one.
    for index in range(int(min(positions + 1, longest))):
        compat.subset(c, _item(r, index), _item(w, index))
    _bounds(c, r, w, "minItems", "maxItems")
    rs = _dict(r)
    if rs.get("uniqueItems") is True and ws.get("uniqueItems") is not True and longest > 1:
        c.report(
            child(r, "uniqueItems"),
            child(w, "uniqueItems"),
            "uniqueItems is required by "
            "the reading schema; the writing schema allows repeated items",
        )
    if "contains" in rs and not is_true(rs["contains"]):
        if "contains" not in ws or not compat.provable(
            c, child(r, "contains"), child(w, "contains")
        ):
            c.report(
                child(r, "contains"),
                child(w, "contains"),
                "contains is not implied by the writing schema",
            )


# Objects


def _matches(pattern: str, name: str) -> bool:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return True  # an unreadable pattern is assumed to apply: the comparison stays safe


def _constraints(node: Node, name: str) -> list[Node]:
    """Every schema the value of property ``name`` must satisfy under ``node``."""
    schema = _dict(node)
    found = []
    if name in schema.get("properties", {}):
        found.append(child(node, "properties", name))
    for pattern in schema.get("patternProperties", {}):
        if _matches(pattern, name):
            found.append(child(node, "patternProperties", pattern))
    return found or [child(node, "additionalProperties")]


def _closed(node: Node) -> bool:
    return deref(child(node, "additionalProperties")).schema is False


def compare_objects(c: compat.Comparison, r: Node, w: Node) -> None:
    rs, ws = _dict(r), _dict(w)
    missing = [n for n in rs.get("required", []) if n not in ws.get("required", [])]
    for name in missing:
        c.report(
            child(r, "required"),
            child(w, "required"),
            f"property {name!r} is required by "
            "the reading schema but optional in the writing schema",
        )
    _bounds(c, r, w, "minProperties", "maxProperties")
    names = set(rs.get("properties", {})) | set(ws.get("properties", {}))
    for name in sorted(names):
        _property(c, r, w, name)
    _pattern_properties(c, r, w)
    _additional(c, r, w)
    _property_names(c, r, w)
    _dependencies(c, r, w)


def _property(c: compat.Comparison, r: Node, w: Node, name: str) -> None:
    written = _constraints(w, name)
    for rc in _constraints(r, name):
        if is_true(deref(rc).schema) or any(compat.provable(c, rc, wc) for wc in written):
            continue
        listed_r, listed_w = (
            name in _dict(r).get("properties", {}),
            name in _dict(w).get("properties", {}),
        )
        if deref(rc).schema is False and listed_w and not listed_r:
            c.report(
                rc,
                written[0],
                f"property {name!r} is refused by the reading schema's "
                "closed content model (additionalProperties: false) but allowed by the "
                "writing schema",
            )
        elif listed_r and not listed_w and all(is_true(deref(wc).schema) for wc in written):
            c.report(
                rc,
                written[0],
                f"property {name!r} gained constraints in the reading "
                "schema while the writing schema's open content model allows any value "
                "under it",
            )
        else:
            compat.subset(c, rc, written[0])


def _may_overlap(a: str, b: str) -> bool:
    """Whether two patterns may match one name; anchored distinct literal prefixes cannot."""
    if not (a.startswith("^") and b.startswith("^")):
        return True
    pa, pb = _REGEX_META.split(a[1:], 1)[0], _REGEX_META.split(b[1:], 1)[0]
    return pa.startswith(pb) or pb.startswith(pa)


def _pattern_properties(c: compat.Comparison, r: Node, w: Node) -> None:
    """Names matched by a writer pattern: the reader's patterns or its additionalProperties."""
    r_patterns = list(_dict(r).get("patternProperties", {}))
    for pw in _dict(w).get("patternProperties", {}):
        wn = child(w, "patternProperties", pw)
        for pr in r_patterns:
            if _may_overlap(pw, pr):
                rn = child(r, "patternProperties", pr)
                if pr == pw:
                    compat.subset(c, rn, wn)
                elif not compat.provable(c, rn, wn):
                    c.report(
                        rn,
                        wn,
                        f"names matching the writing schema's pattern {pw!r} may "
                        f"also match {pr!r}, whose schema is narrower",
                    )
        if pw not in r_patterns and not compat.provable(c, child(r, "additionalProperties"), wn):
            c.report(
                child(r, "additionalProperties"),
                wn,
                f"names matching the writing "
                f"schema's pattern {pw!r} fall under the reading schema's "
                "additionalProperties, which refuses their values",
            )


def _additional(c: compat.Comparison, r: Node, w: Node) -> None:
    """Names neither lists: the writer's additionalProperties against the reader's rules."""
    w_add = child(w, "additionalProperties")
    if deref(w_add).schema is False:
        return
    w_patterns = _dict(w).get("patternProperties", {})
    for pr in _dict(r).get("patternProperties", {}):
        if pr in w_patterns:
            continue  # names it matches follow the writer's same pattern, not its default
        rn = child(r, "patternProperties", pr)
        if not compat.provable(c, rn, w_add):
            c.report(
                rn,
                w_add,
                f"names matching {pr!r} may hold values the writing schema's "
                "additionalProperties allows but this pattern's schema refuses",
            )
    r_add = child(r, "additionalProperties")
    if compat.provable(c, r_add, w_add):
        return
    if _closed(r):
        c.report(
            r_add,
            w_add,
            "the reading schema's content model is closed "
            "(additionalProperties: false) but the writing schema's is open: its "
            "instances may hold properties the reader refuses",
        )
    else:
        compat.subset(c, r_add, w_add)


def _property_names(c: compat.Comparison, r: Node, w: Node) -> None:
    rn = child(r, "propertyNames")
    if is_true(deref(rn).schema):
        return
    ws = _dict(w)
    if "propertyNames" in ws and compat.provable(c, rn, child(w, "propertyNames")):
        return
    if _closed(w) and not ws.get("patternProperties"):
        if all(c.accepts(rn, name) for name in ws.get("properties", {})):
            return
    c.report(
        rn, child(w, "propertyNames"), "propertyNames may refuse names the writing schema allows"
    )


def _dependencies(c: compat.Comparison, r: Node, w: Node) -> None:
    ws = _dict(w)
    for key, needed in _dict(r).get("dependencies", {}).items():
        rd, wd = child(r, "dependencies", key), child(w, "dependencies", key)
        if isinstance(needed, list):
            given = set(ws.get("required", []))
            if isinstance(ws.get("dependencies", {}).get(key), list):
                given |= set(ws["dependencies"][key])
            absent = [n for n in needed if n not in given]
            if absent:
                c.report(
                    rd,
                    wd,
                    f"when {key!r} is present the reading schema also requires "
                    f"{', '.join(map(repr, absent))}, which the writing schema does not",
                )
        elif not (compat.provable(c, rd, wd) or compat.provable(c, rd, w)):
            c.report(
                rd, wd, f"the dependency schema of {key!r} is not implied by the writing schema"
            )
