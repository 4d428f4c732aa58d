"""The MONGODB_* replica-set settings reach pymongo's client, yield to the URL's own
options, refuse bad values by name, and a store opened with them writes and reads back."""

from __future__ import annotations

import pytest

from petrosa_core.errors import ConfigError
from petrosa_core.market import open_market_store
from petrosa_core.market._mongo_client import open_database
from petrosa_core.models import DatasetId, DatasetKind, Trade
from petrosa_core.settings import CoreSettings, load_settings

REPLICA_SET = {
    "mongodb_replica_set": "rs0",
    "mongodb_write_concern": "2",
    "mongodb_write_timeout_ms": 5000,
    "mongodb_read_preference": "secondaryPreferred",
    "mongodb_read_concern": "majority",
    "mongodb_retry_writes": False,
}


async def test_replica_set_settings_configure_the_client() -> None:
    settings = CoreSettings(market_store_url="mongodb://m1:27017,m2:27017/market", **REPLICA_SET)
    client, db = open_database(settings.market_store_url)
    try:
        assert db.name == "market"
        assert client.write_concern.document == {"w": 2, "wtimeout": 5000, "j": True}
        assert client.read_preference.mongos_mode == "secondaryPreferred"
        assert client.read_concern.level == "majority"
        assert (client.options.replica_set_name, client.options.retry_writes) == ("rs0", False)
        assert client.options.retry_reads is True
    finally:
        await client.close()


def test_the_defaults_acknowledge_writes_on_a_majority_and_read_the_primary() -> None:
    url = CoreSettings(market_store_url="mongodb://m1/market").market_store_url
    assert url == (
        "mongodb://m1/market?w=majority&journal=true&readPreference=primary"
        "&retryWrites=true&retryReads=true"
    )


def test_options_in_the_url_win_over_the_settings() -> None:
    settings = CoreSettings(
        market_store_url="mongodb://m1/market?W=1&readpreference=nearest", **REPLICA_SET
    )
    client, _ = open_database(settings.market_store_url)
    assert client.write_concern.document["w"] == 1
    assert client.read_preference.mongos_mode == "nearest"


def test_sql_store_urls_are_left_alone() -> None:
    url = "sqlite+aiosqlite:///./x.db"
    assert CoreSettings(market_store_url=url, **REPLICA_SET).market_store_url == url


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("mongodb_write_concern", "most"),
        ("mongodb_write_concern", "-1"),
        ("mongodb_read_preference", "secondary_preferred"),
        ("mongodb_write_timeout_ms", -5),
    ],
)
def test_a_bad_value_is_refused_naming_its_variable(variable: str, value: object) -> None:
    with pytest.raises(ConfigError, match=variable.upper()):
        load_settings(CoreSettings, market_store_url="mongodb://m1/x", **{variable: value})


async def test_a_store_opened_with_the_settings_writes_and_reads_back(mongo_url: str) -> None:
    settings = CoreSettings(
        market_store_url=mongo_url,
        mongodb_write_concern="1",
        mongodb_read_preference="primaryPreferred",
    )
    store = await open_market_store(settings.market_store_url)
    dataset = DatasetId.of(DatasetKind.TRADES, "RSUSDT")
    trade = Trade(
        symbol="RSUSDT",
        trade_type="agg",
        trade_id=1,
        price=1.5,
        quantity=2.0,
        trade_time=1_700_000_000_000,
        is_buyer_maker=False,
        event_time=1_700_000_000_005,
    )
    try:
        await store.write(dataset, [trade])
        assert [r.trade_id for r in (await store.query(dataset, limit=10)).records] == [1]
    finally:
        await store.close()
