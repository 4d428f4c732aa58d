"""Settings read the original service's environment names and refuse bad values by name."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from petrosa_analytics.settings import AnalyticsSettings
from petrosa_api.settings import ApiSettings
from petrosa_auditor.settings import AuditorSettings
from petrosa_backfiller.settings import BackfillerSettings
from petrosa_core.errors import ConfigError
from petrosa_core.settings import CoreSettings, load_settings
from petrosa_ingestor.settings import IngestorSettings
from tests.harness.nats_auth import credentials_file, nkey_user, tls_files

SETTINGS_CLASSES = (
    CoreSettings,
    IngestorSettings,
    AuditorSettings,
    BackfillerSettings,
    AnalyticsSettings,
    ApiSettings,
)
LEGACY_PREFIXES = ("MONGODB_", "MYSQL_", "POSTGRES_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start each test from an environment that sets none of the settings."""
    names = {name.upper() for cls in SETTINGS_CLASSES for name in cls.model_fields}
    for name in list(os.environ):
        if name in names or name.startswith(LEGACY_PREFIXES):
            monkeypatch.delenv(name)


def test_defaults_point_at_local_nats_and_sqlite_files() -> None:
    settings = load_settings(CoreSettings)

    assert settings.nats_url == "nats://localhost:4222"
    assert settings.market_store_url == "sqlite+aiosqlite:///./data/market.db"
    assert settings.metadata_store_url == "sqlite+aiosqlite:///./data/metadata.db"
    assert settings.metrics_port == 9090
    assert settings.metrics_host == "0.0.0.0"  # a container is reached from outside its pod
    assert settings.log_level == "INFO"


# The MONGODB_* replica-set settings' defaults, added to a MongoDB URL that leaves them unset.
MONGO_DEFAULTS = "?w=majority&journal=true&readPreference=primary&retryWrites=true&retryReads=true"


def test_core_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://nats.prod:4222")
    monkeypatch.setenv("MARKET_STORE_URL", "mongodb://mongo:27017/market")
    monkeypatch.setenv("METADATA_STORE_URL", "mysql+asyncmy://dm:pw@mysql:3306/meta")
    monkeypatch.setenv("METRICS_PORT", "9100")
    monkeypatch.setenv("METRICS_HOST", "127.0.0.1")
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("SHUTDOWN_TIMEOUT", "2.5")

    settings = load_settings(CoreSettings)

    assert (settings.nats_url, settings.market_store_url, settings.metadata_store_url) == (
        "nats://nats.prod:4222",
        "mongodb://mongo:27017/market" + MONGO_DEFAULTS,
        "mysql+asyncmy://dm:pw@mysql:3306/meta",
    )
    assert (settings.metrics_port, settings.log_level, settings.shutdown_timeout) == (
        9100,
        "DEBUG",
        2.5,
    )
    assert settings.metrics_host == "127.0.0.1"


def test_legacy_mongodb_url_selects_mongodb_for_market_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://legacy:27017/petrosa")

    assert load_settings(CoreSettings).market_store_url == (
        "mongodb://legacy:27017/petrosa" + MONGO_DEFAULTS
    )


def test_legacy_mongodb_parts_build_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HOST": "mongo.svc",
        "PORT": "27018",
        "USER": "dm",
        "PASSWORD": "p@ss",
        "DB": "markets",
    }.items():
        monkeypatch.setenv(f"MONGODB_{name}", value)

    assert (
        load_settings(CoreSettings).market_store_url
        == "mongodb://dm:p%40ss@mongo.svc:27018/markets" + MONGO_DEFAULTS
    )


def test_store_url_wins_over_legacy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONGODB_URL", "mongodb://legacy:27017/petrosa")
    monkeypatch.setenv("MYSQL_HOST", "mysql.svc")
    monkeypatch.setenv("MARKET_STORE_URL", "sqlite+aiosqlite:///m.db")
    monkeypatch.setenv("METADATA_STORE_URL", "sqlite+aiosqlite:///d.db")

    settings = load_settings(CoreSettings)

    assert (settings.market_store_url, settings.metadata_store_url) == (
        "sqlite+aiosqlite:///m.db",
        "sqlite+aiosqlite:///d.db",
    )


def test_legacy_mysql_variables_select_mysql_for_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "HOST": "mysql.svc",
        "PORT": "3307",
        "USER": "dm",
        "PASSWORD": "secret",
        "DB": "meta",
    }.items():
        monkeypatch.setenv(f"MYSQL_{name}", value)

    assert (
        load_settings(CoreSettings).metadata_store_url
        == "mysql+asyncmy://dm:secret@mysql.svc:3307/meta"
    )


def test_postgres_variables_are_the_fallback_for_each_mysql_part(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("POSTGRES_HOST", "old.svc")
    monkeypatch.setenv("POSTGRES_USER", "olduser")
    monkeypatch.setenv("POSTGRES_DB", "olddb")
    monkeypatch.setenv("MYSQL_USER", "newuser")

    url = load_settings(CoreSettings).metadata_store_url

    assert url == "mysql+asyncmy://newuser:@old.svc:3306/olddb"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("METRICS_PORT", "abc"),
        ("METRICS_PORT", "70000"),
        ("LOG_LEVEL", "LOUD"),
        ("SHUTDOWN_TIMEOUT", "0"),
        ("ENABLE_LEADER_ELECTION", "maybe"),
    ],
)
def test_a_bad_value_raises_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigError) as raised:
        load_settings(CoreSettings)

    assert f"{variable}: " in str(raised.value)


def test_heartbeat_must_be_shorter_than_the_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADER_ELECTION_HEARTBEAT_INTERVAL", "20")
    monkeypatch.setenv("LEADER_ELECTION_TIMEOUT", "15")

    with pytest.raises(ConfigError, match="LEADER_ELECTION_HEARTBEAT_INTERVAL must be shorter"):
        load_settings(CoreSettings)


def test_ingestor_reads_its_subject(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(IngestorSettings).nats_consumer_subject == "binance.futures.websocket.data"
    monkeypatch.setenv("NATS_CONSUMER_SUBJECT", "test.frames")

    settings = load_settings(IngestorSettings)

    assert (settings.nats_consumer_subject, settings.service_name) == ("test.frames", "ingestor")


def test_auditor_defaults_follow_the_original_service() -> None:
    settings = load_settings(AuditorSettings)

    assert (
        settings.audit_interval,
        settings.enable_auto_backfill,
        settings.min_auto_backfill_gap,
        settings.max_auto_backfill_jobs,
        settings.enable_duplicate_removal,
        settings.duplicate_resolution_strategy,
    ) == (300, False, 3600, 5, False, "keep_newest")


def test_auditor_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AUDIT_INTERVAL": "60",
        "ENABLE_AUTO_BACKFILL": "true",
        "MIN_AUTO_BACKFILL_GAP": "120",
        "MAX_AUTO_BACKFILL_JOBS": "2",
        "ENABLE_DUPLICATE_REMOVAL": "true",
        "DUPLICATE_RESOLUTION_STRATEGY": "keep_oldest",
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings(AuditorSettings)

    assert (
        settings.audit_interval,
        settings.enable_auto_backfill,
        settings.min_auto_backfill_gap,
        settings.max_auto_backfill_jobs,
        settings.enable_duplicate_removal,
        settings.duplicate_resolution_strategy,
    ) == (60, True, 120, 2, True, "keep_oldest")


def test_auditor_refuses_an_unknown_duplicate_strategy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUPLICATE_RESOLUTION_STRATEGY", "manual")

    with pytest.raises(ConfigError, match="DUPLICATE_RESOLUTION_STRATEGY: "):
        load_settings(AuditorSettings)


def test_backfiller_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = load_settings(BackfillerSettings)
    assert (
        defaults.binance_fapi_url,
        defaults.binance_weight_limit,
        defaults.binance_weight_window,
        defaults.max_auto_backfill_jobs,
    ) == ("https://fapi.binance.com", 2400, 60, 5)
    for name, value in {
        "BINANCE_FAPI_URL": "http://127.0.0.1:9999",
        "BINANCE_WEIGHT_LIMIT": "100",
        "BINANCE_WEIGHT_WINDOW": "0.5",
        "MAX_AUTO_BACKFILL_JOBS": "1",
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings(BackfillerSettings)

    assert (
        settings.binance_fapi_url,
        settings.binance_weight_limit,
        settings.binance_weight_window,
        settings.max_auto_backfill_jobs,
    ) == ("http://127.0.0.1:9999", 100, 0.5, 1)


def test_analytics_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(AnalyticsSettings).analytics_interval == 900
    monkeypatch.setenv("ANALYTICS_INTERVAL", "30")

    assert load_settings(AnalyticsSettings).analytics_interval == 30


def test_api_environment_names(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text("key-three-0123456789:read\n")
    monkeypatch.setenv("API_PORT", "8080")
    monkeypatch.setenv("API_HOST", "127.0.0.1")
    monkeypatch.setenv("API_KEYS", "key-one-0123456789:read,key-two-0123456789:read+write+admin")
    monkeypatch.setenv("API_KEYS_FILE", str(keys))
    monkeypatch.setenv("API_REQUIRE_AUTH_FOR_READS", "true")

    settings = load_settings(ApiSettings)

    assert (
        settings.api_port,
        settings.api_host,
        settings.api_keys,
        settings.api_keys_file,
        settings.api_require_auth_for_reads,
    ) == (
        8080,
        "127.0.0.1",
        "key-one-0123456789:read,key-two-0123456789:read+write+admin",
        keys,
        True,
    )
    assert len(settings.keys()) == 3


def test_api_defaults_and_an_empty_keys_file_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEYS_FILE", "")

    settings = load_settings(ApiSettings)

    assert (
        settings.api_port,
        settings.api_host,
        settings.api_keys,
        settings.api_keys_file,
        settings.api_require_auth_for_reads,
        settings.api_max_body_bytes,
    ) == (8000, "0.0.0.0", "", None, False, 1 << 20)


def test_api_refuses_a_missing_keys_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("API_KEYS_FILE", str(tmp_path / "absent"))

    with pytest.raises(ConfigError, match="API_KEYS_FILE: .*no such file"):
        load_settings(ApiSettings)


SECRET = "s3cret-9d1c"


def test_nats_login_and_tls_files_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    tls = tls_files(tmp_path)
    for name, value in {
        "NATS_URL": "tls://nats.svc:4222",
        "NATS_USER": "ingestor",
        "NATS_PASSWORD": SECRET,
        "NATS_TLS_CA_FILE": str(tls.ca),
        "NATS_TLS_CERT_FILE": str(tls.client_cert),
        "NATS_TLS_KEY_FILE": str(tls.client_key),
        "NATS_TLS_HOSTNAME": "nats.example.internal",
    }.items():
        monkeypatch.setenv(name, value)

    settings = load_settings(IngestorSettings)

    assert (settings.nats_user, settings.nats_password) == ("ingestor", SecretStr(SECRET))
    assert (settings.nats_tls_ca_file, settings.nats_tls_hostname) == (
        tls.ca,
        "nats.example.internal",
    )
    assert SECRET not in f"{settings!r} {settings}"
    context = settings.nats_tls_context()
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED


def test_nats_needs_no_login_or_tls_by_default_and_tls_url_alone_turns_tls_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plain = load_settings(CoreSettings)
    monkeypatch.setenv("NATS_URL", "tls://nats.svc:4222")

    assert (plain.nats_user, plain.nats_password, plain.nats_token) == ("", None, None)
    assert plain.nats_tls_context() is None
    assert load_settings(CoreSettings).nats_tls_context() is not None


def test_nkey_seed_and_credentials_files_are_accepted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seed, _ = nkey_user(tmp_path)
    creds, _ = credentials_file(tmp_path)
    monkeypatch.setenv("NATS_NKEY_SEED_FILE", str(seed))
    assert load_settings(CoreSettings).nats_nkey_seed_file == seed
    monkeypatch.delenv("NATS_NKEY_SEED_FILE")
    monkeypatch.setenv("NATS_CREDS_FILE", str(creds))
    assert load_settings(CoreSettings).nats_creds_file == creds


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"NATS_TOKEN": SECRET, "NATS_USER": "dm", "NATS_PASSWORD": SECRET}, "NATS_TOKEN"),
        ({"NATS_URL": f"nats://dm:{SECRET}@nats:4222", "NATS_TOKEN": SECRET}, "NATS_URL"),
        ({"NATS_USER": "dm"}, "NATS_USER and NATS_PASSWORD go together"),
        ({"NATS_PASSWORD": SECRET}, "NATS_USER and NATS_PASSWORD go together"),
        ({"NATS_TLS_CERT_FILE": "{client.pem}"}, "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE"),
        ({"NATS_TLS_KEY_FILE": "{client.key}"}, "NATS_TLS_CERT_FILE and NATS_TLS_KEY_FILE"),
        ({"NATS_TLS_CA_FILE": "{absent}"}, "NATS_TLS_CA_FILE: no such file"),
        ({"NATS_CREDS_FILE": "{absent}"}, "NATS_CREDS_FILE: no such file"),
        ({"NATS_NKEY_SEED_FILE": "{junk}"}, "NATS_NKEY_SEED_FILE: "),
        ({"NATS_CREDS_FILE": "{junk}"}, "NATS_CREDS_FILE: "),
        ({"NATS_TLS_CA_FILE": "{junk}"}, "NATS_TLS_CA_FILE/CERT_FILE/KEY_FILE do not load"),
    ],
)
def test_a_contradictory_or_missing_nats_login_or_tls_file_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, str], named: str
) -> None:
    tls = tls_files(tmp_path)
    files = {
        "{client.pem}": str(tls.client_cert),
        "{client.key}": str(tls.client_key),
        "{absent}": str(tmp_path / "absent"),
        "{junk}": write(tmp_path / "junk", f"{SECRET}\n"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, files.get(value, value))

    with pytest.raises(ConfigError) as refused:
        load_settings(CoreSettings)

    assert named in str(refused.value)
    assert SECRET not in str(refused.value)


def test_a_service_refuses_a_contradictory_nats_login_at_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NATS_TOKEN", SECRET)
    monkeypatch.setenv("NATS_USER", "analytics")
    monkeypatch.setenv("NATS_PASSWORD", SECRET)

    done = subprocess.run(
        [sys.executable, "-m", "petrosa_analytics"], capture_output=True, text=True, timeout=60
    )

    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "NATS takes one login, not NATS_USER/NATS_PASSWORD and NATS_TOKEN" in done.stderr
    assert SECRET not in done.stderr


def test_a_service_configured_with_its_own_variables_loads_no_other_service() -> None:
    # The other services' settings (and the auditor's polars) are loaded only to judge a
    # variable the running service does not read; each costs every process memory.
    probe = (
        "import sys\n"
        "from petrosa_core.preflight import stray_variables\n"
        "from petrosa_ingestor.settings import IngestorSettings\n"
        "env = {'NATS_URL': 'nats://x', 'INGEST_BATCH_SIZE': '5', 'MONGODB_HOST': 'm'}\n"
        "assert stray_variables(env, own=IngestorSettings.model_fields) == []\n"
        "loaded = [m for m in ('petrosa_auditor', 'petrosa_api', 'polars') if m in sys.modules]\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == ""
