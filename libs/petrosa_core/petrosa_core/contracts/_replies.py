"""Reading a reply that is either the answer asked for or an ``ErrorReply``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from petrosa_core.contracts._errors import ErrorReply
from petrosa_core.errors import ParseError

R = TypeVar("R")

_decode_error = msgspec.json.Decoder(ErrorReply).decode


def decode_reply(data: bytes, decode: Callable[[bytes], R]) -> R | ErrorReply:
    """``data`` as an ``ErrorReply`` when it holds ``error``, else as ``decode`` reads it.

    Raises ``ParseError("bad_reply")`` for anything that is neither.
    """
    try:
        return _decode_error(data)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as exc:
        raise ParseError("bad_reply", f"the reply is not JSON: {exc}") from None
    except RecursionError:  # msgspec recurses once per nested array or object
        raise ParseError("bad_reply", "the reply nests too deeply") from None
    try:
        return decode(data)
    except ParseError as exc:
        raise ParseError("bad_reply", exc.detail) from None
