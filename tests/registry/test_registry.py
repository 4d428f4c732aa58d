"""The registry as other API code uses it: register versions, validate records, race."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from petrosa_api.errors import ApiError
from petrosa_api.registry import (
    CompatibilityMode,
    IncompatibleSchema,
    RecordError,
    RecordErrors,
    RegistryOptions,
    SchemaRegistry,
    SchemaRejected,
    UnknownDatabase,
    UnknownSchema,
    VersionLimit,
)
from petrosa_core.metadata import MetadataStore

ORDER: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "side": {"enum": ["BUY", "SELL"]},
        "fills": {"type": "array", "items": {"type": "number", "minimum": 0}},
    },
    "required": ["id", "side"],
}


async def test_every_error_of_every_invalid_record_has_its_pointer(
    registry: SchemaRegistry,
) -> None:
    await registry.register("mysql", "order", ORDER)
    records = [
        {"id": 1, "side": "BUY", "fills": [1.5]},
        {"id": "7", "side": "HOLD", "fills": [2, -1, "x"]},
        {"side": "SELL"},
    ]
    invalid = await registry.validate("mysql", "order", records)
    assert [e.index for e in invalid] == [1, 2]
    assert [(e.pointer, e.keyword) for e in invalid[0].errors] == [
        ("/id", "type"), ("/side", "enum"), ("/fills/1", "minimum"), ("/fills/2", "type"),
    ]  # fmt: skip
    assert invalid[1] == RecordErrors(
        2, [RecordError("", '"id" is a required property', "required", "/required")]
    )


async def test_validation_names_a_version_or_takes_the_current_one(
    registry: SchemaRegistry,
) -> None:
    await registry.register("mysql", "order", ORDER)
    loose = {**ORDER, "required": ["id"]}
    await registry.register("mysql", "order", loose)
    assert await registry.validate("mysql", "order", [{"id": 1}]) == []
    assert [e.index for e in await registry.validate("mysql", "order", [{"id": 1}], 1)] == [0]
    await registry.update("mysql", "order", 2, status="deprecated")
    assert [e.index for e in await registry.validate("mysql", "order", [{"id": 1}])] == [0]


async def test_unknown_schemas_versions_and_databases_are_clear_errors(
    registry: SchemaRegistry,
) -> None:
    with pytest.raises(UnknownSchema, match="mysql/order is registered"):
        await registry.validate("mysql", "order", [{}])
    await registry.register("mysql", "order", ORDER)
    with pytest.raises(UnknownSchema, match="mysql/order version 9"):
        await registry.validate("mysql", "order", [{}], 9)
    with pytest.raises(UnknownSchema):
        await registry.validate("mongodb", "order", [{}])
    with pytest.raises(UnknownDatabase):
        await registry.validate("postgres", "order", [{}])


async def test_an_identical_schema_answers_its_existing_version(
    registry: SchemaRegistry,
) -> None:
    first = await registry.register("mysql", "order", ORDER)
    await registry.register("mysql", "order", {**ORDER, "required": ["id"]})
    # Same document, keys in another order and 1.0 for 1: still version 1.
    again = await registry.register("mysql", "order", dict(reversed(list(ORDER.items()))))
    assert (first.created, again.created, again.record.version) == (True, False, 1)
    assert [v.version for v in await registry.versions("mysql", "order")] == [1, 2]


async def test_an_incompatible_version_is_refused_with_its_breaking_changes(
    registry: SchemaRegistry,
) -> None:
    await registry.register("mysql", "order", ORDER)
    narrower = {**ORDER, "required": ["id", "side", "fills"]}
    with pytest.raises(IncompatibleSchema) as refused:
        await registry.register("mysql", "order", narrower)
    assert refused.value.status == 409
    assert refused.value.details is not None
    [change] = refused.value.details["breaking_changes"]
    assert (change["direction"], change["pointer"], change["version"]) == (
        "BACKWARD", "/required", 1
    )  # fmt: skip
    assert "'fills' is required" in change["message"]
    assert [v.version for v in await registry.versions("mysql", "order")] == [1]


async def test_a_name_given_a_mode_keeps_it(registry: SchemaRegistry) -> None:
    await registry.register("mysql", "order", ORDER, compatibility=CompatibilityMode.NONE)
    changed = await registry.register("mysql", "order", {"type": "string"})
    assert (changed.created, changed.mode) == (True, CompatibilityMode.NONE)
    assert await registry.mode_of("mysql", "order") is CompatibilityMode.NONE
    assert await registry.mode_of("mysql", "other") is CompatibilityMode.BACKWARD


@pytest.mark.parametrize(
    ("document", "pointer", "says"),
    [
        ({"type": "nosuchtype"}, "/type", "meta-schema"),
        ({"properties": {"a": {"minimum": "0"}}}, "/properties/a/minimum", "meta-schema"),
        ({"required": "id"}, "/required", "meta-schema"),
        ({"$schema": "https://json-schema.org/draft/2020-12/schema"}, "/$schema", "draft-07"),
        ({"$ref": "https://example.com/order.json"}, "", "only refs inside the document"),
        ({"pattern": "("}, "/pattern", "meta-schema"),
        (["not", "an", "object"], "", "JSON object"),
    ],
)
async def test_a_schema_the_meta_schema_refuses_is_a_422_that_says_why(
    registry: SchemaRegistry, document: Any, pointer: str, says: str
) -> None:
    with pytest.raises(SchemaRejected) as refused:
        await registry.register("mysql", "bad", document)
    assert refused.value.status == 422
    assert refused.value.details == {"pointer": pointer}
    assert says in refused.value.message
    with pytest.raises(UnknownSchema):
        await registry.versions("mysql", "bad")


async def test_unknown_keywords_are_allowed_unless_strict(metadata: MetadataStore) -> None:
    document = {"type": "object", "x-owner": "risk", "properties": {"a": {"unit": "usd"}}}
    lenient = SchemaRegistry(metadata, RegistryOptions())
    assert (await lenient.register("mysql", "lenient", document)).created
    strict = SchemaRegistry(metadata, RegistryOptions(strict=True))
    with pytest.raises(SchemaRejected) as refused:
        await strict.register("mysql", "strict", document)
    assert refused.value.details == {"pointer": "/x-owner"}
    with pytest.raises(SchemaRejected, match="format 'colour'"):
        await strict.register("mysql", "strict", {"type": "string", "format": "colour"})


async def test_names_are_checked(registry: SchemaRegistry) -> None:
    for name in ("", "a/b", "../x", "x" * 129, "é"):
        with pytest.raises(ApiError) as refused:
            await registry.register("mysql", name, ORDER)
        assert refused.value.code == "bad_schema_name"


async def test_versions_stop_at_the_maximum(metadata: MetadataStore) -> None:
    capped = SchemaRegistry(metadata, RegistryOptions(max_versions=2))
    await capped.register("mysql", "order", ORDER)
    await capped.register("mysql", "order", {**ORDER, "title": "two"})
    with pytest.raises(VersionLimit):
        await capped.register("mysql", "order", {**ORDER, "title": "three"})
    # An identical document still answers its version.
    assert (await capped.register("mysql", "order", ORDER)).record.version == 1


async def test_concurrent_registrations_get_consecutive_versions(
    metadata_url: str,
) -> None:
    """Eight tasks over four replicas' stores register one name at once."""
    stores = [await MetadataStore.open(metadata_url) for _ in range(4)]
    registries = [SchemaRegistry(s, RegistryOptions()) for s in stores]
    try:
        done = await asyncio.gather(
            *(
                registries[i % 4].register("mongodb", "candle", {**ORDER, "title": f"t{i}"})
                for i in range(8)
            )
        )
        stored = await registries[0].versions("mongodb", "candle")
    finally:
        for s in stores:
            await s.close()
    assert sorted(r.record.version for r in done) == list(range(1, 9))
    assert [v.version for v in stored] == list(range(1, 9))
    assert {v.document["title"] for v in stored} == {f"t{i}" for i in range(8)}


async def test_auto_register_infers_a_schema_from_the_records(metadata: MetadataStore) -> None:
    records = [{"id": 1, "price": 1.5, "tags": ["a"]}, {"id": 2, "price": 2, "note": None}]
    auto = SchemaRegistry(metadata, RegistryOptions(auto_register=True))
    assert await auto.validate("mongodb", "fills", records) == []
    [version] = await auto.versions("mongodb", "fills")
    assert version.document["required"] == ["id", "price"]
    invalid = await auto.validate("mongodb", "fills", [{"id": "x", "price": 1}])
    assert [e.pointer for e in invalid[0].errors] == ["/id"]
    plain = SchemaRegistry(metadata, RegistryOptions())
    with pytest.raises(UnknownSchema):
        await plain.validate("mongodb", "other", records)


async def test_switched_off_validation_checks_nothing(metadata: MetadataStore) -> None:
    await SchemaRegistry(metadata, RegistryOptions()).register("mysql", "order", ORDER)
    off = SchemaRegistry(metadata, RegistryOptions(validation_enabled=False))
    assert await off.validate("mysql", "order", [{"id": "wrong"}]) == []
    with pytest.raises(UnknownSchema):
        await off.validate("mysql", "missing", [{}])


async def test_the_cache_counts_hits_misses_compilations_and_evictions(
    metadata: MetadataStore,
) -> None:
    now = [0.0]
    registry = SchemaRegistry(metadata, RegistryOptions(cache_ttl=10), clock=lambda: now[0])
    await registry.register("mysql", "order", ORDER)
    for _ in range(3):
        await registry.validate("mysql", "order", [{"id": 1, "side": "BUY"}], 1)
    stats = registry.cache_stats()
    assert (stats["hits"], stats["misses"], stats["compilations"]) == (2, 1, 1)
    now[0] = 11.0  # past the TTL: the entry is evicted and compiled again
    await registry.validate("mysql", "order", [{"id": 1, "side": "BUY"}], 1)
    stats = registry.cache_stats()
    assert (stats["misses"], stats["compilations"], stats["evictions"]) == (2, 2, 1)
    assert registry.clear() == 1
    assert registry.cache_stats()["entries"] == 0


async def test_a_large_batch_keeps_each_record_s_index(registry: SchemaRegistry) -> None:
    await registry.register("mysql", "order", ORDER)
    records: list[Any] = [{"id": i, "side": "BUY"} for i in range(2500)]
    for bad in (5, 1500, 2499):
        records[bad] = {"id": str(bad), "side": "BUY"}
    invalid = await registry.validate("mysql", "order", records)
    assert [(e.index, e.errors[0].pointer) for e in invalid] == [
        (5, "/id"), (1500, "/id"), (2499, "/id")
    ]  # fmt: skip
