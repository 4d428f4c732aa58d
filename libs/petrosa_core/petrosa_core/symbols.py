"""Binance symbols: one rule for every place a symbol enters (frames, NATS, API, CLI).

A USD-M futures symbol is upper-case ASCII letters and digits (``BTCUSDT``,
``1000SHIBUSDT``), and a delivery contract adds its expiry after an underscore
(``BTCUSDT_250328``). Binance itself refuses anything outside ``[A-Z0-9-_.]{1,20}``;
bounding the length here keeps every subject, key and table row built from a symbol small.
"""

from __future__ import annotations

import re

from petrosa_core.errors import ValidationError

# Binance's own limit is 20 characters; the expiry suffix of delivery contracts adds 7.
MAX_BASE_LENGTH = 20
SYMBOL_PATTERN = rf"^[A-Z0-9]{{1,{MAX_BASE_LENGTH}}}(?:_[0-9]{{6}})?$"
_SYMBOL = re.compile(SYMBOL_PATTERN)


def check_symbol(value: object) -> str:
    """``value`` if it is a symbol exactly as Binance writes it; else ``ValidationError``."""
    if not isinstance(value, str) or not _SYMBOL.fullmatch(value):
        raise ValidationError("bad_symbol", f"{_shown(value)} is not a Binance symbol")
    return value


def normalize_symbol(value: object) -> str:
    """A symbol a person typed (``btcusdt``): ASCII is upper-cased, then checked."""
    if isinstance(value, str) and value.isascii():
        return check_symbol(value.upper())
    return check_symbol(value)


def _shown(value: object) -> str:
    """``value`` for an error message, cut short so a hostile symbol cannot flood a log."""
    # Only the first 41 characters are shown: a 10 MB name is never copied whole.
    text = repr(value[:41] if isinstance(value, str) else value)
    return text if len(text) <= 40 else f"{text[:37]}...' ({len(str(value))} characters)"
