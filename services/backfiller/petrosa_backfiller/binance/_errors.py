"""Binance failures as ``ExchangeError``s, and the one rule for which deserve a retry.

ExchangeError                 petrosa_core.errors
├── BinanceClientError        4xx other than 429/418: the request itself is wrong
├── BinanceServerError        5xx or 408: Binance failed; the same request may succeed
├── BinanceRateLimited        429 or 418; ``retry_after`` seconds until Binance listens
└── BinanceUnavailable        timeout or connection failure; no HTTP status (0)
"""

from __future__ import annotations

from petrosa_core.errors import ExchangeError


class BinanceClientError(ExchangeError):
    """Binance refused the request as malformed or unknown (e.g. -1121 invalid symbol)."""


class BinanceServerError(ExchangeError):
    """Binance answered 5xx or 408: its failure, not ours."""


class BinanceRateLimited(ExchangeError):
    """Binance answered 429 (back off) or 418 (banned) with ``Retry-After``."""

    def __init__(self, status: int, code: int | None, message: str, retry_after: float) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class BinanceUnavailable(ExchangeError):
    """No answer: the request timed out or the connection failed."""

    def __init__(self, message: str) -> None:
        super().__init__(0, None, message)


RETRYABLE: tuple[type[ExchangeError], ...] = (
    BinanceServerError,
    BinanceRateLimited,
    BinanceUnavailable,
)


def should_retry(exc: BaseException) -> bool:
    """Whether sending the same request again may succeed."""
    return isinstance(exc, RETRYABLE)
