"""API settings; names follow the original service."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from petrosa_api.auth import ApiKey, parse_key_entries
from petrosa_api.shared_ratelimit import STORAGE_SCHEMES
from petrosa_core import contracts
from petrosa_core.settings import CoreSettings


class ApiSettings(CoreSettings):
    """Where the API listens, which keys it accepts and how hard clients may push it.

    ``API_KEYS`` holds ``key:scope+scope`` entries separated by commas; ``API_KEYS_FILE``
    names a file with one entry per line (a mounted Secret).
    """

    service_name: str = "api"
    # The original service's switch; a process switched off serves its probes and nothing else.
    enable_api: bool = True
    api_host: str = "0.0.0.0"
    api_port: int = Field(8000, ge=0, le=65535)
    api_keys: str = ""
    api_keys_file: Path | None = None
    api_require_auth_for_reads: bool = False
    # Per API key, or per client address for anonymous reads; 0 turns limiting off.
    api_rate_limit_per_minute: int = Field(1200, ge=0)
    # How many requests a quiet client may send at once before the per-minute rate applies.
    api_rate_limit_burst: int = Field(60, ge=1)
    # Where the limits are counted: memory:// on each replica alone (the embedded default),
    # redis://host:port/db to hold each client to one limit across every replica.
    api_rate_limit_storage: str = "memory://"
    # Wrong keys per client address: a burst for typos, then a trickle; beyond it, 429.
    api_failed_key_burst: int = Field(10, ge=1)
    api_failed_keys_per_minute: int = Field(6, ge=1)
    # Request bodies are small JSON objects; anything larger is refused with 413 unread.
    api_max_body_bytes: int = Field(1 << 20, ge=1)
    # Catalog and dataset lists change when data lands, not per request.
    api_cache_ttl: float = Field(5.0, ge=0)
    api_backfill_timeout: float = Field(5.0, gt=0)
    backfill_request_subject: str = contracts.BACKFILL_REQUEST
    # How long a caller waits for a window computed on demand; reading and computing one
    # takes well under a second, so this only bounds a stalled analytics process.
    api_analytics_timeout: float = Field(10.0, gt=0)
    analytics_request_subject: str = contracts.ANALYTICS_REQUEST
    # The schema registry (names of the original service). The default mode a schema name
    # follows until it is given its own; compiled validators are cached per version.
    schema_compatibility_mode: Literal[
        "NONE", "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL",
        "FULL_TRANSITIVE",
    ] = "BACKWARD"  # fmt: skip
    schema_validation_enabled: bool = True
    # Strict: a schema with keywords draft-07 does not define, or formats it cannot check,
    # is refused (the specification itself ignores them).
    schema_strict_mode: bool = False
    # Validating against a name nobody registered registers one inferred from the records.
    schema_auto_register: bool = False
    schema_max_versions: int = Field(100, ge=1, le=10_000)
    schema_cache_ttl: float = Field(300.0, ge=0)
    # Browser origins allowed to call the API from other sites (CORS), comma-separated;
    # none by default, ``*`` for any (then without credentials).
    api_cors_origins: str = ""
    # Push channel (/stream, /ws): events queued per client before it is dropped as too
    # slow (events are shared, so a queue costs a pointer per event; an update brings up to
    # 1,000 at once); a resume window of seconds and events (about 1 KiB each); a write a
    # client has not taken in this long drops it; clients per replica.
    api_push_queue: int = Field(10_000, ge=1)
    api_push_replay_seconds: float = Field(30.0, ge=0)
    api_push_replay_events: int = Field(20_000, ge=0)
    api_push_send_timeout: float = Field(10.0, gt=0)
    api_push_max_clients: int = Field(2000, ge=1)

    @field_validator("api_keys_file", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("api_keys_file")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("api_rate_limit_storage")
    @classmethod
    def _known_storage(cls, value: str) -> str:
        scheme = value.partition("://")[0].lower() if "://" in value else ""
        if scheme not in STORAGE_SCHEMES:
            raise ValueError("use memory:// or redis://host:port/db (rediss:// for TLS)")
        return value

    @field_validator("api_keys")
    @classmethod
    def _keys_parse(cls, value: str) -> str:
        parse_key_entries(value.split(","))
        return value

    @model_validator(mode="after")
    def _file_keys_parse(self) -> ApiSettings:
        if self.api_keys_file is not None:
            try:
                parse_key_entries(self.api_keys_file.read_text().splitlines())
            except ValueError as exc:
                raise ValueError(f"API_KEYS_FILE: {exc}") from None
        if self.api_require_auth_for_reads and not self.keys():
            raise ValueError(
                "API_REQUIRE_AUTH_FOR_READS is set but no key is configured: set API_KEYS "
                "or API_KEYS_FILE"
            )
        return self

    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.api_cors_origins.split(",") if o.strip()]

    def listen_addresses(self) -> dict[str, tuple[str, int]]:
        """The API serves its probes and metrics on its own port, not on ``METRICS_PORT``."""
        return {"API_PORT": (self.api_host, self.api_port)}

    def keys(self) -> list[ApiKey]:
        """Every configured key, from ``API_KEYS`` and then ``API_KEYS_FILE``."""
        entries = self.api_keys.split(",")
        if self.api_keys_file is not None:
            entries += self.api_keys_file.read_text().splitlines()
        return parse_key_entries(entries)
