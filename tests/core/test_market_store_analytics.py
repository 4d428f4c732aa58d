"""The MarketStore's analytics results: the same contract on SQLite, MariaDB and MongoDB."""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec
import pytest

from petrosa_core.errors import ValidationError
from petrosa_core.market import MarketStore, open_market_store
from petrosa_core.market.analytics import AnalyticsResult, AnalyticsRound, ResultLineage
from petrosa_core.models import DatasetId, DatasetKind

_URL_FIXTURES = {"sqlite": "sqlite_url", "mariadb": "mysql_url", "mongo": "mongo_url"}
BTC_1H = DatasetId.of(DatasetKind.CANDLES, "BTCUSDT", "1h")
ETH_1H = DatasetId.of(DatasetKind.CANDLES, "ETHUSDT", "1h")
HOUR = 3_600_000
T0 = 1_700_000_000_000 // HOUR * HOUR


@pytest.fixture(params=list(_URL_FIXTURES))
async def analytics_store(request: pytest.FixtureRequest) -> AsyncIterator[MarketStore]:
    store = await open_market_store(str(request.getfixturevalue(_URL_FIXTURES[request.param])))
    try:
        yield store
    finally:
        await store.close()


def result(
    *,
    dataset: DatasetId = BTC_1H,
    family: str = "volatility",
    method: str = "parkinson",
    window: int = 30,
    at: int = T0,
    value: object = 0.0123,
    computed: int = T0 + HOUR,
    round_id: str = "",
    completeness: float = 1.0,
) -> AnalyticsResult:
    return AnalyticsResult(
        dataset=dataset,
        family=family,
        method=method,
        window=window,
        value=value,
        as_of_time=at,
        completeness=completeness,
        bars_used=window,
        computed_time=computed,
        lineage=ResultLineage(
            source=str(dataset),
            process="analytics",
            first_time=at - window * HOUR,
            last_time=at,
            records=window + 1,
        ),
        round_id=round_id,
        extra={"annualized": 1.15, "reason": None},
    )


async def test_a_result_round_trips_field_for_field(analytics_store: MarketStore) -> None:
    values = [0.5, None, {"pairs": ["A", "B"], "matrix": [[1.0, None], [None, 1.0]]}, [1, 2.5]]
    stored = [result(method=m, value=v) for m, v in zip(("a", "b", "c", "d"), values, strict=True)]
    assert await analytics_store.write_analytics(stored) == 4
    assert await analytics_store.latest_analytics(BTC_1H, "volatility") == stored


async def test_computing_a_result_again_replaces_it(analytics_store: MarketStore) -> None:
    await analytics_store.write_analytics([result(value=0.1, completeness=0.5)])
    again = result(value=0.2, computed=T0 + 2 * HOUR)
    assert await analytics_store.write_analytics([again]) == 1
    history = await analytics_store.analytics_history(BTC_1H, "volatility", "parkinson", 30)
    assert history == [again]


async def test_latest_is_the_newest_per_method_and_window(analytics_store: MarketStore) -> None:
    rows = [
        result(window=30, at=T0, value=1.0),
        result(window=30, at=T0 + HOUR, value=2.0),
        result(window=168, at=T0, value=3.0),
        result(method="yang_zhang", window=30, at=T0 + 2 * HOUR, value=4.0),
    ]
    await analytics_store.write_analytics(rows)
    latest = await analytics_store.latest_analytics(BTC_1H, "volatility")
    assert [r.value for r in latest] == [2.0, 3.0, 4.0]
    chosen = await analytics_store.latest_analytics(
        BTC_1H, "volatility", method="parkinson", window=168
    )
    assert [r.value for r in chosen] == [3.0]
    assert [
        r.value for r in await analytics_store.latest_analytics(BTC_1H, "volatility", window=30)
    ] == [2.0, 4.0]


async def test_results_of_other_datasets_and_families_stay_apart(
    analytics_store: MarketStore,
) -> None:
    await analytics_store.write_analytics(
        [result(value=1.0), result(dataset=ETH_1H, value=2.0), result(family="trend", value=3.0)]
    )
    assert [r.value for r in await analytics_store.latest_analytics(ETH_1H, "volatility")] == [2.0]
    assert [r.value for r in await analytics_store.latest_analytics(BTC_1H, "trend")] == [3.0]
    assert await analytics_store.latest_analytics(ETH_1H, "trend") == []


async def test_history_is_newest_first_and_bounded(analytics_store: MarketStore) -> None:
    await analytics_store.write_analytics(
        [result(at=T0 + i * HOUR, value=float(i)) for i in range(5)]
    )
    history = await analytics_store.analytics_history(
        BTC_1H, "volatility", "parkinson", 30, limit=3
    )
    assert [r.value for r in history] == [4.0, 3.0, 2.0]


async def test_a_round_is_marked_with_its_results_and_only_once(
    analytics_store: MarketStore,
) -> None:
    first = AnalyticsRound(dataset=BTC_1H, round_id="r1", computed_time=T0, results=1, worker="one")
    await analytics_store.write_analytics([result(round_id="r1")], first)
    second = msgspec.structs.replace(first, worker="two", computed_time=T0 + 1)
    await analytics_store.write_analytics([result(round_id="r1")], second)
    assert await analytics_store.analytics_rounds("r1") == [first]
    assert await analytics_store.analytics_rounds("r1", ETH_1H) == []
    assert await analytics_store.analytics_rounds("r2") == []


@pytest.mark.parametrize("family", ["Volatility", "../etc", "", "x" * 33, "vol atility"])
async def test_a_family_that_cannot_name_a_collection_is_refused(
    analytics_store: MarketStore, family: str
) -> None:
    with pytest.raises(ValidationError):
        await analytics_store.write_analytics([result(), result(family=family)])
    assert await analytics_store.latest_analytics(BTC_1H, "volatility") == []


async def test_an_empty_batch_stores_nothing_but_may_mark_a_round(
    analytics_store: MarketStore,
) -> None:
    done = AnalyticsRound(dataset=ETH_1H, round_id="r9", computed_time=T0, results=0, worker="w")
    assert await analytics_store.write_analytics([], done) == 0
    assert await analytics_store.analytics_rounds("r9") == [done]
