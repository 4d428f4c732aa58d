"""Is every instance one schema accepts also accepted by another? Pure functions over
draft-07 documents, with no I/O.

``breaking_changes(reader, writer)`` lists what stops the reader schema from accepting all
that the writer schema allows. BACKWARD asks it with the new schema as reader and the old as
writer, FORWARD the other way round. The answer is conservative: a change is reported
unless it is proven safe, so a new ``pattern`` or an overlapping ``oneOf`` is breaking
until shown otherwise. Each change carries the JSON pointer of the keyword in both
documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import fastjsonschema

from petrosa_api.registry import _compat_keywords as keywords
from petrosa_api.registry._schema_nodes import Node, child, deref, is_true, merged, same

# How deep the comparison follows nested schemas and references before it gives up
# (reporting the spot as unprovable rather than recursing without end).
MAX_DEPTH = 64
# Subschema pairs one comparison may visit: branches of anyOf/oneOf multiply, and a schema
# built to make that product huge gets "cannot be proven" instead of minutes of CPU.
MAX_PAIRS = 20_000


@dataclass(frozen=True)
class Change:
    """One reason the reader may refuse what the writer allows."""

    reader: str
    writer: str
    message: str


@dataclass
class Comparison:
    """The two documents, the pairs already compared and the changes found so far."""

    reader_root: Any
    writer_root: Any
    changes: list[Change] = field(default_factory=list)
    # Pairs being compared (met again inside themselves: a recursive schema, assumed to
    # hold) and pairs compared already, with whether they held.
    active: set[tuple[Any, ...]] = field(default_factory=set)
    results: dict[tuple[Any, ...], bool] = field(default_factory=dict)
    trials: int = 0
    visited: int = 0
    validators: dict[tuple[int, Any], Any] = field(default_factory=dict)
    depth: int = 0

    def report(self, r: Node, w: Node, message: str) -> None:
        self.changes.append(Change(r.ptr, w.ptr, message))

    @contextmanager
    def trial(self) -> Iterator[list[Change]]:
        """Run a comparison whose changes are collected apart (to try alternatives)."""
        kept = self.changes
        self.changes = []
        self.trials += 1
        try:
            yield self.changes
        finally:
            self.changes = kept
            self.trials -= 1

    def accepts(self, r: Node, value: Any) -> bool:
        """Whether the subschema at ``r`` accepts ``value`` (exactly, by validating)."""
        key = (id(r.root), id(r.schema) if r.synthetic else r.ptr)
        check = self.validators.get(key)
        if check is None:
            check = fastjsonschema.compile(_standalone(r), handlers={})
            self.validators[key] = check
        try:
            check(value)
        except fastjsonschema.JsonSchemaValueException:
            return False
        return True


def _standalone(node: Node) -> Any:
    """A document validating as ``node`` does, its references still resolving."""
    base = node.root if isinstance(node.root, dict) else {}
    if node.synthetic:
        if not isinstance(node.schema, dict):
            return node.schema
        return {"definitions": base.get("definitions", {}), **node.schema}
    if node.ptr == "":
        return node.root
    # The root's definitions stay reachable; draft-07 ignores a $ref's siblings.
    return {**base, "$ref": "#" + node.ptr}


def breaking_changes(reader: Any, writer: Any) -> list[Change]:
    """What the ``reader`` document may refuse of the instances ``writer`` allows."""
    comparison = Comparison(reader, writer)
    subset(comparison, Node(reader, "", reader), Node(writer, "", writer))
    # A definition referred to from two places is compared twice; say each change once.
    return list(dict.fromkeys(comparison.changes))


def provable(c: Comparison, r: Node, w: Node) -> bool:
    with c.trial() as found:
        subset(c, r, w)
    return not found


def subset(c: Comparison, r: Node, w: Node) -> None:
    """Report each way an instance valid under ``w`` may be invalid under ``r``."""
    r, w = deref(r), deref(w)
    if w.schema is False or is_true(r.schema):
        return
    key = (id(r.root), r.ptr, id(r.schema), id(w.root), w.ptr, id(w.schema))
    if key in c.active:
        return
    known = c.results.get(key)
    if known or (known is False and c.trials):
        if known is False:  # a trial needs only the verdict; the details come in full once
            c.report(r, w, "does not hold")
        return
    before = len(c.changes)
    c.active.add(key)
    try:
        _checked(c, r, w)
    finally:
        c.active.discard(key)
    c.results[key] = len(c.changes) == before


def _checked(c: Comparison, r: Node, w: Node) -> None:
    if r.schema is False:
        c.report(r, w, "the reading schema accepts nothing here (false)")
        return
    if c.depth >= MAX_DEPTH:
        c.report(r, w, f"nested deeper than {MAX_DEPTH} levels: compatibility cannot be proven")
        return
    c.visited += 1
    if c.visited > MAX_PAIRS:
        c.report(
            r,
            w,
            f"more than {MAX_PAIRS} subschema pairs to compare: compatibility cannot be proven",
        )
        return
    c.depth += 1
    try:
        _subset(c, r, w)
    finally:
        c.depth -= 1


def _subset(c: Comparison, r: Node, w: Node) -> None:
    if isinstance(w.schema, dict) and ("const" in w.schema or "enum" in w.schema):
        _enumerated(c, r, w)
        return
    w = _flatten_all_of(w)
    for keyword in ("anyOf", "oneOf"):
        branches = _branches(w, keyword)
        if branches and not same_keyword(r, w, keyword):
            for branch in branches:
                subset(c, r, branch)
            return
    keywords.compare_keywords(c, r, w)


def same_keyword(r: Node, w: Node, keyword: str) -> bool:
    """Whether both schemas hold ``keyword`` with the same meaning (references followed),
    or both lack it."""
    if not isinstance(r.schema, dict) or not isinstance(w.schema, dict):
        return False
    if keyword not in r.schema or keyword not in w.schema:
        return keyword not in r.schema and keyword not in w.schema
    return same(child(r, keyword), child(w, keyword))


def _branches(w: Node, keyword: str) -> list[Node]:
    """Each branch of the writer's ``anyOf``/``oneOf`` joined with the writer's other rules."""
    if not isinstance(w.schema, dict) or not isinstance(w.schema.get(keyword), list):
        return []
    base = {k: v for k, v in w.schema.items() if k != keyword}
    return [
        merged(w, base, child(child(w, keyword), str(i))) for i in range(len(w.schema[keyword]))
    ]


def _flatten_all_of(w: Node) -> Node:
    """The writer with its ``allOf`` members joined in: every member holds of its instances."""
    if not isinstance(w.schema, dict) or not isinstance(w.schema.get("allOf"), list):
        return w
    base = {k: v for k, v in w.schema.items() if k != "allOf"}
    flat = Node(base, w.ptr, w.root)
    for i in range(len(w.schema["allOf"])):
        flat = merged(w, flat.schema, deref(child(child(w, "allOf"), str(i))))
    return flat


def _enumerated(c: Comparison, r: Node, w: Node) -> None:
    """A writer limited to listed values: check each value against the reader itself."""
    assert isinstance(w.schema, dict)
    if "const" in w.schema:
        values, where = [w.schema["const"]], "const"
    else:
        values = w.schema["enum"] if isinstance(w.schema["enum"], list) else []
        where = "enum"
    refused = [v for v in values if not c.accepts(r, v)]
    if refused:
        shown = ", ".join(repr(v) for v in refused[:5])
        c.report(r, child(w, where), f"values the writing schema allows are refused: {shown}")
