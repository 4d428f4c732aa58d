"""Settings shared by every service; each service subclasses ``CoreSettings``.

Environment names follow the original service so existing deployments keep working.
Build settings in ``main()`` with ``load_settings`` and pass them down.
"""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import pydantic
from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from petrosa_core.errors import ConfigError

DEFAULT_MARKET_STORE_URL = "sqlite+aiosqlite:///./data/market.db"
DEFAULT_METADATA_STORE_URL = "sqlite+aiosqlite:///./data/metadata.db"
# The backends of each store by URL scheme: the async drivers the stores are built on.
SQL_SCHEMES = ("sqlite+aiosqlite", "mysql+asyncmy", "mariadb+asyncmy")
MONGO_SCHEMES = ("mongodb", "mongodb+srv")
MARKET_STORE_SCHEMES = (*SQL_SCHEMES, *MONGO_SCHEMES)
METADATA_STORE_SCHEMES = SQL_SCHEMES

MongoReadPreference = Literal[
    "primary", "primaryPreferred", "secondary", "secondaryPreferred", "nearest"
]

NATS_FILES = (
    "nats_nkey_seed_file",
    "nats_creds_file",
    "nats_tls_ca_file",
    "nats_tls_cert_file",
    "nats_tls_key_file",
)
# nats-py reads a credentials file up to these markers and loops forever on one without them.
CREDS_MARKERS = (b"BEGIN NATS USER JWT", b"BEGIN USER NKEY SEED")


class NatsSettings(BaseSettings):
    """Where NATS is, how to log in to it, and how to verify it over TLS.

    One login at most: ``NATS_USER`` with ``NATS_PASSWORD``, ``NATS_TOKEN``, an NKey seed file
    or a credentials file. TLS is on for a ``tls://`` URL or when a CA or client certificate
    is given. The files are mounted from a Secret, so each must exist at start-up.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    nats_url: str = "nats://localhost:4222"
    nats_user: str = ""
    nats_password: SecretStr | None = None
    nats_token: SecretStr | None = None
    nats_nkey_seed_file: Path | None = None
    nats_creds_file: Path | None = None
    nats_tls_ca_file: Path | None = None
    nats_tls_cert_file: Path | None = None
    nats_tls_key_file: Path | None = None
    # The name the server's certificate must carry when NATS_URL names it otherwise (an IP).
    nats_tls_hostname: str = ""
    # How many servers of a JetStream cluster keep each stream and key-value bucket this
    # process creates (market data, dead letters, leases, locks): 3 survives losing a node.
    # JetStream allows at most 5, and no more than the cluster has servers.
    nats_stream_replicas: int = Field(1, ge=1, le=5)
    # A durable consumer's state, on as many servers as its stream when 0.
    nats_consumer_replicas: int = Field(0, ge=0, le=5)

    @field_validator("nats_password", "nats_token", *NATS_FILES, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator(*NATS_FILES)
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("nats_nkey_seed_file")
    @classmethod
    def _holds_a_seed(cls, value: Path | None) -> Path | None:
        if value is None:
            return value
        import nkeys  # only when a seed is configured: it loads libsodium and OpenSSL

        seed = bytearray(_read(value).strip())
        try:
            nkeys.from_seed(seed).wipe()
        except (nkeys.NkeysError, ValueError):
            raise ValueError(f"{value} holds no NKey seed") from None
        return value

    @field_validator("nats_creds_file")
    @classmethod
    def _holds_credentials(cls, value: Path | None) -> Path | None:
        if value is not None and not all(m in _read(value) for m in CREDS_MARKERS):
            raise ValueError(f"{value} is not a NATS credentials file (user JWT and NKey seed)")
        return value

    @model_validator(mode="after")
    def _one_login_and_whole_tls(self) -> NatsSettings:
        logins = [name for name, given in self._logins().items() if given]
        if len(logins) > 1:
            raise ValueError(f"NATS takes one login, not {' and '.join(logins)}")
        if bool(self.nats_user) != (self.nats_password is not None):
            raise ValueError("NATS_USER and NATS_PASSWORD go together: set both or neither")
        if (self.nats_tls_cert_file is None) != (self.nats_tls_key_file is None):
            raise ValueError(
                "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE go together: set both or neither"
            )
        try:
            self.nats_tls_context()
        except ssl.SSLError as exc:
            raise ValueError(f"NATS_TLS_CA_FILE/CERT_FILE/KEY_FILE do not load: {exc}") from None
        return self

    def _logins(self) -> dict[str, bool]:
        return {
            "NATS_USER/NATS_PASSWORD": bool(self.nats_user or self.nats_password),
            "NATS_TOKEN": self.nats_token is not None,
            "NATS_NKEY_SEED_FILE": self.nats_nkey_seed_file is not None,
            "NATS_CREDS_FILE": self.nats_creds_file is not None,
            "credentials in NATS_URL": any("@" in urlsplit(u).netloc for u in self.nats_servers),
        }

    @property
    def nats_servers(self) -> list[str]:
        """The server URLs of ``NATS_URL`` (comma-separated for a cluster)."""
        return [part.strip() for part in self.nats_url.split(",") if part.strip()]

    def nats_tls_context(self) -> ssl.SSLContext | None:
        """The context that verifies the server (and presents our certificate); None: no TLS."""
        wants_tls = any(url.startswith("tls://") for url in self.nats_servers)
        if not (wants_tls or self.nats_tls_ca_file or self.nats_tls_cert_file):
            return None
        context = ssl.create_default_context(cafile=self.nats_tls_ca_file)
        if self.nats_tls_cert_file is not None:
            context.load_cert_chain(self.nats_tls_cert_file, self.nats_tls_key_file)
        return context


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None


class CoreSettings(NatsSettings):
    """What every process needs: where NATS and the two stores are, and how to report."""

    service_name: str = "petrosa"
    market_store_url: str = ""
    metadata_store_url: str = ""
    metrics_port: int = Field(9090, ge=0, le=65535)
    # Every interface, so the kubelet and Prometheus reach the pod; `petrosa dev` binds loopback.
    metrics_host: str = "0.0.0.0"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    shutdown_timeout: float = Field(10.0, gt=0)
    # OpenTelemetry's own variable: the OTLP/HTTP collector (http://collector:4318) that
    # receives spans; tracing is off while it is empty.
    otel_exporter_otlp_endpoint: str = ""

    # A MongoDB replica set: how a write is acknowledged, where reads go, what is retried.
    # Options written in the market store URL itself win over these.
    mongodb_replica_set: str = ""
    # "majority" survives losing the primary; a number acknowledges on that many members.
    mongodb_write_concern: str = Field("majority", pattern=r"^(majority|[0-9]{1,2})$")
    mongodb_write_timeout_ms: int = Field(0, ge=0)  # 0: wait as long as the write takes
    mongodb_journal: bool = True
    mongodb_read_preference: MongoReadPreference = "primary"
    mongodb_read_concern: Literal["", "local", "available", "majority", "linearizable"] = ""
    mongodb_retry_writes: bool = True
    mongodb_retry_reads: bool = True

    enable_leader_election: bool = True
    leader_election_heartbeat_interval: float = Field(5.0, gt=0)
    leader_election_timeout: float = Field(15.0, gt=0)

    # Which variable each store URL came from, for messages about it (set once, below).
    _url_variables: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _resolve_store_urls(self) -> CoreSettings:
        # Frozen model: fill the derived defaults through object.__setattr__ once.
        market, metadata = "MARKET_STORE_URL", "METADATA_STORE_URL"
        if not self.market_store_url:
            url, market = _legacy_mongodb_url()
            object.__setattr__(self, "market_store_url", url)
        if not self.metadata_store_url:
            url, metadata = _legacy_mysql_url()
            object.__setattr__(self, "metadata_store_url", url)
        self._url_variables.update(market=market, metadata=metadata)
        _check_scheme(market, self.market_store_url, MARKET_STORE_SCHEMES)
        if self.market_store_url.partition("://")[0].lower() in MONGO_SCHEMES:
            url = with_options(self.market_store_url, self.mongodb_options())
            object.__setattr__(self, "market_store_url", url)
        _check_scheme(metadata, self.metadata_store_url, METADATA_STORE_SCHEMES)
        if self.leader_election_heartbeat_interval >= self.leader_election_timeout:
            raise ValueError(
                "LEADER_ELECTION_HEARTBEAT_INTERVAL must be shorter than LEADER_ELECTION_TIMEOUT"
            )
        return self

    def mongodb_options(self) -> dict[str, str]:
        """The ``MONGODB_*`` replica-set settings as MongoDB connection-string options."""
        options = {
            "w": self.mongodb_write_concern,
            "journal": _flag(self.mongodb_journal),
            "readPreference": self.mongodb_read_preference,
            "retryWrites": _flag(self.mongodb_retry_writes),
            "retryReads": _flag(self.mongodb_retry_reads),
        }
        if self.mongodb_replica_set:
            options["replicaSet"] = self.mongodb_replica_set
        if self.mongodb_write_timeout_ms:
            options["wTimeoutMS"] = str(self.mongodb_write_timeout_ms)
        if self.mongodb_read_concern:
            options["readConcernLevel"] = self.mongodb_read_concern
        return options

    def url_variable(self, store: Literal["market", "metadata"]) -> str:
        """The variable a store's URL came from: ``MARKET_STORE_URL``, ``MONGODB_URL``, ..."""
        default = "MARKET_STORE_URL" if store == "market" else "METADATA_STORE_URL"
        return self._url_variables.get(store, default)

    def listen_addresses(self) -> dict[str, tuple[str, int]]:
        """The ports this process listens on, by the variable that sets each."""
        return {"METRICS_PORT": (self.metrics_host, self.metrics_port)}

    def switched_off_by(self) -> str | None:
        """``ENABLE_<SERVICE>`` when that switch turns this service off, else None."""
        switch = f"enable_{self.service_name}"
        if switch in type(self).model_fields and not getattr(self, switch):
            return switch.upper()
        return None


def _flag(value: bool) -> str:
    return "true" if value else "false"


def with_options(url: str, options: dict[str, str]) -> str:
    """``url`` with each of ``options`` its query leaves unset (names compared in any case)."""
    parts = urlsplit(url)
    given = {name.lower() for name in parse_qs(parts.query, keep_blank_values=True)}
    added = {name: value for name, value in options.items() if name.lower() not in given}
    if not added:
        return url
    query = "&".join(q for q in (parts.query, urlencode(added)) if q)
    return parts._replace(query=query).geturl()


def _check_scheme(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    """Refuse a URL whose scheme no store backend serves, naming the variable, never the URL."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in schemes:
        known = ", ".join(f"{s}://" for s in schemes)
        named = f"scheme {scheme!r}" if scheme else "a URL without a scheme"
        raise ValueError(f"{variable}: {named} is not supported; use one of {known}")


def _legacy_mongodb_url() -> tuple[str, str]:
    """``MONGODB_URL`` or ``MONGODB_HOST``/... of the original service, else SQLite.

    Returns the URL and the variable it came from.
    """
    if url := os.environ.get("MONGODB_URL"):
        return url, "MONGODB_URL"
    host = os.environ.get("MONGODB_HOST")
    if not host:
        return DEFAULT_MARKET_STORE_URL, "MARKET_STORE_URL"
    port = os.environ.get("MONGODB_PORT", "27017")
    db = os.environ.get("MONGODB_DB", "petrosa_data_manager")
    user = os.environ.get("MONGODB_USER")
    auth = f"{quote(user)}:{quote(os.environ.get('MONGODB_PASSWORD', ''))}@" if user else ""
    return f"mongodb://{auth}{host}:{port}/{db}", "MONGODB_HOST"


def _env(name: str, default: str = "") -> str:
    """``MYSQL_<name>``, falling back to the original service's ``POSTGRES_<name>``."""
    return os.environ.get(f"MYSQL_{name}") or os.environ.get(f"POSTGRES_{name}") or default


def _legacy_mysql_url() -> tuple[str, str]:
    """``MYSQL_*`` (or ``POSTGRES_*``) of the original service, else SQLite; and the variable."""
    host = _env("HOST")
    if not host:
        return DEFAULT_METADATA_STORE_URL, "METADATA_STORE_URL"
    user, password = quote(_env("USER", "root")), quote(_env("PASSWORD"))
    db = _env("DB", "petrosa_data_manager")
    url = f"mysql+asyncmy://{user}:{password}@{host}:{_env('PORT', '3306')}/{db}"
    return url, "MYSQL_HOST" if os.environ.get("MYSQL_HOST") else "POSTGRES_HOST"


S = TypeVar("S", bound=NatsSettings)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build ``cls`` from the environment; a bad value raises ``ConfigError`` naming it."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except pydantic.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {_problems(exc)}") from None


def _problems(exc: pydantic.ValidationError) -> str:
    """``VARIABLE: what is wrong`` for each error; a whole-model check names its own."""
    lines = []
    for err in exc.errors():
        message = err["msg"].removeprefix("Value error, ")
        variable = "_".join(str(part) for part in err["loc"]).upper()
        lines.append(f"{variable}: {message}" if variable else message)
    return "; ".join(lines)
