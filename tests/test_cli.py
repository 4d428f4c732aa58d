"""The ``petrosa`` console script as a user types it: ``backfill`` and ``audit`` dispatch."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from petrosa_auditor.report import iso
from petrosa_core import __version__
from petrosa_core.metadata import MetadataStore
from tests.auditor._support import MIN, csv_candles, opened, write
from tests.harness.servers import free_port

SCRIPT = Path(sys.executable).with_name("petrosa")
# The installed console script; ``-m petrosa_cli`` runs the same ``main`` where none is.
PETROSA = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "petrosa_cli"]
STEP = 5 * MIN
ROWS = 120  # ten hours of five-minute candles
LOST_FROM, LOST = 60, 12  # one hour deleted from the middle
WAIT = 60.0


async def petrosa(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run ``petrosa ARGS``; its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        *PETROSA,
        *args,
        env={**os.environ, **env},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(WAIT):
            out, err = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Stores in this test's folder, so nothing touches ``./data``."""
    return {
        "MARKET_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'market.db'}",
        "METADATA_STORE_URL": f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}",
        "NATS_URL": "nats://127.0.0.1:1",
    }


async def test_help_of_backfill_and_audit_names_their_options(env: dict[str, str]) -> None:
    (b_code, b_out, _), (a_code, a_out, _) = await asyncio.gather(
        petrosa("backfill", "--help", env=env), petrosa("audit", "--help", env=env)
    )

    assert b_code == 0
    assert b_out.startswith("usage: petrosa backfill ")
    for option in ("symbol", "--type", "--interval", "--start", "--end", "--list", "--no-follow"):
        assert option in b_out
    assert a_code == 0
    assert a_out.startswith("usage: petrosa audit ")
    for option in ("dataset", "--full", "--window", "--start", "--end", "--json", "--record"):
        assert option in a_out


async def test_audit_prints_the_score_and_the_gap_it_finds(
    env: dict[str, str], shared_data: Path
) -> None:
    candles = csv_candles(shared_data / "xrpusdt_perp_5m_klines.csv", "XRPUSDT", "5m", STEP)
    kept = candles[:LOST_FROM] + candles[LOST_FROM + LOST : ROWS]
    async with opened(env["MARKET_STORE_URL"]) as store:
        await write(store, kept)
    start, end = candles[0].open_time, candles[ROWS - 1].open_time + STEP
    lost_first, lost_last = candles[LOST_FROM].open_time, candles[LOST_FROM + LOST - 1].open_time

    code, out, err = await petrosa(
        "audit", "candles:XRPUSDT:5m", "--start", iso(start), "--end", str(end), env=env
    )
    lines = out.splitlines()

    assert (code, err) == (0, "")
    # 108 of 120 candles: completeness 0.9; the data is years old, so freshness is ~0.
    assert lines[0] == (
        "candles:XRPUSDT:5m  score 76.00  (completeness 0.900, validity 1.000, "
        "freshness 0.000, consistency 1.000)"
    )
    assert lines[1] == f"  range audit of {iso(start)} .. {iso(end)}: 108 records, 120 expected"
    gaps = lines.index("  gaps: 1")
    assert lines[gaps + 1] == f"    error   {iso(lost_first)} .. {iso(lost_last)}  12 missing"


async def test_audit_of_a_dataset_with_no_records_says_so(env: dict[str, str]) -> None:
    code, out, err = await petrosa("audit", "candles:NOPEUSDT:1m", "--full", env=env)

    assert (code, out) == (2, "")
    assert err == "petrosa audit: unknown_dataset: candles:NOPEUSDT:1m holds no records\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["XRPUSDT", "--type", "klines", "--start", "2021-11-15"],
            "argument --type: invalid choice: 'klines'",
        ),
        (["--start", "2021-11-15"], "petrosa backfill: SYMBOL and --start are required"),
    ],
)
async def test_backfill_with_a_bad_argument_exits_2_and_says_why(
    env: dict[str, str], args: list[str], message: str
) -> None:
    code, out, err = await petrosa("backfill", *args, env=env)

    assert (code, out) == (2, "")
    assert err.startswith("usage: petrosa backfill ")
    assert message in err


async def test_migrate_brings_both_stores_to_the_newest_schema_and_says_so(
    env: dict[str, str], tmp_path: Path
) -> None:
    code, out, err = await petrosa("migrate", env=env)
    again, out_again, _ = await petrosa("migrate", env=env)
    # Opens without migrating only when the schema is at the newest revision.
    await (await MetadataStore.open(env["METADATA_STORE_URL"], migrate=False)).close()

    market_line, metadata_line = out.splitlines()
    assert (code, err, again, out_again) == (0, "", 0, out)
    assert market_line.startswith(f"market store, SQLite at {tmp_path / 'market.db'}: at revision")
    assert metadata_line.startswith(f"metadata store, SQLite at {tmp_path / 'metadata.db'}: at ")


async def test_migrate_names_the_variable_of_a_store_it_cannot_use(env: dict[str, str]) -> None:
    code, out, err = await petrosa("migrate", env={**env, "METADATA_STORE_URL": "postgres://d/m"})

    assert (code, out) == (2, "")
    assert err.startswith("petrosa migrate: invalid configuration: METADATA_STORE_URL: scheme")
    assert err.count("\n") == 1


@pytest.mark.parametrize("command", ["backfill", "audit"])
async def test_each_cli_prints_its_version(env: dict[str, str], command: str) -> None:
    code, out, _ = await petrosa(command, "--version", env=env)

    assert code == 0
    assert out == f"petrosa {command} {__version__}\n"


async def test_audit_names_the_store_it_could_not_reach(env: dict[str, str]) -> None:
    port = free_port()
    mongo = f"mongodb://127.0.0.1:{port}/market?serverSelectionTimeoutMS=300"

    code, out, err = await petrosa("audit", "--full", env={**env, "MARKET_STORE_URL": mongo})

    assert (code, out) == (1, "")
    assert err.startswith(
        f"petrosa audit: failed: cannot reach MongoDB at 127.0.0.1:{port} (MARKET_STORE_URL): "
    )
    assert err.count("\n") == 1
