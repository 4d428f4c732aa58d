"""GET /catalog/*: datasets with their range and health, record schemas and lineage."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Path, Query
from starlette.responses import Response

from petrosa_api import examples
from petrosa_api.api.deps import CatalogDep, MetadataDep, read_access
from petrosa_api.dataset_catalog import parse_dataset_id
from petrosa_api.errors import ApiError
from petrosa_api.formats import json_response
from petrosa_api.health_figures import render
from petrosa_api.registry_requests import render_version
from petrosa_api.rows import SHAPES, type_name
from petrosa_api.schemas import Interval, Item, Listing, SymbolFilter, documented
from petrosa_core.models import RECORD_TYPES, DatasetKind

router = APIRouter(prefix="/catalog", tags=["catalog"], dependencies=[Depends(read_access)])

DatasetIdParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=80,
        description="kind:SYMBOL[:interval], e.g. candles:BTCUSDT:1m or trades:BTCUSDT",
        examples=["candles:XRPUSDT:5m"],
    ),
]


@router.get("/datasets", response_model=Listing, responses=documented(examples.DATASETS, 429))
async def datasets(
    catalog: CatalogDep,
    symbol: SymbolFilter = None,
    kind: Annotated[DatasetKind | None, Query(description="Dataset kind")] = None,
    interval: Annotated[Interval | None, Query(description="Candle interval")] = None,
) -> Response:
    """Datasets with record count, first and last time, health score and freshness."""
    found = [catalog.render(e) for e in await catalog.search(kind, symbol, interval)]
    pagination = {"limit": len(found), "count": len(found), "next_cursor": None}
    return json_response({"data": found, "pagination": {**pagination, "has_more": False}})


@router.get(
    "/datasets/{dataset_id}", response_model=Item, responses=documented(examples.DATASET, 400, 404)
)
async def dataset(catalog: CatalogDep, dataset_id: DatasetIdParam) -> Response:
    """One dataset of the catalog."""
    entry = await catalog.entry(parse_dataset_id(dataset_id))
    return json_response({"data": catalog.render(entry)})


def _kind_of(text: str) -> tuple[DatasetKind, str]:
    """A dataset id, or a bare kind such as ``candles``, as (kind, name)."""
    if ":" not in text:
        try:
            return DatasetKind(text), text
        except ValueError:
            known = ", ".join(k.value for k in DatasetKind)
            raise ApiError(400, "unknown_dataset_kind", f"{text!r} is not one of {known}") from None
    parsed = parse_dataset_id(text)
    return parsed.kind, str(parsed)


@router.get(
    "/schemas/{dataset_id}", response_model=Item, responses=documented(examples.SCHEMA, 400)
)
async def schema(metadata: MetadataDep, dataset_id: DatasetIdParam) -> Response:
    """The record fields and types of a dataset (or a kind), and the registered JSON Schema
    versions that describe it."""
    kind, name = _kind_of(dataset_id)
    shape = SHAPES[kind]
    fields = [
        {"name": n, "type": type_name(shape.types[n]), "description": shape.descriptions[n]}
        for n in shape.columns
    ]
    # Versions registered as describing this dataset or its whole kind (bootstrap's
    # candle_v1 describes "candles"), in either store.
    registered = await metadata.schemas_describing(sorted({name, kind.value}))
    body: dict[str, Any] = {
        "dataset_id": name,
        "kind": kind.value,
        "record_type": RECORD_TYPES[kind].__name__,
        "fields": fields,
        "json_schema": msgspec.json.schema(RECORD_TYPES[kind]),
        "registered": [render_version(r) for r in registered],
    }
    return json_response({"data": body})


@router.get(
    "/lineage/{dataset_id}",
    response_model=Item,
    responses=documented(examples.LINEAGE, 400, 404),
)
async def lineage(
    catalog: CatalogDep, metadata: MetadataDep, dataset_id: DatasetIdParam
) -> Response:
    """Where a dataset came from (sources, processes, jobs) and what was derived from it."""
    parsed = parse_dataset_id(dataset_id)
    await catalog.require(parsed)
    upstream = await metadata.lineage_for(parsed)
    downstream = await metadata.lineage_from(parsed)
    body = {
        "dataset_id": str(parsed),
        "upstream": [render(r) for r in upstream],
        "downstream": [render(r) for r in downstream],
        "downstream_datasets": sorted({r.dataset_id for r in downstream}),
    }
    return json_response({"data": body})
