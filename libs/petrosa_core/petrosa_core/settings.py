"""Settings shared by every service; each service subclasses ``CoreSettings``.

Environment names follow the original service so existing deployments keep working.
Build settings in ``main()`` with ``load_settings`` and pass them down.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar
from urllib.parse import quote

import pydantic
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from petrosa_core.errors import ConfigError

DEFAULT_MARKET_STORE_URL = "sqlite+aiosqlite:///./data/market.db"
DEFAULT_METADATA_STORE_URL = "sqlite+aiosqlite:///./data/metadata.db"


class CoreSettings(BaseSettings):
    """What every process needs: where NATS and the two stores are, and how to report."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    service_name: str = "petrosa"
    nats_url: str = "nats://localhost:4222"
    market_store_url: str = ""
    metadata_store_url: str = ""
    metrics_port: int = Field(9090, ge=0, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    shutdown_timeout: float = Field(10.0, gt=0)

    enable_leader_election: bool = True
    leader_election_heartbeat_interval: float = Field(5.0, gt=0)
    leader_election_timeout: float = Field(15.0, gt=0)

    @model_validator(mode="after")
    def _resolve_store_urls(self) -> CoreSettings:
        # Frozen model: fill the derived defaults through object.__setattr__ once.
        if not self.market_store_url:
            object.__setattr__(self, "market_store_url", _legacy_mongodb_url())
        if not self.metadata_store_url:
            object.__setattr__(self, "metadata_store_url", _legacy_mysql_url())
        if self.leader_election_heartbeat_interval >= self.leader_election_timeout:
            raise ValueError(
                "LEADER_ELECTION_HEARTBEAT_INTERVAL must be shorter than LEADER_ELECTION_TIMEOUT"
            )
        return self


def _legacy_mongodb_url() -> str:
    """``MONGODB_URL`` or ``MONGODB_HOST``/... of the original service, else SQLite."""
    if url := os.environ.get("MONGODB_URL"):
        return url
    host = os.environ.get("MONGODB_HOST")
    if not host:
        return DEFAULT_MARKET_STORE_URL
    port = os.environ.get("MONGODB_PORT", "27017")
    db = os.environ.get("MONGODB_DB", "petrosa_data_manager")
    user = os.environ.get("MONGODB_USER")
    auth = f"{quote(user)}:{quote(os.environ.get('MONGODB_PASSWORD', ''))}@" if user else ""
    return f"mongodb://{auth}{host}:{port}/{db}"


def _env(name: str, default: str = "") -> str:
    """``MYSQL_<name>``, falling back to the original service's ``POSTGRES_<name>``."""
    return os.environ.get(f"MYSQL_{name}") or os.environ.get(f"POSTGRES_{name}") or default


def _legacy_mysql_url() -> str:
    host = _env("HOST")
    if not host:
        return DEFAULT_METADATA_STORE_URL
    user, password = quote(_env("USER", "root")), quote(_env("PASSWORD"))
    db = _env("DB", "petrosa_data_manager")
    return f"mysql+asyncmy://{user}:{password}@{host}:{_env('PORT', '3306')}/{db}"


S = TypeVar("S", bound=CoreSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build ``cls`` from the environment; a bad value raises ``ConfigError`` naming it."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'_'.join(str(p) for p in err['loc']).upper() or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
