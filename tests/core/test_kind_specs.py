"""One spec per dataset kind: every kind has one, and the records and SQL tables agree with it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from petrosa_core.market._sql_tables import TABLES, order_columns
from petrosa_core.models import KIND_SPECS, DatasetKind, Record
from tests.core.market_samples import ROUND_TRIP


def test_every_dataset_kind_has_exactly_one_spec() -> None:
    assert list(KIND_SPECS) == list(DatasetKind)
    assert all(spec.kind is kind for kind, spec in KIND_SPECS.items())
    assert all(spec.record_type.kind is kind for kind, spec in KIND_SPECS.items())


@pytest.mark.parametrize("sample", ROUND_TRIP.values(), ids=list(ROUND_TRIP))
def test_a_record_reads_its_time_and_key_where_its_spec_says(sample: Record) -> None:
    spec = KIND_SPECS[sample.kind]
    assert sample.time == getattr(sample, spec.time_field)
    assert sample.key == getattr(sample, spec.key_field)
    assert spec.order_fields[0] == spec.time_field
    assert set(spec.order_fields) == {spec.time_field, *spec.key_fields}


@pytest.mark.parametrize("kind", list(DatasetKind))
def test_each_sql_table_is_keyed_and_ordered_as_the_spec_says(kind: DatasetKind) -> None:
    spec, table = KIND_SPECS[kind], TABLES[kind]
    scope = ["symbol", "interval"] if kind is DatasetKind.CANDLES else ["symbol"]
    assert sorted(c.name for c in table.primary_key) == sorted([*scope, *spec.key_fields])
    assert [c.name for c in order_columns(kind)] == list(spec.order_fields)
    assert all(isinstance(table.c[name].type, sa.DateTime) for name in spec.time_fields)


def test_a_sample_of_every_kind_is_covered() -> None:
    """The parametrized checks above only mean something if every kind is sampled."""
    assert {record.kind for record in ROUND_TRIP.values()} == set(DatasetKind)
