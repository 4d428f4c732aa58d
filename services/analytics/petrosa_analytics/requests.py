"""On-demand computation over NATS request/reply: what the API asks when nothing is stored.

Any replica answers (a queue group). Results are stored as well, so the next caller is
served from the store; correlation matrices depend on the set of pairs and are not.
"""

from __future__ import annotations

import logging
import uuid

from petrosa_analytics import telemetry
from petrosa_analytics.engine import PROCESS, Engine, to_stored
from petrosa_core.contracts import AnalyticsReply, AnalyticsRequest, ErrorCode, ErrorReply
from petrosa_core.errors import PetrosaError, StoreUnavailable, ValidationError
from petrosa_core.market import MarketStore
from petrosa_core.market.analytics import AnalyticsResult, ResultLineage

log = logging.getLogger(__name__)


async def answer(engine: Engine, market: MarketStore, data: bytes) -> bytes:
    """The reply to one request: results, or an ``ErrorReply`` saying why not."""
    try:
        request = AnalyticsRequest.decode(data)
        results = await compute(engine, market, request)
    except ValidationError as exc:
        telemetry.REQUESTS.labels("refused").inc()
        return ErrorReply.refusing(exc).encode()
    except StoreUnavailable as exc:
        telemetry.REQUESTS.labels("failed").inc()
        return ErrorReply.of(ErrorCode.STORE_UNAVAILABLE, str(exc)).encode()
    except PetrosaError as exc:
        reference = uuid.uuid4().hex[:12]
        log.error("analytics request failed [%s]: %s", reference, exc)
        telemetry.REQUESTS.labels("failed").inc()
        message = "the computation failed; see the analytics log"
        return ErrorReply.of(ErrorCode.INTERNAL_ERROR, message, reference).encode()
    telemetry.REQUESTS.labels("ok").inc()
    return AnalyticsReply(results).encode()


async def compute(
    engine: Engine, market: MarketStore, request: AnalyticsRequest
) -> list[AnalyticsResult]:
    """Compute what the request names; a dataset without a closed candle is unknown."""
    datasets = request.datasets
    if request.family == "correlation":
        return [await _correlation(engine, request)]
    results = await engine.compute_family(
        datasets[0], request.family, request.method, request.window
    )
    if not results:
        raise _no_candles(str(datasets[0]))
    await market.write_analytics(results)
    telemetry.stored_now()
    return results


async def _correlation(engine: Engine, request: AnalyticsRequest) -> AnalyticsResult:
    datasets = request.datasets
    found, first = await engine.correlate(datasets, request.method, request.window)
    if found.as_of_time is None:
        raise _no_candles(", ".join(str(d) for d in datasets))
    lineage = ResultLineage(
        source=",".join(str(d) for d in datasets),
        process=PROCESS,
        first_time=int(first.open_time[0]) if len(first) else None,
        last_time=found.as_of_time,
        records=found.bars_used,
    )
    return to_stored(datasets[0], found, lineage, engine.clock(), "")


def _no_candles(what: str) -> ValidationError:
    return ValidationError(ErrorCode.UNKNOWN_DATASET, f"no closed candles are stored for {what}")
