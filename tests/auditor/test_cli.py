"""``petrosa audit``: one local audit printed for a person, or as JSON; stores from settings."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from petrosa_auditor.cli import audit_command
from petrosa_core.metadata import MetadataStore
from tests.auditor._support import MIN, candles_id, csv_candles, csv_rows, opened, write

DATASET = candles_id("XRPETH", "1m")


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def stores(tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """XRPETH candles in a SQLite market store named by the environment; their open times."""
    path = shared_data / "xrpeth_spot_1m_klines_with_gaps.csv"
    market = f"sqlite+aiosqlite:///{tmp_path / 'market.db'}"
    monkeypatch.setenv("MARKET_STORE_URL", market)
    monkeypatch.setenv("METADATA_STORE_URL", f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}")

    async def seed() -> None:
        async with opened(market) as store:
            await write(store, csv_candles(path, "XRPETH", "1m", MIN))

    asyncio.run(seed())
    return [int(row[0]) for row in csv_rows(path)]


def test_the_report_lists_every_gap_range(
    stores: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    opens = stores
    end = opens[-1] + MIN
    expected = [
        f"    error   {iso(a + MIN)} .. {iso(b - MIN)}  {(b - a) // MIN - 1} missing"
        for a, b in zip(opens, opens[1:], strict=False)
        if b - a > MIN
    ]

    code = audit_command(
        [str(DATASET), "--start", str(opens[0]), "--end", iso(end), "--limit", "1000"]
    )
    out = capsys.readouterr().out.splitlines()

    assert code == 0
    assert out[0].startswith("candles:XRPETH:1m  score ")
    assert "2469 records, 3560 expected" in out[1]
    gaps = out.index("  gaps: 676")
    assert out[gaps + 1 : gaps + 1 + len(expected)] == expected
    assert out[gaps + 1 + len(expected)] == "  duplicates: none"


def test_json_output_and_recording(
    stores: list[int], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = audit_command(["--full", "--json", "--record"])
    [report] = json.loads(capsys.readouterr().out)

    async def recorded() -> tuple[int, float | None]:
        metadata = await MetadataStore.open(f"sqlite+aiosqlite:///{tmp_path / 'metadata.db'}")
        try:
            findings = await metadata.open_findings(DATASET)
            health = await metadata.latest_health(DATASET)
            return len(findings), health.score if health else None
        finally:
            await metadata.close()

    count, score = asyncio.run(recorded())
    assert code == 0
    assert (report["dataset"], report["mode"], report["records"]) == (str(DATASET), "full", 2469)
    # 676 gaps inside the data, one from its end until now, two jumps and the staleness.
    assert count == 677 + 2 + 1
    assert score == report["score"]


def test_an_unknown_dataset_is_a_usage_error(
    stores: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit_command(["candles:BTCUSDT:1m"]) == 2
    assert "candles:BTCUSDT:1m holds no records" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("when", "why"),
    [
        ("１２", "'１２' is neither epoch milliseconds nor ISO-8601"),
        ("-5", "'-5' is neither epoch milliseconds nor ISO-8601"),
        ("9" * 5000, "is outside 1970-01-01 .. 9999-12-31 (UTC)"),
    ],
)
def test_a_time_the_services_would_refuse_is_refused_before_anything_opens(
    when: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        audit_command([str(DATASET), "--start", when])

    assert stopped.value.code == 2
    assert why in capsys.readouterr().err
