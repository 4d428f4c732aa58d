"""The one place where nats-py's errors become the suite's ``BusError`` tree."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from petrosa_core.errors import BusError, BusTimeout, KeyConflict, NoResponders

# What nats-py raises when NATS or the network fails; anything else is a bug of ours.
NATS_FAILURES: tuple[type[BaseException], ...] = (nats.errors.Error, TimeoutError, OSError)


def translated(exc: BaseException, action: str) -> BusError:
    """The ``BusError`` that says what ``exc`` means for ``action``."""
    if isinstance(exc, nats.js.errors.KeyWrongLastSequenceError):
        return KeyConflict(f"{action}: another writer holds a newer revision")
    if isinstance(exc, nats.errors.NoRespondersError | nats.js.errors.NoStreamResponseError):
        return NoResponders(f"{action}: nobody is listening")
    if isinstance(exc, TimeoutError):  # nats-py's own TimeoutError subclasses it
        return BusTimeout(f"{action}: no answer in time")
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return BusError(f"{action}: {detail}")


@contextmanager
def as_bus_error(action: str) -> Iterator[None]:
    """Translate any NATS failure (and a timeout) inside the block into a ``BusError``."""
    try:
        yield
    except NATS_FAILURES as exc:
        raise translated(exc, action) from exc
