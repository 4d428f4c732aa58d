# ruff: noqa: E501 - one case a line reads as a table
"""The compatibility rules as a table: (old schema, new schema, does the new read the old
(backward), does the old read the new (forward)), written from the rules, not from the
engine. A breaking verdict carries a witness where one exists: an instance the writing
schema allows and the reading schema refuses. ``conservative`` marks a change that may be
safe but cannot be proven so, which the registry reports as breaking on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

NO_WITNESS = object()


@dataclass(frozen=True)
class Case:
    id: str
    old: Any
    new: Any
    backward: bool
    forward: bool
    # Valid under old, invalid under new (breaks backward) / valid under new, not old.
    backward_witness: Any = NO_WITNESS
    forward_witness: Any = NO_WITNESS
    conservative: bool = False


def obj(properties: dict[str, Any], required: tuple[str, ...] = (), **more: Any) -> Any:
    return {"type": "object", "properties": properties, "required": list(required), **more}


S, INT, N = {"type": "string"}, {"type": "integer"}, {"type": "number"}
NULL_S = {"type": ["string", "null"]}
CLOSED = {"additionalProperties": False}
TREE = {
    "definitions": {
        "node": {
            "type": "object",
            "properties": {
                "value": N,
                "children": {"type": "array", "items": {"$ref": "#/definitions/node"}},
            },
        }
    },
    "$ref": "#/definitions/node",
}
TREE_INT = {
    "definitions": {
        "node": {
            "type": "object",
            "properties": {
                "value": INT,
                "children": {"type": "array", "items": {"$ref": "#/definitions/node"}},
            },
        }
    },
    "$ref": "#/definitions/node",
}
KIND_A = obj({"kind": {"const": "a"}, "x": INT}, ("kind",))
KIND_B = obj({"kind": {"const": "b"}, "y": S}, ("kind",))
KIND_C = obj({"kind": {"const": "c"}}, ("kind",))

CASES: list[Case] = [
    # Types: integer to number widens, number to integer narrows
    Case("type-same", INT, INT, True, True),
    Case("type-integer-to-number", INT, N, True, False, forward_witness=1.5),
    Case("type-number-to-integer", N, INT, False, True, backward_witness=1.5),
    Case("type-add-null", S, NULL_S, True, False, forward_witness=None),
    Case("type-remove-null", NULL_S, S, False, True, backward_witness=None),
    Case("type-string-to-integer", S, INT, False, False, "a", 1),
    Case("type-added", {}, S, False, True, backward_witness=1),
    Case("type-removed", S, {}, True, False, forward_witness=1),
    Case("type-list-form", {"type": "boolean"}, {"type": ["boolean"]}, True, True),
    Case("type-number-multiple-of-1-to-integer", {"type": "number", "multipleOf": 1}, INT, True, True),
    Case("type-integer-to-number-multiple-of-1", INT, {"type": "number", "multipleOf": 1}, True, True),
    Case("type-object-to-array", {"type": "object"}, {"type": "array"}, False, False, {}, []),
    # Numeric bounds
    Case("minimum-added", N, {**N, "minimum": 0}, False, True, backward_witness=-1),
    Case("minimum-removed", {**N, "minimum": 0}, N, True, False, forward_witness=-1),
    Case("minimum-raised", {**N, "minimum": 0}, {**N, "minimum": 5}, False, True, 1),
    Case("minimum-lowered", {**N, "minimum": 5}, {**N, "minimum": 0}, True, False, forward_witness=1),
    Case("maximum-raised", {**N, "maximum": 10}, {**N, "maximum": 20}, True, False, forward_witness=15),
    Case("maximum-lowered", {**N, "maximum": 20}, {**N, "maximum": 10}, False, True, 15),
    Case("minimum-made-exclusive", {**N, "minimum": 0}, {**N, "exclusiveMinimum": 0}, False, True, 0),
    Case("exclusive-minimum-made-inclusive", {**N, "exclusiveMinimum": 0}, {**N, "minimum": 0}, True, False, forward_witness=0),
    Case("integer-exclusive-0-to-minimum-1", {**INT, "exclusiveMinimum": 0}, {**INT, "minimum": 1}, True, True),
    Case("integer-minimum-1-to-exclusive-0", {**INT, "minimum": 1}, {**INT, "exclusiveMinimum": 0}, True, True),
    Case("number-exclusive-0-to-minimum-1", {**N, "exclusiveMinimum": 0}, {**N, "minimum": 1}, False, True, 0.5),
    Case("exclusive-maximum-made-inclusive", {**N, "exclusiveMaximum": 10}, {**N, "maximum": 10}, True, False, forward_witness=10),
    Case("integer-maximum-tightened-by-fraction", {**INT, "maximum": 10}, {**INT, "maximum": 10.5}, True, True),
    Case("multiple-of-added", N, {**N, "multipleOf": 2}, False, True, backward_witness=3),
    Case("multiple-of-2-to-4", {**N, "multipleOf": 2}, {**N, "multipleOf": 4}, False, True, 2),
    Case("multiple-of-4-to-2", {**N, "multipleOf": 4}, {**N, "multipleOf": 2}, True, False, forward_witness=2),
    Case("multiple-of-0.1-to-0.2", {**N, "multipleOf": 0.1}, {**N, "multipleOf": 0.2}, False, True, 0.5),
    Case("integer-gains-multiple-of-half", INT, {**INT, "multipleOf": 0.5}, True, True),
    Case("multiple-of-3-to-1.5", {**N, "multipleOf": 3}, {**N, "multipleOf": 1.5}, True, False, forward_witness=1.5),
    # Strings
    Case("min-length-added", S, {**S, "minLength": 1}, False, True, ""),
    Case("min-length-removed", {**S, "minLength": 1}, S, True, False, forward_witness=""),
    Case("max-length-lowered", {**S, "maxLength": 10}, {**S, "maxLength": 5}, False, True, "abcdefg"),
    Case("max-length-raised", {**S, "maxLength": 5}, {**S, "maxLength": 10}, True, False, forward_witness="abcdefg"),
    Case("max-length-removed", {**S, "maxLength": 5}, S, True, False, forward_witness="abcdefg"),
    Case("pattern-added", S, {**S, "pattern": "^[A-Z]+$"}, False, True, "btc"),
    Case("pattern-removed", {**S, "pattern": "^[A-Z]+$"}, S, True, False, forward_witness="btc"),
    Case("pattern-widened", {**S, "pattern": "^a"}, {**S, "pattern": "^[ab]"}, False, False, conservative=True, forward_witness="b"),
    Case("pattern-same", {**S, "pattern": "^a"}, {**S, "pattern": "^a"}, True, True),
    Case("format-added", S, {**S, "format": "date-time"}, False, True, "yesterday"),
    Case("format-unknown-added", S, {**S, "format": "colour"}, True, True),
    Case("format-removed", {**S, "format": "email"}, S, True, False, forward_witness="nobody"),
    Case("format-changed", {**S, "format": "email"}, {**S, "format": "ipv4"}, False, False, "a@b.co", "1.2.3.4"),
    # Enum and const
    Case("enum-value-added", {"enum": ["a", "b"]}, {"enum": ["a", "b", "c"]}, True, False, forward_witness="c"),
    Case("enum-value-removed", {"enum": ["a", "b", "c"]}, {"enum": ["a", "b"]}, False, True, "c"),
    Case("enum-reordered", {"enum": ["a", "b"]}, {"enum": ["b", "a"]}, True, True),
    Case("const-to-enum", {"const": "a"}, {"enum": ["a", "b"]}, True, False, forward_witness="b"),
    Case("enum-of-one-to-const", {"enum": ["a"]}, {"const": "a"}, True, True),
    Case("enum-added-to-string", S, {**S, "enum": ["a"]}, False, True, "b"),
    Case("enum-removed-from-string", {**S, "enum": ["a"]}, S, True, False, forward_witness="b"),
    Case("const-1-to-1.0", {"const": 1}, {"const": 1.0}, True, True),
    Case("enum-to-integer-range", {"enum": [1, 2]}, {**INT, "minimum": 1}, True, False, forward_witness=3),
    Case("integer-range-to-enum", {**INT, "minimum": 1, "maximum": 2}, {"enum": [1, 2]}, False, True, conservative=True),
    Case("const-added-to-property", obj({"v": S}), obj({"v": {**S, "const": "x"}}), False, True, {"v": "y"}),
    Case("enum-with-object-values", {"enum": [{"a": 1}]}, {"enum": [{"a": 1}, {"a": 2}]}, True, False, forward_witness={"a": 2}),
    # Objects under an open content model
    Case("open-unconstrained-property-added", obj({"a": INT}), obj({"a": INT, "b": {}}), True, True),
    Case("open-typed-property-added", obj({"a": INT}), obj({"a": INT, "b": S}), False, True, {"a": 1, "b": 2}),
    Case("open-typed-property-removed", obj({"a": INT, "b": S}), obj({"a": INT}), True, False, forward_witness={"b": 2}),
    Case("required-property-added", obj({"a": INT}), obj({"a": INT, "b": S}, ("b",)), False, True, {"a": 1}),
    Case("required-made-optional", obj({"a": INT}, ("a",)), obj({"a": INT}), True, False, forward_witness={}),
    Case("required-property-removed", obj({"a": INT, "b": S}, ("b",)), obj({"a": INT}), True, False, forward_witness={}),
    Case("property-made-nullable", obj({"a": S}), obj({"a": NULL_S}), True, False, forward_witness={"a": None}),
    Case("property-integer-to-number", obj({"a": INT}), obj({"a": N}), True, False, forward_witness={"a": 1.5}),
    Case("nested-required-added", obj({"o": obj({"x": INT})}), obj({"o": obj({"x": INT}, ("x",))}), False, True, {"o": {}}),
    Case("nested-property-narrowed", obj({"o": obj({"x": N})}), obj({"o": obj({"x": INT})}), False, True, {"o": {"x": 1.5}}),
    Case("min-properties-added", {"type": "object"}, {"type": "object", "minProperties": 1}, False, True, {}),
    Case("max-properties-lowered", {"type": "object", "maxProperties": 5}, {"type": "object", "maxProperties": 3}, False, True, {"a": 1, "b": 2, "c": 3, "d": 4}),
    Case("property-names-added", {"type": "object"}, {"type": "object", "propertyNames": {"maxLength": 3}}, False, True, {"abcd": 1}),
    Case("dependencies-added", obj({"a": INT, "b": INT}), obj({"a": INT, "b": INT}, dependencies={"a": ["b"]}), False, True, {"a": 1}),
    Case("dependencies-removed", obj({"a": INT, "b": INT}, dependencies={"a": ["b"]}), obj({"a": INT, "b": INT}), True, False, forward_witness={"a": 1}),
    Case("dependencies-already-required", obj({"a": INT, "b": INT}, ("a", "b")), obj({"a": INT, "b": INT}, ("a", "b"), dependencies={"a": ["b"]}), True, True),
    Case("schema-dependency-added", obj({"a": INT}), obj({"a": INT}, dependencies={"a": {"required": ["b"]}}), False, True, {"a": 1}),
    # Closed content models (additionalProperties: false)
    Case("closed-property-added", obj({"a": INT}, **CLOSED), obj({"a": INT, "b": S}, **CLOSED), True, False, forward_witness={"b": "x"}),
    Case("closed-property-removed", obj({"a": INT, "b": S}, **CLOSED), obj({"a": INT}, **CLOSED), False, True, {"b": "x"}),
    Case("model-closed", obj({"a": INT}), obj({"a": INT}, **CLOSED), False, True, {"z": 1}),
    Case("model-opened", obj({"a": INT}, **CLOSED), obj({"a": INT}), True, False, forward_witness={"z": 1}),
    Case("closed-same", obj({"a": INT}, **CLOSED), obj({"a": INT}, **CLOSED), True, True),
    Case("additional-schema-widened", obj({}, additionalProperties=S), obj({}, additionalProperties=NULL_S), True, False, forward_witness={"z": None}),
    Case("additional-schema-added", obj({}), obj({}, additionalProperties=S), False, True, {"z": 1}),
    Case("closed-required-property-added", obj({"a": INT}, **CLOSED), obj({"a": INT, "b": S}, ("b",), **CLOSED), False, False, {}, {"b": "x"}),
    Case("closed-property-widened", obj({"a": INT}, **CLOSED), obj({"a": N}, **CLOSED), True, False, forward_witness={"a": 1.5}),
    Case("closed-writer-property-names", obj({"ab": INT}, **CLOSED), obj({"ab": INT}, propertyNames={"pattern": "^[a-z]+$"}, **CLOSED), True, True),
    Case("property-false-to-true", obj({"p": False}), obj({"p": True}), True, False, forward_witness={"p": 1}),
    Case("property-true-to-false", obj({"p": True}), obj({"p": False}), False, True, {"p": 1}),
    # patternProperties
    Case("pattern-property-added-open", obj({}), obj({}, patternProperties={"^x_": S}), False, True, {"x_a": 1}),
    Case("pattern-property-removed-open", obj({}, patternProperties={"^x_": S}), obj({}), True, False, forward_witness={"x_a": 1}),
    Case("closed-pattern-removed", obj({}, patternProperties={"^x_": S}, **CLOSED), obj({}, **CLOSED), False, True, {"x_a": "v"}),
    Case("closed-pattern-added", obj({}, **CLOSED), obj({}, patternProperties={"^x_": S}, **CLOSED), True, False, forward_witness={"x_a": "v"}),
    Case("pattern-property-widened", obj({}, patternProperties={"^x_": S}), obj({}, patternProperties={"^x_": NULL_S}), True, False, forward_witness={"x_a": None}),
    Case("pattern-properties-disjoint-same", obj({}, patternProperties={"^s_": S, "^n_": N}, **CLOSED), obj({}, patternProperties={"^s_": S, "^n_": N}, **CLOSED), True, True),
    Case("closed-disjoint-pattern-added", obj({}, patternProperties={"^s_": S}, **CLOSED), obj({}, patternProperties={"^s_": S, "^n_": N}, **CLOSED), True, False, forward_witness={"n_a": 1}),
    Case("listed-property-falls-under-pattern", obj({"x_a": S}, **CLOSED), obj({}, patternProperties={"^x_": S}, **CLOSED), True, False, forward_witness={"x_b": "v"}),
    # Arrays: items, tuples, bounds
    Case("items-integer-to-number", {"type": "array", "items": INT}, {"type": "array", "items": N}, True, False, forward_witness=[1.5]),
    Case("items-number-to-integer", {"type": "array", "items": N}, {"type": "array", "items": INT}, False, True, [1.5]),
    Case("items-added", {"type": "array"}, {"type": "array", "items": S}, False, True, [1]),
    Case("min-items-added", {"type": "array"}, {"type": "array", "minItems": 1}, False, True, []),
    Case("max-items-lowered", {"type": "array", "maxItems": 10}, {"type": "array", "maxItems": 5}, False, True, [1] * 7),
    Case("unique-items-added", {"type": "array"}, {"type": "array", "uniqueItems": True}, False, True, [1, 1]),
    Case("unique-items-removed", {"type": "array", "uniqueItems": True}, {"type": "array"}, True, False, forward_witness=[1, 1]),
    Case("tuple-place-added-open", {"type": "array", "items": [INT, S]}, {"type": "array", "items": [INT, S, N]}, False, True, [1, "a", "b"]),
    Case("tuple-place-added-to-closed", {"type": "array", "items": [INT, S], "additionalItems": False}, {"type": "array", "items": [INT, S, N]}, True, False, forward_witness=[1, "a", 2]),
    Case("tuple-to-list", {"type": "array", "items": [N, N], "additionalItems": False}, {"type": "array", "items": N}, True, False, forward_witness=[1, 2, 3]),
    Case("list-to-tuple", {"type": "array", "items": N}, {"type": "array", "items": [N, N], "additionalItems": False}, False, True, [1, 2, 3]),
    Case("pair-as-tuple-or-bounded-list", {"type": "array", "items": [N, N], "additionalItems": False, "minItems": 2, "maxItems": 2}, {"type": "array", "items": N, "minItems": 2, "maxItems": 2}, True, True),
    Case("tuple-place-narrowed", {"type": "array", "items": [N]}, {"type": "array", "items": [INT]}, False, True, [1.5]),
    Case("contains-added", {"type": "array"}, {"type": "array", "contains": {"const": "x"}}, False, True, ["y"]),
    Case("contains-removed", {"type": "array", "contains": {"const": "x"}}, {"type": "array"}, True, False, forward_witness=[]),
    Case("items-false-to-true", {"type": "array", "items": False}, {"type": "array", "items": True}, True, False, forward_witness=[1]),
    # anyOf, oneOf, allOf, not, if/then/else
    Case("any-of-branch-added", {"anyOf": [S, INT]}, {"anyOf": [S, INT, {"type": "null"}]}, True, False, forward_witness=None),
    Case("any-of-branch-removed", {"anyOf": [S, INT, {"type": "null"}]}, {"anyOf": [S, INT]}, False, True, None),
    Case("type-to-any-of", S, {"anyOf": [S, INT]}, True, False, forward_witness=1),
    Case("one-of-same", {"oneOf": [S, INT]}, {"oneOf": [S, INT]}, True, True),
    Case("one-of-integer-to-number", {"oneOf": [S, INT]}, {"oneOf": [S, N]}, True, False, forward_witness=1.5),
    Case("one-of-overlapping", INT, {"oneOf": [N, INT]}, False, False, 1, 1.5),
    Case("one-of-discriminated-branch-added", {"oneOf": [KIND_A, KIND_B]}, {"oneOf": [KIND_A, KIND_B, KIND_C]}, True, False, forward_witness={"kind": "c"}),
    Case("one-of-discriminated-branch-removed", {"oneOf": [KIND_A, KIND_B, KIND_C]}, {"oneOf": [KIND_A, KIND_B]}, False, True, {"kind": "c"}),
    Case("all-of-flattened", {"allOf": [{"minimum": 0}, {"maximum": 10}]}, {"minimum": 0, "maximum": 10}, True, True),
    Case("all-of-member-added", {"allOf": [{"type": "object"}]}, {"allOf": [{"type": "object"}, {"required": ["a"]}]}, False, True, {}),
    Case("all-of-objects-split", obj({"a": INT}, ("a",)), {"allOf": [obj({"a": INT}), {"required": ["a"]}]}, True, True),
    Case("not-added", {}, {"not": {"type": "null"}}, False, True, None),
    Case("not-widened", {"not": {"type": "null"}}, {"not": {"type": ["null", "string"]}}, False, True, "a"),
    Case("not-narrowed", {"not": {"type": ["null", "string"]}}, {"not": {"type": "null"}}, True, False, forward_witness="a"),
    Case("if-then-same", {"if": obj({"k": {"const": "a"}}), "then": {"required": ["x"]}}, {"if": obj({"k": {"const": "a"}}), "then": {"required": ["x"]}}, True, True),
    Case("if-then-added", {"type": "object"}, {"type": "object", "if": obj({"k": {"const": "a"}}, ("k",)), "then": {"required": ["x"]}}, False, True, {"k": "a"}),
    Case("if-always-true-then-implied", obj({"x": INT}, ("x",)), {"if": {"type": "object"}, "then": {"required": ["x"]}}, True, False, forward_witness=1),
    # $ref inside the document
    Case("ref-definition-widened", {"definitions": {"p": INT}, "properties": {"x": {"$ref": "#/definitions/p"}}}, {"definitions": {"p": N}, "properties": {"x": {"$ref": "#/definitions/p"}}}, True, False, forward_witness={"x": 1.5}),
    Case("ref-definition-narrowed", {"definitions": {"p": N}, "properties": {"x": {"$ref": "#/definitions/p"}}}, {"definitions": {"p": INT}, "properties": {"x": {"$ref": "#/definitions/p"}}}, False, True, {"x": 1.5}),
    Case("ref-versus-inline", obj({"p": INT}), {**obj({"p": {"$ref": "#/definitions/i"}}), "definitions": {"i": INT}}, True, True),
    Case("ref-recursive-same", TREE, TREE, True, True),
    Case("ref-recursive-narrowed", TREE, TREE_INT, False, True, {"children": [{"value": 1.5}]}),
    Case("ref-siblings-ignored", {"definitions": {"s": S}, "$ref": "#/definitions/s"}, {"definitions": {"s": S}, "$ref": "#/definitions/s", "maxLength": 1}, True, True),
    Case("ref-to-root", {"type": "object", "properties": {"self": {"$ref": "#"}}}, {"type": "object", "properties": {"self": {"$ref": "#"}}}, True, True),
    # Annotations and unknown keywords change nothing
    Case("unknown-keyword-added", obj({"a": INT}), obj({"a": {**INT, "x-unit": "usd"}}), True, True),
    Case("title-and-description", obj({"a": INT}, title="v1"), obj({"a": {**INT, "description": "id"}}, title="v2"), True, True),
    Case("default-and-examples", INT, {**INT, "default": 1, "examples": [2]}, True, True),
    Case("true-to-false-root", True, False, False, True, 1),
]  # fmt: skip
