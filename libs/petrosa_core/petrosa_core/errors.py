"""The one exception tree of the suite; third-party errors are translated at each boundary.

PetrosaError
├── ConfigError            bad or missing setting (names the variable)
├── ParseError             a frame or payload that cannot be decoded (carries ``reason``)
├── ValidationError        a request or record that breaks a rule (carries ``reason``)
├── StoreError             a market or metadata store failed (a bug until shown otherwise)
│   ├── StoreUnavailable   the store cannot write or answer now; retrying later may work
│   └── RecordRejected     the store refused one record's content; retrying cannot help
├── BusError               NATS failed
│   ├── BusTimeout         no answer in time (a request, a JetStream call)
│   ├── NoResponders       nobody listens on the subject of a request
│   └── KeyConflict        a key-value create or update found another writer's revision
├── LeadershipLost         a leader could not renew its lease
└── ExchangeError          Binance answered with an error
"""

from __future__ import annotations


class PetrosaError(Exception):
    """Base of every error this suite raises on purpose."""


class ConfigError(PetrosaError):
    """A setting is missing or unsafe; the message names the variable."""


class ParseError(PetrosaError):
    """A frame could not be decoded; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ValidationError(PetrosaError):
    """A request or record breaks a rule; ``reason`` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StoreError(PetrosaError):
    """A market or metadata store operation failed."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or cannot write right now (down, full, read-only)."""


class RecordRejected(StoreError):
    """The store refused a record for its content (a constraint, a value it cannot hold)."""


class BusError(PetrosaError):
    """A NATS operation failed."""


class BusTimeout(BusError):
    """NATS, or the peer asked, did not answer in time; asking again later may work."""


class NoResponders(BusError):
    """No process subscribes to the subject a request was sent on."""


class KeyConflict(BusError):
    """A key-value ``create`` found the key taken, or an ``update`` a newer revision."""


class LeadershipLost(PetrosaError):
    """This process no longer holds the lease it was working under."""


class ExchangeError(PetrosaError):
    """Binance answered with an error status; ``code`` is Binance's own error code."""

    def __init__(self, status: int, code: int | None, message: str) -> None:
        super().__init__(f"HTTP {status} (code {code}): {message}")
        self.status = status
        self.code = code
        self.message = message
