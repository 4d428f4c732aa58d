"""Subschemas with their place: the document they sit in and their JSON pointer there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from petrosa_core.metadata import canonical

# Keywords that constrain instances in draft-07; everything else (title, default, $comment,
# definitions, unknown keywords) is an annotation that no instance can fail.
ASSERTIONS = frozenset(
    {
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum",
        "exclusiveMinimum", "maxLength", "minLength", "pattern", "format", "items",
        "additionalItems", "maxItems", "minItems", "uniqueItems", "contains", "maxProperties",
        "minProperties", "required", "properties", "patternProperties", "additionalProperties",
        "dependencies", "propertyNames", "if", "allOf", "anyOf", "oneOf", "not", "$ref",
    }
)  # fmt: skip
# A chain of references longer than this is refused as unprovable (and is surely a loop).
MAX_REF_HOPS = 32


@dataclass(frozen=True)
class Node:
    """A subschema, its JSON pointer and the document its ``$ref``s resolve in."""

    schema: Any
    ptr: str
    root: Any
    # Built by joining schemas (``merged``): ``ptr`` then names where it came from, not it.
    synthetic: bool = False


def escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def child(node: Node, *tokens: str) -> Node:
    """The subschema under ``tokens``; ``True`` (anything goes) where there is none."""
    value, ptr = node.schema, node.ptr
    if node.synthetic:
        return Node(
            _walk(value, tokens),
            ptr + "".join("/" + escape(t) for t in tokens),
            node.root,
            synthetic=True,
        )
    for token in tokens:
        if isinstance(value, dict):
            value = value.get(token, True)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            value = True
        ptr += "/" + escape(token)
    return Node(value, ptr, node.root)


def _walk(value: Any, tokens: tuple[str, ...]) -> Any:
    for token in tokens:
        if isinstance(value, dict):
            value = value.get(token, True)
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return True
    return value


def is_true(schema: Any) -> bool:
    """Whether ``schema`` accepts every instance (``true``, ``{}``, or only annotations)."""
    if schema is True:
        return True
    return isinstance(schema, dict) and not (ASSERTIONS & schema.keys())


def resolve(root: Any, ref: str) -> tuple[Any, str] | None:
    """The subschema a local ``$ref`` (``#`` or ``#/a/b``) names, or None."""
    if not ref.startswith("#"):
        return None
    ptr = ref[1:]
    value = root
    for raw in ptr.split("/")[1:] if ptr else []:
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and token in value:
            value = value[token]
        elif isinstance(value, list) and token.isdigit() and int(token) < len(value):
            value = value[int(token)]
        else:
            return None
    return value, ptr


def deref(node: Node) -> Node:
    """Follow ``$ref`` (draft-07: its siblings are ignored) to the schema it names."""
    for _ in range(MAX_REF_HOPS):
        if not isinstance(node.schema, dict) or not isinstance(node.schema.get("$ref"), str):
            return node
        target = resolve(node.root, node.schema["$ref"])
        if target is None:
            return node  # left as is: check_schema refused unresolvable references
        node = Node(target[0], target[1], node.root)
    return Node(False, node.ptr, node.root)


def merged(at: Node, base: Any, extra: Node) -> Node:
    """A schema no narrower than ``base`` and ``extra`` both holding (their conjunction).

    ``required`` lists are joined, ``properties`` both kept, ``type`` intersected; any other
    keyword in both keeps ``extra``'s, which can only widen the result: a comparison that
    passes against it passes against the true conjunction.
    """
    if not isinstance(extra.schema, dict) or not isinstance(base, dict):
        return extra if is_true(base) else Node(base, at.ptr, at.root, synthetic=True)
    out = {**base, **extra.schema}
    if isinstance(base.get("required"), list) and isinstance(extra.schema.get("required"), list):
        out["required"] = sorted(set(base["required"]) | set(extra.schema["required"]))
    props_a, props_b = base.get("properties"), extra.schema.get("properties")
    if isinstance(props_a, dict) and isinstance(props_b, dict):
        out["properties"] = {
            name: {"allOf": [props_a[name], props_b[name]]}
            if name in props_a and name in props_b
            else props_a.get(name, props_b.get(name))
            for name in props_a.keys() | props_b.keys()
        }
    types_a, types_b = type_set(base), type_set(extra.schema)
    if "type" in base and "type" in extra.schema:
        out["type"] = sorted(_type_meet(types_a, types_b))
    return Node(out, extra.ptr, at.root, synthetic=True)


ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "integer", "string"})


def type_set(schema: Any) -> frozenset[str]:
    """The types a schema names (every type when it names none); integer is within number."""
    if not isinstance(schema, dict) or "type" not in schema:
        return ALL_TYPES
    named = schema["type"]
    found = frozenset([named] if isinstance(named, str) else named)
    return found | {"integer"} if "number" in found else found


def _type_meet(a: frozenset[str], b: frozenset[str]) -> frozenset[str]:
    return a & b


def same(a: Node, b: Node, depth: int = 0) -> bool:
    """Whether two subschemas mean the same, following each side's ``$ref``s."""
    if depth > MAX_REF_HOPS * 4:
        return False
    a, b = deref(a), deref(b)
    if isinstance(a.schema, dict) and isinstance(b.schema, dict):
        if a.schema.keys() != b.schema.keys():
            return False
        return all(same(child(a, k), child(b, k), depth + 1) for k in a.schema)
    if isinstance(a.schema, list) and isinstance(b.schema, list):
        if len(a.schema) != len(b.schema):
            return False
        return all(
            same(child(a, str(i)), child(b, str(i)), depth + 1) for i in range(len(a.schema))
        )
    same_kind = isinstance(a.schema, bool) == isinstance(b.schema, bool)
    return same_kind and bool(canonical(a.schema) == canonical(b.schema))
