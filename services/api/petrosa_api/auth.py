"""API keys with scopes, parsed from ``API_KEYS``/``API_KEYS_FILE`` and matched in constant time.

An entry is ``key:scope+scope``; scopes are ``read``, ``write`` and ``admin`` (admin grants
all three). Error messages name an entry by its position, never by its secret.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

# 16 characters of a random URL-safe key are 96 bits: beyond guessing even without limits.
# A shorter key is a typo or a placeholder, never a secret.
MIN_KEY_LENGTH = 16
_HOW_TO_MAKE_A_KEY = (
    "use a long random key, e.g. from python -c 'import secrets; print(secrets.token_urlsafe(32))'"
)


class Scope(StrEnum):
    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


@dataclass(frozen=True)
class ApiKey:
    """One configured key; ``ident`` is a hash prefix safe to log and to count by."""

    secret: bytes
    scopes: frozenset[Scope]
    ident: str

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or Scope.ADMIN in self.scopes


def key_ident(secret: bytes) -> str:
    """A short hash prefix of a key: tells keys apart in logs and counters, reveals nothing."""
    return hashlib.sha256(secret).hexdigest()[:12]


def parse_key_entries(entries: Iterable[str]) -> list[ApiKey]:
    """Parse ``key:scope+scope`` entries; blank ones and ``#`` comments are skipped."""
    keys: list[ApiKey] = []
    seen: set[bytes] = set()
    for position, raw in enumerate(entries, start=1):
        entry = raw.strip()
        if not entry or entry.startswith("#"):
            continue
        key = _parse_entry(position, entry)
        if key.secret in seen:
            raise ValueError(f"entry {position} repeats a key given earlier")
        seen.add(key.secret)
        keys.append(key)
    return keys


def _parse_entry(position: int, entry: str) -> ApiKey:
    secret, sep, scope_text = entry.rpartition(":")
    if not sep or not secret or any(c.isspace() for c in secret):
        raise ValueError(f"entry {position} is not key:scope+scope")
    if len(secret) < MIN_KEY_LENGTH:
        raise ValueError(
            f"entry {position} is shorter than {MIN_KEY_LENGTH} characters; {_HOW_TO_MAKE_A_KEY}"
        )
    scopes: set[Scope] = set()
    for name in scope_text.split("+"):
        try:
            scopes.add(Scope(name.strip().lower()))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"entry {position} has unknown scope {name!r}; use {known}") from None
    encoded = secret.encode()
    return ApiKey(encoded, frozenset(scopes), key_ident(encoded))


class Keyring:
    """The configured keys; ``match`` compares against every key so timing reveals nothing."""

    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = tuple(keys)

    def __bool__(self) -> bool:
        return bool(self._keys)

    def match(self, presented: str) -> ApiKey | None:
        candidate = presented.encode()
        found: ApiKey | None = None
        for key in self._keys:
            if hmac.compare_digest(candidate, key.secret):
                found = key
        return found
