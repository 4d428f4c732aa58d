"""Binance USD-M futures wire formats, parsed into ``petrosa_core.models`` records."""

from petrosa_core.binance._frames import (
    DEFAULT_MAX_BYTES,
    EVENT_TYPES,
    FrameParser,
    event_type_of,
    parse_frame,
)

__all__ = ["DEFAULT_MAX_BYTES", "EVENT_TYPES", "FrameParser", "event_type_of", "parse_frame"]
