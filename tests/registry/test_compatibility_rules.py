"""The compatibility table: every case under every mode, its witnesses, and transitive
modes over three-version histories."""

from __future__ import annotations

from typing import Any

import fastjsonschema
import pytest

from petrosa_api.registry import (
    CompatibilityMode,
    IncompatibleSchema,
    SchemaRegistry,
)
from petrosa_api.registry._compat import breaking_changes
from petrosa_api.registry._history import pair_changes
from tests.registry.compat_cases import CASES, NO_WITNESS, Case

MODES = list(CompatibilityMode)
# Every keyword the issue names, each used by at least one case.
KEYWORDS = {
    "additionalProperties", "patternProperties", "properties", "required", "type", "minimum",
    "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "enum",
    "const", "pattern", "multipleOf", "items", "additionalItems", "oneOf", "anyOf", "allOf",
    "not", "$ref", "minItems", "maxItems", "uniqueItems", "contains", "format", "if", "then",
    "dependencies", "propertyNames", "minProperties", "maxProperties", "definitions",
}  # fmt: skip


def expected(case: Case, mode: CompatibilityMode) -> bool:
    """Two versions only: a transitive mode asks the same as its plain one."""
    if mode is CompatibilityMode.NONE:
        return True
    return (case.backward or not mode.backward) and (case.forward or not mode.forward)


def keywords_in(schema: Any) -> set[str]:
    if isinstance(schema, list):
        return set().union(*(keywords_in(s) for s in schema)) if schema else set()
    if not isinstance(schema, dict):
        return set()
    return set(schema) | set().union(*(keywords_in(v) for v in schema.values()))


def accepts(schema: Any, value: Any) -> bool:
    try:
        fastjsonschema.compile(schema)(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


def test_the_table_has_100_cases_and_every_keyword() -> None:
    assert len(CASES) >= 100
    used = set().union(*(keywords_in(c.old) | keywords_in(c.new) for c in CASES))
    assert KEYWORDS - used == set()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
def test_verdict(case: Case, mode: CompatibilityMode) -> None:
    changes = pair_changes(mode, case.new, case.old, 1)
    assert (not changes) is expected(case, mode), [c["message"] for c in changes]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_breaking_verdict_is_witnessed_or_marked_conservative(case: Case) -> None:
    """A witness shows the break is real: the writer allows it, the reader refuses it."""
    for ok, witness, writer, reader in (
        (case.backward, case.backward_witness, case.old, case.new),
        (case.forward, case.forward_witness, case.new, case.old),
    ):
        if ok:
            assert witness is NO_WITNESS
        elif witness is NO_WITNESS:
            assert case.conservative
        else:
            assert accepts(writer, witness) and not accepts(reader, witness)


POOL: list[Any] = [
    None, True, False, 0, 1, -1, 1.5, 0.5, 3, 10, 15, 100, "", "a", "b", "btc", "BTC", "abcdefg",
    "a@b.co", "1.2.3.4", "2026-01-02T03:04:05Z", [], [1], [1.5], [1, 1], [1, "a"], [1, "a", 2],
    [1, 2, 3], ["x"], ["y"], {}, {"a": 1}, {"a": 1.5}, {"a": "x"}, {"a": None}, {"b": "x"},
    {"a": 1, "b": 2}, {"a": 1, "b": "x"}, {"z": 1}, {"x_a": "v"}, {"x_a": 1}, {"n_a": 1},
    {"s_a": "v"}, {"p": 1}, {"kind": "a", "x": 1}, {"kind": "b", "y": "s"}, {"kind": "c"},
    {"o": {}}, {"o": {"x": 1}}, {"o": {"x": 1.5}}, {"x": 1}, {"x": 1.5}, {"k": "a"},
    {"k": "a", "x": 1}, {"children": [{"value": 1.5}]}, {"children": [{"value": 1}]},
    {"self": {"self": {}}}, {"ab": 1}, {"abcd": 1},
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_a_compatible_verdict_holds_for_every_sample(case: Case) -> None:
    """Whatever the engine calls compatible, no sample contradicts (a soundness check)."""
    witnesses = [w for w in (case.backward_witness, case.forward_witness) if w is not NO_WITNESS]
    for reader, writer in ((case.new, case.old), (case.old, case.new)):
        if breaking_changes(reader, writer):
            continue
        for value in POOL + witnesses:
            if accepts(writer, value):
                assert accepts(reader, value), value


@pytest.mark.parametrize("case", [c for c in CASES if not (c.backward and c.forward)][:40])
def test_every_breaking_change_points_into_the_new_schema(case: Case) -> None:
    """The pointer names the keyword's place in the new schema (its parent exists there)."""
    for change in pair_changes(CompatibilityMode.FULL, case.new, case.old, 1):
        parent = change["pointer"].rsplit("/", 1)[0]
        node = case.new
        for token in [t.replace("~1", "/").replace("~0", "~") for t in parent.split("/")[1:]]:
            node = node[int(token)] if isinstance(node, list) else node[token]
        assert isinstance(node, dict | list | bool), change


# Transitive modes: v1, then v2 registered under NONE, then a candidate v3 that the latest
# version accepts and the first does not.
TRANSITIVE = [
    (CompatibilityMode.BACKWARD, {"type": "integer"}, {"type": "string"},
     {"type": ["string", "null"]}),
    (CompatibilityMode.FORWARD, {"type": "integer"}, {"type": ["string", "null"]},
     {"type": "string"}),
    (CompatibilityMode.FULL, {"type": "integer"}, {"type": "string"},
     {"type": "string", "title": "v3"}),
]  # fmt: skip


@pytest.mark.parametrize(("plain", "v1", "v2", "v3"), TRANSITIVE, ids=lambda v: str(v)[:20])
async def test_transitive_modes_check_every_version(
    registry: SchemaRegistry, plain: CompatibilityMode, v1: Any, v2: Any, v3: Any
) -> None:
    transitive = CompatibilityMode(f"{plain.value}_TRANSITIVE")
    await registry.register("mongodb", "t", v1, compatibility=CompatibilityMode.NONE)
    await registry.register("mongodb", "t", v2)
    with pytest.raises(IncompatibleSchema) as refused:
        await registry.register("mongodb", "t", v3, compatibility=transitive)
    assert {c["version"] for c in refused.value.details["breaking_changes"]} == {1}
    accepted = await registry.register("mongodb", "t", v3, compatibility=plain)
    assert (accepted.created, accepted.record.version) == (True, 3)


async def test_transitive_modes_skip_deprecated_versions(registry: SchemaRegistry) -> None:
    await registry.register(
        "mongodb", "t", {"type": "integer"}, compatibility=CompatibilityMode.NONE
    )
    await registry.register("mongodb", "t", {"type": "string"})
    await registry.update("mongodb", "t", 1, status="deprecated")
    mode = CompatibilityMode.BACKWARD_TRANSITIVE
    done = await registry.register("mongodb", "t", {"type": ["string", "null"]}, compatibility=mode)
    assert done.record.version == 3


async def test_a_compatible_chain_passes_every_transitive_mode(registry: SchemaRegistry) -> None:
    versions = [{"type": "object", "title": f"v{i}"} for i in range(1, 4)]
    for mode in (CompatibilityMode.FULL_TRANSITIVE,):
        for document in versions:
            await registry.register("mysql", "chain", document, compatibility=mode)
    assert [v.version for v in await registry.versions("mysql", "chain")] == [1, 2, 3]


def test_a_schema_built_to_explode_the_comparison_is_refused_not_computed() -> None:
    """400 x 400 overlapping branches: past the pair budget the answer is "unprovable"."""
    many = {"anyOf": [{"type": "string", "maxLength": n} for n in range(400)]}
    wide = {"oneOf": [{"type": "string", "minLength": n} for n in range(400)]}
    changes = breaking_changes(wide, many)
    assert changes
    assert any("subschema pairs to compare" in c.message for c in changes)
