"""What a service settles before it starts: its arguments, its ports, stray variables.

Everything here runs before the event loop, so a process that cannot work ends at once
with one line naming the variable at fault.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import socket
import sys
from collections.abc import Iterable, Mapping
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from petrosa_core import __version__
from petrosa_core.errors import ConfigError
from petrosa_core.settings import CoreSettings, NatsSettings

if TYPE_CHECKING:
    from petrosa_core.runtime import Runtime

# Each service's settings class, declared by the distribution that ships the services:
# the core learns every setting of the suite without importing a service.
SETTINGS_ENTRY_POINTS = "petrosa.settings"
# The original service's variables, read when the *_STORE_URL variables are unset.
LEGACY_VARIABLES = {
    "MONGODB_URL": "MongoDB for market data when MARKET_STORE_URL is unset",
    "MONGODB_HOST": "or MongoDB by parts: MONGODB_HOST, _PORT, _USER, _PASSWORD, _DB",
    "MONGODB_PORT": "",
    "MONGODB_USER": "",
    "MONGODB_PASSWORD": "",
    "MONGODB_DB": "",
    "MYSQL_HOST": "MySQL for metadata when METADATA_STORE_URL is unset: MYSQL_HOST, _PORT, "
    "_USER, _PASSWORD, _DB (POSTGRES_* as fallbacks)",
    "MYSQL_PORT": "",
    "MYSQL_USER": "",
    "MYSQL_PASSWORD": "",
    "MYSQL_DB": "",
}
# Prefixes only this suite's settings use: a variable with one of them that names no
# setting is almost surely a typo, and a typo silently leaves a default in force.
SUITE_PREFIXES = (
    "ANALYTICS_",
    "API_",
    "AUDIT_",
    "BACKFILL_",
    "BINANCE_",
    "DEADLETTER_",
    "ENABLE_",
    "INGEST_",
    "LEADER_ELECTION_",
    "MARKET_STORE_",
    "METADATA_STORE_",
    "METRICS_",
    "MONGODB_",
    "MYSQL_",
    "NATS_",
)


def parse_arguments(settings_cls: type[NatsSettings], argv: list[str]) -> None:
    """``--help`` (the environment variables the service reads) and ``--version``."""
    service = str(settings_cls.model_fields["service_name"].default)
    program = Path(sys.argv[0]).name
    parser = argparse.ArgumentParser(
        prog=f"python -m petrosa_{service}" if program == "__main__.py" else program,
        description=f"The Petrosa {service}. {settings_cls.__doc__ or ''}".strip(),
        epilog=environment_help(settings_cls),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.parse_args(argv)


def environment_help(settings_cls: type[NatsSettings]) -> str:
    """Every environment variable ``settings_cls`` reads, with its type and default."""
    fields = settings_cls.model_fields.items()
    rows = [(name.upper(), _describe(name, field)) for name, field in fields if name not in _HIDDEN]
    if issubclass(settings_cls, CoreSettings):
        rows += [(name, text) for name, text in LEGACY_VARIABLES.items() if text]
    width = max(len(name) for name, _ in rows)
    lines = [f"  {name.ljust(width)}  {text}".rstrip() for name, text in rows]
    return "environment variables (the only configuration):\n" + "\n".join(lines)


def _describe(name: str, field: FieldInfo) -> str:
    """``number > 0, default 300.0``: what a value may be and what applies when unset."""
    bounds = [
        f"{symbol} {getattr(rule, attr)}"
        for rule in field.metadata
        for attr, symbol in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        if getattr(rule, attr, None) is not None
    ]
    kind = " ".join([_kind(field.annotation), *bounds])
    default = _DEFAULTS.get(name) or ("unset" if field.default in (None, "") else field.default)
    return f"{kind}, default {str(default).lower() if default in (True, False) else default}"


def _kind(annotation: Any) -> str:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is Literal:
        return "one of " + "|".join(str(a) for a in args)
    if args:  # X | None
        return _kind(args[0])
    if annotation is SecretStr:
        return "secret"
    return _KINDS.get(annotation, getattr(annotation, "__name__", str(annotation)))


_KINDS: dict[Any, str] = {
    bool: "true|false",
    int: "integer",
    float: "number",
    str: "text",
    Path: "file",
}
# Defaults worked out at start-up rather than written on the field.
_DEFAULTS = {
    "market_store_url": "sqlite+aiosqlite:///./data/market.db (or MONGODB_* below)",
    "metadata_store_url": "sqlite+aiosqlite:///./data/metadata.db (or MYSQL_* below)",
}
# SERVICE_NAME is the process's identity (logs, the ENABLE_ switch), not an operator's knob.
_HIDDEN = frozenset({"service_name"})


def check_ports(settings: CoreSettings) -> None:
    """Refuse to start when a port this process must listen on is taken or cannot be used."""
    for variable, (host, port) in settings.listen_addresses().items():
        if port == 0:
            continue  # any free port
        try:
            with socket.create_server((host, port)):
                pass
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"{variable}: {host}:{port} is in use by another program; stop it or set "
                    f"{variable} to a free port"
                ) from None
            raise ConfigError(f"{variable}: cannot listen on {host}:{port}: {exc}") from None


@cache
def known_variables() -> frozenset[str]:
    """Every variable some service of the suite reads; empty when the install lists none."""
    classes = [point.load() for point in entry_points(group=SETTINGS_ENTRY_POINTS)]
    names = {name.upper() for cls in classes for name in cls.model_fields}
    return frozenset(names | LEGACY_VARIABLES.keys()) if names else frozenset()


def stray_variables(
    environ: Mapping[str, str], known: Iterable[str] | None = None, own: Iterable[str] = ()
) -> list[str]:
    """Variables with a suite prefix that no service reads, each with the closest name.

    ``own`` (the running service's settings) is checked first: the other services' settings
    are loaded only for a name it does not read, so a service that is configured only with
    its own variables never imports the others' packages (the auditor's pulls in polars).
    """
    own_names = {name.upper() for name in own} | LEGACY_VARIABLES.keys()
    suspects = [
        name
        for name in sorted(environ)
        if name.upper().startswith(SUITE_PREFIXES) and name.upper() not in own_names
    ]
    if not suspects:
        return []
    names = frozenset(known) if known is not None else known_variables()
    if not names:
        return []  # without the list of settings every variable would look stray
    found = []
    for name in suspects:
        upper = name.upper()
        if upper not in names:
            close = difflib.get_close_matches(upper, sorted(names), n=1)
            found.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return found


async def serve_probes_only(runtime: Runtime, settings: CoreSettings) -> None:
    """A switched-off service: probes and metrics on its port, ready, and no work at all."""
    # Imported here: both import the runtime, which imports this module.
    from petrosa_core.http import health_app, serve_http
    from petrosa_core.runtime import idle

    host, port = next(iter(settings.listen_addresses().values()))
    await serve_http(runtime, health_app(runtime), port, host=host)
    runtime.spawn("switched off", idle(runtime))


__all__ = [
    "check_ports",
    "environment_help",
    "known_variables",
    "parse_arguments",
    "serve_probes_only",
    "stray_variables",
]
