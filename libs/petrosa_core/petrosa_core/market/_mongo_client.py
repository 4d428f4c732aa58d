"""Connecting to MongoDB, and the one boundary where pymongo errors become the suite's own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bson.codec_options import DatetimeConversion
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConfigurationError, ConnectionFailure, OperationFailure, PyMongoError

from petrosa_core.errors import ConfigError, RecordRejected, StoreError, StoreUnavailable
from petrosa_core.market._mongo_layout import Document

DEFAULT_DATABASE = "petrosa_data_manager"
# Short enough that a dead server fails a probe or a write quickly (the caller retries),
# long enough to ride out a replica-set election's first seconds.
_SERVER_SELECTION_MS = 3_000
# Server errors about one document's content: bad value, validation, size, type, key.
# Any other server error (out of disk space, not primary, unauthorized, shutting down,
# timed out) means the database cannot write now.
_RECORD_ERRORS = frozenset({2, 4, 14, 52, 53, 55, 56, 57, 121, 10334, 17419, 17420, 17280})


def open_database(url: str) -> tuple[AsyncMongoClient[Document], AsyncDatabase[Document]]:
    """A client on ``url`` and its database (default ``petrosa_data_manager``); lazy."""
    with translated():
        try:
            client: AsyncMongoClient[Document] = AsyncMongoClient(url, **_client_options(url))
        except ValueError as exc:  # pymongo's URL parser raises it for a bad port
            raise ConfigError(f"market store URL: {exc}") from exc
        return client, client.get_default_database(DEFAULT_DATABASE)


def _client_options(url: str) -> dict[str, Any]:
    """Our defaults for the options the URL leaves unset."""
    given = {name.lower() for name in parse_qs(urlsplit(url).query)}
    options: dict[str, Any] = {"datetime_conversion": DatetimeConversion.DATETIME_MS}
    if "serverselectiontimeoutms" not in given:
        options["serverSelectionTimeoutMS"] = _SERVER_SELECTION_MS
    if "w" not in given:
        options["w"] = "majority"
    return options


def classified(code: int | None, message: str) -> StoreError:
    """A refused record for content errors; for any other server error, an outage."""
    return RecordRejected(message) if code in _RECORD_ERRORS else StoreUnavailable(message)


@contextmanager
def translated(action: str = "") -> Iterator[None]:
    """The boundary where pymongo errors become the suite's own; ``action`` prefixes them."""
    prefix = f"{action}: " if action else ""
    try:
        yield
    except ConnectionFailure as exc:
        raise StoreUnavailable(f"{prefix}MongoDB unreachable: {exc}") from exc
    except ConfigurationError as exc:
        raise ConfigError(f"market store URL: {exc}") from exc
    except OperationFailure as exc:
        raise classified(exc.code, f"{prefix}MongoDB: {exc}") from exc
    except PyMongoError as exc:
        raise StoreUnavailable(f"{prefix}MongoDB: {exc}") from exc
