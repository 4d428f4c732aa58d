"""The original service's database metrics, counted around every store a process opens.

``data_manager_database_operations_total{operation, store, outcome}`` counts each call of
a store's async methods by its name and how it ended; ``data_manager_active_connections
{store}`` is the connections in use, that is the operations in flight (each holds one
pooled connection while it runs). One proxy serves every backend, so a new backend or
method is counted without being taught to.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge

from petrosa_core.errors import StoreUnavailable, ValidationError

OPERATIONS = Counter(
    "data_manager_database_operations",
    "Store operations by method, store (market, metadata) and outcome",
    ["operation", "store", "outcome"],
)
ACTIVE_CONNECTIONS = Gauge(
    "data_manager_active_connections",
    "Store connections in use: the store operations in flight",
    ["store"],
)

T = TypeVar("T")


def outcome_of(exc: BaseException) -> str:
    """``unavailable`` (the database cannot answer), ``rejected`` (bad input) or ``error``."""
    if isinstance(exc, StoreUnavailable):
        return "unavailable"
    if isinstance(exc, ValidationError):
        return "rejected"
    return "error"


class CountedStore:
    """``store`` with each of its async methods counted under ``name``; all else as is."""

    def __init__(self, store: Any, name: str) -> None:
        self._store = store
        self._name = name
        self._wrapped: dict[str, Callable[..., Awaitable[Any]]] = {}
        ACTIVE_CONNECTIONS.labels(store=name).set(0)

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._store, attribute)
        if attribute.startswith("_") or not inspect.iscoroutinefunction(value):
            return value
        if attribute not in self._wrapped:
            self._wrapped[attribute] = self._counted(attribute, value)
        return self._wrapped[attribute]

    def _counted(
        self, operation: str, method: Callable[..., Awaitable[T]]
    ) -> Callable[..., Awaitable[T]]:
        ok = OPERATIONS.labels(operation=operation, store=self._name, outcome="ok")
        in_flight = ACTIVE_CONNECTIONS.labels(store=self._name)

        @functools.wraps(method)
        async def counted(*args: Any, **kwargs: Any) -> T:
            in_flight.inc()
            try:
                result = await method(*args, **kwargs)
            except Exception as exc:
                outcome = outcome_of(exc)
                OPERATIONS.labels(operation=operation, store=self._name, outcome=outcome).inc()
                raise
            finally:
                in_flight.dec()
            ok.inc()
            return result

        return counted


def counted(store: T, name: str) -> T:
    """``store`` counted in the database metrics as ``name`` (``market`` or ``metadata``)."""
    return CountedStore(store, name)  # type: ignore[return-value]
