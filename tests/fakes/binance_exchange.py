"""A fake Binance USD-M futures REST exchange: real HTTP on 127.0.0.1, for tests.

Same paths, parameters, row layouts, error bodies and weight rules as Binance: a fixed
window aligned to the clock, ``X-MBX-USED-WEIGHT-1M`` on every response, 429 with
``Retry-After`` over budget and 418 (a ban) for a request sent during that wait. Faults
(5xx, timeouts, slow answers, 429/418) are injected by probability or by script.

In-process: ``with FakeBinance(weight_limit=200, window=2.0) as fake: fake.url``.
As a process: ``python -m tests.fakes.binance_exchange --port N [--data-dir DIR]``;
``GET /_fake/stats`` then returns the counters as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.binance_data import DEFAULT_DATA_DIR, MarketData
from tests.fakes.binance_routes import ROUTES, ApiError, Query, Route

Fault = Literal["500", "502", "503", "504", "timeout", "slow", "429", "418"]
STATS_PATH = "/_fake/stats"

_INTERNAL_ERROR = {"code": -1001, "msg": "Internal error; unable to process your request."}


class ManualClock:
    """A settable clock for the fake: ``clock.now`` in epoch seconds, moved by ``advance``."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class Fetch:
    """One request to a Binance path: what it asked for and the status it got."""

    path: str
    symbol: str | None
    interval: str | None
    start_time: int | None
    end_time: int | None
    from_id: int | None
    limit: int | None
    status: int
    fault: str | None
    at: float


@dataclass
class ExchangeStats:
    requests_by_path: Counter[str] = field(default_factory=Counter)
    weight_by_window: dict[int, int] = field(default_factory=dict)
    rate_limited: int = 0
    banned: int = 0
    fetches: list[Fetch] = field(default_factory=list)

    def served(self, path: str) -> list[Fetch]:
        """Fetches of ``path`` answered with data, fault-free: what a client received."""
        return [f for f in self.fetches if f.path == path and f.status == 200 and not f.fault]


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    used_weight: int
    retry_after: int | None = None
    delay: float = 0.0


class FakeBinance:
    """The exchange; ``start()`` serves it from a background thread until ``stop()``."""

    def __init__(
        self,
        *,
        data_dir: Path = DEFAULT_DATA_DIR,
        weight_limit: int = 2400,
        window: float = 60.0,
        ban_seconds: float | None = None,
        error_rate: float = 0.0,
        timeout_rate: float = 0.0,
        timeout_delay: float = 5.0,
        slow_delay: float = 0.5,
        retry_after: int = 1,
        unknown_symbols: Iterable[str] = (),
        seed: int = 0,
        port: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = MarketData(data_dir)
        self.weight_limit, self.window = weight_limit, window
        self.ban_seconds = ban_seconds if ban_seconds is not None else 2 * window
        self.error_rate, self.timeout_rate = error_rate, timeout_rate
        self.timeout_delay, self.slow_delay = timeout_delay, slow_delay
        self.retry_after = retry_after
        self.unknown_symbols = set(unknown_symbols)
        self.clock = clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._stats = ExchangeStats()
        self._scripts: dict[str | None, deque[Fault]] = {}
        self._penalty_until = 0.0
        self._ban_until = 0.0
        self._stopping = threading.Event()
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    def start(self) -> FakeBinance:
        self._stopping.clear()
        self._server = _Server(("127.0.0.1", self._port), self)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-binance", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def __enter__(self) -> FakeBinance:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def script(self, *faults: Fault, path: str | None = None) -> None:
        """Queue faults for the next requests of ``path`` (of any path when ``None``)."""
        with self._lock:
            self._scripts.setdefault(path, deque()).extend(faults)

    def stats(self) -> ExchangeStats:
        """A copy of the counters, safe to read while requests run."""
        with self._lock:
            s = self._stats
            return ExchangeStats(
                Counter(s.requests_by_path),
                dict(s.weight_by_window),
                s.rate_limited,
                s.banned,
                list(s.fetches),
            )

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = ExchangeStats()

    def handle(self, path: str, query: Query) -> Reply:
        """Answer one GET as Binance would: admit by weight, inject faults, serve rows."""
        route = ROUTES.get(path)
        if route is None:
            return Reply(404, {"code": -1099, "msg": "Not found."}, self._used_now())
        now = self.clock()
        with self._lock:
            self._stats.requests_by_path[path] += 1
            refusal = self._admit(now, route.weight(query))
            fault = None if refusal else self._next_fault(path)
        reply = refusal or self._answer(route, query, fault, now)
        self._record(path, query, reply.status, fault, now)
        return reply

    def _admit(self, now: float, weight: int) -> Reply | None:
        """Count ``weight`` in the current window, or refuse with 418 or 429 (lock held)."""
        window = int(now // self.window)
        used = self._stats.weight_by_window.get(window, 0)
        if now < self._ban_until:
            return self._refuse(418, now, self._ban_until, used)
        if now < self._penalty_until:
            self._ban_until = now + self.ban_seconds
            return self._refuse(418, now, self._ban_until, used)
        if used + weight > self.weight_limit:
            self._penalty_until = (window + 1) * self.window
            return self._refuse(429, now, self._penalty_until, used)
        self._stats.weight_by_window[window] = used + weight
        return None

    def _refuse(self, status: int, now: float, until: float, used: int) -> Reply:
        if status == 418:
            self._stats.banned += 1
            msg = f"Way too many requests; IP(127.0.0.1) banned until {int(until * 1000)}."
        else:
            self._stats.rate_limited += 1
            msg = f"Too many requests; current limit of IP(127.0.0.1) is {self.weight_limit}."
        retry_after = max(1, math.ceil(until - now))
        return Reply(status, {"code": -1003, "msg": msg}, used, retry_after)

    def _next_fault(self, path: str) -> Fault | None:
        for key in (path, None):
            queue = self._scripts.get(key)
            if queue:
                return queue.popleft()
        roll = self._random.random()
        if roll < self.error_rate:
            return "503"
        if roll < self.error_rate + self.timeout_rate:
            return "timeout"
        return None

    def _answer(self, route: Route, query: Query, fault: Fault | None, now: float) -> Reply:
        used = self._used_now(now)
        if fault in ("429", "418"):
            return self._injected_limit(int(fault), now, used)
        if fault is not None and fault.isdigit():
            return Reply(int(fault), _INTERNAL_ERROR, used)
        delay = {"timeout": self.timeout_delay, "slow": self.slow_delay}.get(fault or "", 0.0)
        try:
            body = route.serve(self.data, query, int(now * 1000), self.unknown_symbols)
        except ApiError as exc:
            return Reply(exc.status, {"code": exc.code, "msg": exc.msg}, used, delay=delay)
        return Reply(200, body, used, delay=delay)

    def _injected_limit(self, status: int, now: float, used: int) -> Reply:
        with self._lock:
            until = now + self.retry_after
            if status == 418:
                self._ban_until = until
            else:
                self._penalty_until = until
            return self._refuse(status, now, until, used)

    def _used_now(self, now: float | None = None) -> int:
        window = int((self.clock() if now is None else now) // self.window)
        with self._lock:
            return self._stats.weight_by_window.get(window, 0)

    def _record(self, path: str, q: Query, status: int, fault: str | None, now: float) -> None:
        def num(name: str) -> int | None:
            value = q.get(name, "")
            return int(value) if value.lstrip("-").isdigit() else None

        fetch = Fetch(
            path,
            q.get("symbol"),
            q.get("interval"),
            num("startTime"),
            num("endTime"),
            num("fromId"),
            num("limit"),
            status,
            fault,
            now,
        )
        with self._lock:
            self._stats.fetches.append(fetch)

    def wait(self, seconds: float) -> None:
        """Sleep a fault's delay, cut short when the exchange stops."""
        self._stopping.wait(seconds)

    def stats_json(self) -> dict[str, Any]:
        s = self.stats()
        return {
            "requests_by_path": dict(s.requests_by_path),
            "weight_by_window": {str(k): v for k, v in s.weight_by_window.items()},
            "rate_limited": s.rate_limited,
            "banned": s.banned,
            "fetches": [asdict(f) for f in s.fetches],
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], exchange: FakeBinance) -> None:
        self.exchange = exchange
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; Nagle would hold the body for a delayed ACK.
    disable_nagle_algorithm = True
    server: _Server

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        exchange = self.server.exchange
        if parts.path == STATS_PATH:
            self._send(Reply(200, exchange.stats_json(), 0))
            return
        reply = exchange.handle(parts.path, dict(parse_qsl(parts.query)))
        if reply.delay:
            exchange.wait(reply.delay)
        # The client may have given up during a delay; that is the fault being simulated.
        with contextlib.suppress(ConnectionError):
            self._send(reply)

    def _send(self, reply: Reply) -> None:
        payload = json.dumps(reply.body, separators=(",", ":")).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-MBX-USED-WEIGHT-1M", str(reply.used_weight))
        if reply.retry_after is not None:
            self.send_header("Retry-After", str(reply.retry_after))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: pytest output is for failures."""


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.binance_exchange")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--weight-limit", type=int, default=2400)
    parser.add_argument("--window", type=float, default=60.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--timeout-rate", type=float, default=0.0)
    parser.add_argument("--unknown-symbol", action="append", default=[])
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


@contextlib.contextmanager
def _until_terminated() -> Iterator[threading.Event]:
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield done
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    fake = FakeBinance(
        data_dir=args.data_dir,
        weight_limit=args.weight_limit,
        window=args.window,
        error_rate=args.error_rate,
        timeout_rate=args.timeout_rate,
        unknown_symbols=args.unknown_symbol,
        seed=args.seed,
        port=args.port,
    )
    with _until_terminated() as done, fake:
        print(f"fake-binance listening on {fake.url}", flush=True)
        done.wait()


if __name__ == "__main__":
    main()
