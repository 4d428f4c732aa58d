"""The API's small parts on their own: ISO rendering, keys, rate limits, the cache, negotiation."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator

import pytest
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from petrosa_api.app import create_app
from petrosa_api.auth import Keyring, Scope, parse_key_entries
from petrosa_api.cache import TtlCache
from petrosa_api.formats import negotiate
from petrosa_api.ratelimit import RateLimiter, retry_after_header
from petrosa_api.schemas import Interval
from petrosa_api.settings import ApiSettings
from petrosa_api.state import ApiState
from petrosa_api.times import iso_column, iso_ms
from petrosa_core.intervals import INTERVALS
from petrosa_core.runtime import Runtime


def test_iso_strings_match_one_by_one_and_by_column() -> None:
    values = [0, 1_636_934_699_999, 253_402_300_799_999]

    assert (
        [iso_ms(v) for v in values]
        == iso_column(values)
        == [
            "1970-01-01T00:00:00.000Z",
            "2021-11-15T00:04:59.999Z",
            "9999-12-31T23:59:59.999Z",
        ]
    )
    assert iso_column([None]) == [None]


READ_KEY, WRITE_KEY = "read-key-0123456789", "write-key-0123456789"


def test_key_entries_parse_with_scopes_and_admin_grants_everything() -> None:
    reader, admin = parse_key_entries([f" {READ_KEY}:read ", "# comment", "", f"{WRITE_KEY}:admin"])

    assert reader.scopes == {Scope.READ}
    assert not reader.allows(Scope.WRITE)
    assert all(admin.allows(scope) for scope in Scope)
    assert reader.ident != admin.ident and len(reader.ident) == 12


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (["nokey"], "entry 1 is not key:scope+scope"),
        ([f"{READ_KEY}:read", f"{READ_KEY}:write"], "entry 2 repeats a key given earlier"),
        ([f"{READ_KEY}:read+sudo"], "entry 1 has unknown scope 'sudo'; use read, write, admin"),
        (["a b:read"], "entry 1 is not key:scope+scope"),
        (
            [f"{READ_KEY}:read", "# comment", "0123456789abcde:read"],
            "entry 3 is shorter than 16 characters; use a long random key, e.g. from "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        ),
    ],
)
def test_bad_key_entries_are_named_by_position_never_by_secret(
    entries: list[str], message: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        parse_key_entries(entries)


def test_a_key_of_exactly_the_minimum_length_is_accepted() -> None:
    [key] = parse_key_entries(["0123456789abcdef:read"])

    assert key.secret == b"0123456789abcdef"


def test_keyring_matches_only_the_exact_key() -> None:
    keyring = Keyring(parse_key_entries([f"{READ_KEY}-1:read", f"{READ_KEY}-2:write"]))

    matched = keyring.match(f"{READ_KEY}-2")
    assert matched is not None and matched.scopes == {Scope.WRITE}
    assert keyring.match(f"{READ_KEY}-") is None
    assert keyring.match(f"{READ_KEY}-22") is None
    assert not Keyring([])


def test_token_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])

    assert [limiter.acquire("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(1.0)
    assert limiter.acquire("b") == 0.0
    now[0] += 0.5
    assert limiter.acquire("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert limiter.acquire("a") == 0.0
    assert retry_after_header(0.2) == "1" and retry_after_header(2.1) == "3"


def test_a_limiter_tells_the_wait_without_spending_a_token() -> None:
    now = [100.0]
    limiter = RateLimiter(per_minute=60, burst=2, clock=lambda: now[0])

    assert [limiter.wait("a") for _ in range(5)] == [0.0] * 5
    limiter.acquire("a")
    limiter.acquire("a")
    assert limiter.wait("a") == pytest.approx(1.0)
    assert limiter.wait("a") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.wait("a") == 0.0
    assert RateLimiter(per_minute=0, burst=1).wait("a") == 0.0


def test_a_limiter_forgets_the_least_recent_caller_beyond_its_bound() -> None:
    limiter = RateLimiter(per_minute=60, burst=1, clock=lambda: 0.0, max_callers=2)
    for caller in ("a", "b", "c"):
        limiter.acquire(caller)

    assert limiter.acquire("a") == 0.0  # forgotten, so it starts full again
    assert limiter.acquire("c") > 0


async def test_cache_shares_one_load_among_concurrent_misses_and_keeps_it_for_the_ttl() -> None:
    now = [0.0]
    cache = TtlCache(5.0, clock=lambda: now[0])
    loads = 0
    release = asyncio.Event()

    async def load() -> int:
        nonlocal loads
        loads += 1
        await release.wait()
        return loads

    waiting = [asyncio.create_task(cache.get("k", load)) for _ in range(5)]
    await asyncio.sleep(0)
    release.set()
    results = await asyncio.gather(*waiting)
    cached = await cache.get("k", load)
    now[0] = 5.0
    reloaded = await cache.get("k", load)

    assert (results, cached, reloaded) == ([1] * 5, 1, 2)


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached() -> None:
    cache = TtlCache(5.0)
    release = asyncio.Event()

    async def failing() -> int:
        await release.wait()
        raise RuntimeError("store down")

    async def working() -> int:
        return 7

    waiting = [asyncio.create_task(cache.get("k", failing)) for _ in range(3)]
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)

    assert [str(o) for o in outcomes] == ["store down"] * 3
    assert await cache.get("k", working) == 7


@pytest.mark.parametrize(
    ("requested", "accept", "chosen"),
    [
        (None, None, "json"),
        (None, "text/csv", "csv"),
        (None, "application/json, application/vnd.apache.parquet;q=0.9", "parquet"),
        ("json", "text/csv", "json"),
        (None, "*/*", "json"),
    ],
)
def test_format_comes_from_the_parameter_or_else_the_accept_header(
    requested: str | None, accept: str | None, chosen: str
) -> None:
    assert negotiate(requested, accept) == chosen  # type: ignore[arg-type]


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every route, including those of included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (included := getattr(route, "original_router", None)) is not None:
            yield from api_routes(included.routes)


def test_no_route_has_fastapi_read_its_body_before_the_guards_ran() -> None:
    """FastAPI reads a body parameter before any dependency; routes use ``json_body``."""
    app = create_app(ApiState.create(ApiSettings(), Runtime("api")))
    routes = list(api_routes(app.routes))

    assert [r.path for r in routes if r.body_field is not None] == []
    assert "/backfill/start" in [r.path for r in routes]


def test_the_period_parameter_lists_exactly_the_binance_intervals() -> None:
    assert Interval.__args__ == INTERVALS  # type: ignore[attr-defined]
