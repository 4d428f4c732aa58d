"""Service lifecycle: signals, supervised tasks, probe checks, drain and ordered close.

On SIGTERM or SIGINT a service turns unready, stops intake, drains in-flight work under
``shutdown_timeout``, closes its resources in reverse order of registration, and exits 0.
A supervised task that fails or ends on its own stops the service with exit code 1.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit, urlunsplit

from petrosa_core.errors import ConfigError, PetrosaError
from petrosa_core.logs import configure_logging
from petrosa_core.preflight import check_ports, parse_arguments, serve_probes_only, stray_variables
from petrosa_core.settings import CoreSettings, load_settings
from petrosa_core.tracing import configure_tracing

Check = Callable[[], Awaitable[bool]]
Closer = Callable[[], Awaitable[None]]
StopIntake = Callable[[], Awaitable[None]]
Start = Callable[["Runtime"], Awaitable[None]]

# Kubernetes gives a probe 1 s by default; a check that takes longer counts as failing.
CHECK_TIMEOUT = 0.8
EXIT_FAILURE = 1
EXIT_CONFIG = 2

log = logging.getLogger("petrosa.runtime")


class Runtime:
    """Runs one service: its startup, its supervised tasks and its orderly shutdown."""

    def __init__(
        self,
        service: str,
        *,
        shutdown_timeout: float = 10.0,
        signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
    ) -> None:
        self.service = service
        self.shutdown_timeout = shutdown_timeout
        self.stopping = asyncio.Event()
        self._signals = tuple(signals)
        self._exit_code = 0
        self._started = False
        self._checks: dict[str, Check] = {}
        self._targets: dict[str, str] = {}
        self._reported: set[str] = set()
        self._liveness: dict[str, Check] = {}
        self._intake: list[tuple[str, StopIntake]] = []
        self._closers: list[tuple[str, Closer]] = []
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._servers: dict[str, asyncio.Task[None]] = {}

    def add_check(self, name: str, check: Check, target: str = "") -> None:
        """Readiness requires ``check()`` to return True within ``CHECK_TIMEOUT``.

        ``target`` says what is checked (``NATS at nats://nats:4222``); a failing check's
        reason starts with it, so readiness and the log name the dependency and its host.
        """
        self._checks[name] = check
        if target:
            self._targets[name] = target

    def add_liveness_check(self, name: str, check: Check) -> None:
        """Liveness requires ``check()`` to pass; fail it only for what a restart can cure."""
        self._liveness[name] = check

    def on_stop_intake(self, name: str, callback: StopIntake) -> None:
        """Run ``callback`` first on shutdown, before in-flight work is drained."""
        self._intake.append((name, callback))

    def add_closer(self, name: str, closer: Closer) -> None:
        """Run ``closer`` after the drain; closers run in reverse order of registration."""
        self._closers.append((name, closer))

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a long-lived worker; shutdown waits for it (it should watch ``stopping``)."""
        return self._supervise(self._workers, name, coro)

    def spawn_server(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run a task that outlives the drain; a registered closer must make it return."""
        return self._supervise(self._servers, name, coro)

    def stop(self, exit_code: int = 0) -> None:
        """Ask the service to shut down; the first non-zero exit code wins."""
        if exit_code and not self._exit_code:
            self._exit_code = exit_code
        self.stopping.set()

    async def readiness(self) -> dict[str, str]:
        """Failing checks by name with the reason; empty when the service is ready."""
        failing: dict[str, str] = {}
        if self.stopping.is_set():
            failing["shutdown"] = "service is stopping"
        elif not self._started:
            failing["startup"] = "service is starting"
        checks = await _failing(self._checks)
        failing.update({name: self._named(name, reason) for name, reason in checks.items()})
        self._log_changes(failing)
        return failing

    async def failing_check(self, name: str) -> str | None:
        """Why the readiness check ``name`` fails now, or None when it passes."""
        reason = await _probe(self._checks[name])
        return None if reason is None else self._named(name, reason)

    def _named(self, name: str, reason: str) -> str:
        target = self._targets.get(name)
        return f"{target}: {reason}" if target else reason

    def _log_changes(self, failing: dict[str, str]) -> None:
        """Log each dependency check as it starts or stops failing, not on every probe."""
        now = failing.keys() & self._checks.keys()
        for name in sorted(now - self._reported):
            log.warning("not ready: %s", failing[name], extra={"check": name})
        for name in sorted(self._reported - now):
            log.info("ready again: %s", self._targets.get(name, name), extra={"check": name})
        self._reported = set(now)

    async def liveness(self) -> dict[str, str]:
        """Failing liveness checks by name with the reason; empty while the process is alive."""
        return await _failing(self._liveness)

    async def run(self, start: Start) -> int:
        """Run ``start`` and the tasks it spawns until stopped; return the exit code."""
        loop = asyncio.get_running_loop()
        for sig in self._signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            starter = loop.create_task(self._start(start), name="startup")
            await self.stopping.wait()
            if not starter.done():
                starter.cancel()
            await asyncio.wait([starter])
            await self._shutdown()
        finally:
            for sig in self._signals:
                loop.remove_signal_handler(sig)
        return self._exit_code

    async def _start(self, start: Start) -> None:
        try:
            await start(self)
        except ConfigError as exc:
            # A setting the process cannot work with: one line naming it, no traceback.
            log.error("startup failed: %s", exc, extra={"task": "startup"})
            self.stop(EXIT_CONFIG)
            return
        except Exception:
            log.exception("startup failed", extra={"task": "startup"})
            self.stop(EXIT_FAILURE)
            return
        self._started = True
        log.info("service started")

    def _on_signal(self, sig: signal.Signals) -> None:
        if self.stopping.is_set():
            log.warning("signal received while stopping", extra={"signal": sig.name})
            return
        log.info("signal received, stopping", extra={"signal": sig.name})
        self.stop()

    def _supervise(
        self, group: dict[str, asyncio.Task[None]], name: str, coro: Coroutine[Any, Any, None]
    ) -> asyncio.Task[None]:
        if name in self._workers or name in self._servers:
            coro.close()
            raise ValueError(f"a task named {name!r} is already supervised")
        task = asyncio.get_running_loop().create_task(coro, name=name)
        group[name] = task
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        name = task.get_name()
        if task.cancelled():
            if not self.stopping.is_set():
                log.error("task cancelled unexpectedly", extra={"task": name})
                self.stop(EXIT_FAILURE)
        elif (exc := task.exception()) is not None:
            log.error("task failed: %s", name, extra={"task": name}, exc_info=exc)
            self.stop(EXIT_FAILURE)
        elif not self.stopping.is_set():
            log.error("task ended before shutdown", extra={"task": name})
            self.stop(EXIT_FAILURE)

    async def _shutdown(self) -> None:
        log.info("shutting down", extra={"exit_code": self._exit_code})
        for name, stop_intake in self._intake:
            await self._bounded(f"stop intake {name}", stop_intake)
        await _finish(self._workers.values(), self.shutdown_timeout, "drain")
        for name, closer in reversed(self._closers):
            await self._bounded(f"close {name}", closer)
        await _finish(self._servers.values(), self.shutdown_timeout, "server stop")
        log.info("stopped", extra={"exit_code": self._exit_code})

    async def _bounded(self, step: str, action: Callable[[], Awaitable[None]]) -> None:
        """Run one shutdown step under the timeout; a failure is logged and makes exit non-zero."""
        try:
            async with asyncio.timeout(self.shutdown_timeout):
                await action()
        except Exception:
            # TimeoutError lands here too: the step overran and was abandoned.
            log.exception("shutdown step failed", extra={"step": step})
            self.stop(EXIT_FAILURE)


async def _failing(checks: dict[str, Check]) -> dict[str, str]:
    names = list(checks)
    reasons = await asyncio.gather(*(_probe(checks[n]) for n in names))
    return {n: r for n, r in zip(names, reasons, strict=True) if r is not None}


async def _probe(check: Check) -> str | None:
    """None when the check passes, else why it did not."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            ok = await check()
    except TimeoutError:
        return f"no answer within {CHECK_TIMEOUT}s"
    except PetrosaError as exc:
        return str(exc)  # our own errors say what failed; the class name adds nothing
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None if ok else "failing"


async def _finish(tasks: Iterable[asyncio.Task[None]], budget: float, what: str) -> None:
    """Wait up to ``budget`` seconds for ``tasks``, then cancel whatever is left."""
    pending = {t for t in tasks if not t.done()}
    if not pending:
        return
    _, pending = await asyncio.wait(pending, timeout=budget)
    if pending:
        names = sorted(t.get_name() for t in pending)
        log.warning("%s timed out, cancelling", what, extra={"tasks": names})
        for task in pending:
            task.cancel()
        await asyncio.wait(pending, timeout=budget)


async def idle(runtime: Runtime) -> None:
    """A worker that waits for shutdown: keeps a skeleton's lifecycle real until work lands."""
    await runtime.stopping.wait()


def without_credentials(url: str) -> str:
    """``url`` with any user and password removed, fit for a log line."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


S = TypeVar("S", bound=CoreSettings)


def run_service(
    settings_cls: type[S],
    start: Callable[[Runtime, S], Awaitable[None]],
    argv: list[str] | None = None,
) -> NoReturn:
    """The body of every service's ``main()``: arguments, settings, logging, run, exit.

    ``--help`` lists the environment variables the service reads. Bad settings and busy
    ports end the process before it starts, with exit 2 and one line naming the variable.
    """
    parse_arguments(settings_cls, sys.argv[1:] if argv is None else argv)
    try:
        settings = load_settings(settings_cls)
        check_ports(settings)
    except ConfigError as exc:
        sys.stderr.write(f"{settings_cls.__name__}: {exc}\n")
        sys.exit(EXIT_CONFIG)
    configure_logging(settings.service_name, settings.log_level)
    stop_tracing = configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint)
    if stop_tracing is not None:
        atexit.register(stop_tracing)  # flushes the spans still batched at exit
    if stray := stray_variables(os.environ, own=settings_cls.model_fields):
        log.warning("not a setting of any Petrosa service, ignored: %s", ", ".join(stray))
    runtime = Runtime(settings.service_name, shutdown_timeout=settings.shutdown_timeout)
    if switch := settings.switched_off_by():
        log.warning("switched off by %s=false: serving probes only, doing no work", switch)
        sys.exit(asyncio.run(runtime.run(lambda rt: serve_probes_only(rt, settings))))
    sys.exit(asyncio.run(runtime.run(lambda rt: start(rt, settings))))
