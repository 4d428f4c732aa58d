"""The dashboard in a real browser: headless Chromium loads /ui from ``petrosa dev`` with
the demo feed, shows its datasets, a live candle chart and a gap the test injects."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import ConsoleMessage, Page, async_playwright

from petrosa_core.bus import connect
from tests.harness.browser import LAUNCH_ARGS, chromium
from tests.test_dev import DevConsole, readiness_url, ready, stop_after_failure

MINUTE = 60_000
GAP_SYMBOL = "GAPUSDT"
GAP_DATASET = f"candles:{GAP_SYMBOL}:1m"
# Minutes before now of the injected candles; 40..31 are left out: a ten-minute gap.
INJECTED = [m for m in range(60, 5, -1) if not 31 <= m <= 40]
DEMO_DATASETS = ("candles:SUSHIUSDT:1m", "trades:SUSHIUSDT", "depth:SUSHIUSDT")
# Each wait on the page is bounded by this; the auditor runs every AUDIT_INTERVAL seconds.
WAIT_MS = 120_000


def kline(symbol: str, open_time: int) -> bytes:
    k = {
        "t": open_time, "T": open_time + MINUTE - 1, "s": symbol, "i": "1m", "f": 1, "L": 2,
        "o": "1.00", "c": "1.05", "h": "1.10", "l": "0.95", "v": "10", "n": 2, "x": True,
        "q": "10.2", "V": "4", "Q": "4.1", "B": "0",
    }  # fmt: skip
    data = {"e": "kline", "E": open_time + MINUTE, "s": symbol, "k": k}
    return json.dumps({"stream": f"{symbol.lower()}@kline_1m", "data": data}).encode()


async def inject_gap(nats_url: str) -> None:
    """Closed candles of the last hour but for ten minutes, as the socket client sends them."""
    now = int(time.time() * 1000) // MINUTE * MINUTE
    async with await connect(nats_url, name="dashboard-test") as bus:
        for minutes_ago in INJECTED:
            await bus.publish(
                "binance.futures.websocket.data", kline(GAP_SYMBOL, now - minutes_ago * MINUTE)
            )
        await bus.flush()


def png_size_and_colours(data: bytes) -> tuple[int, int, int]:
    """Width, height and the number of distinct pixel rows of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    assert depth == 8 and colour in (2, 6)
    chunks, at = [], 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + length])
        at += 12 + length
    raw = zlib.decompress(b"".join(chunks))
    stride = width * (3 if colour == 2 else 4) + 1
    rows = {raw[i * stride + 1 : (i + 1) * stride] for i in range(height)}
    return width, height, len(rows)


async def console_errors_of(page: Page) -> list[str]:
    errors: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", seen)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    return errors


async def test_the_dashboard_shows_the_demo_live_and_an_injected_gap_without_console_errors(
    tmp_path: Path,
) -> None:
    browser_path = chromium()
    env = {**os.environ, "AUDIT_INTERVAL": "5", "ENABLE_AUTO_BACKFILL": "false"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_cli", "dev", "--api-port", "0", cwd=tmp_path, env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    console = DevConsole(proc)
    shot = tmp_path / "dashboard.png"
    try:
        await console.wait_until(lambda: {"api", "nats"} <= console.endpoints.keys())
        base = console.endpoints["api"].removesuffix("/docs")
        async with httpx.AsyncClient(timeout=5) as client:
            await ready(client, readiness_url(console.endpoints["api"]))
        await inject_gap(console.endpoints["nats"])
        seen = await drive_browser(browser_path, base, shot, tmp_path / "profile")
    finally:
        await stop_after_failure(proc)

    assert set(DEMO_DATASETS) <= set(seen["datasets"])
    assert seen["updates"] > seen["updates_at_load"]  # pushed candles, no reload
    assert seen["same_page"] is True
    assert seen["gap_finding"] == f"gaps {GAP_DATASET}"
    assert seen["heatmap_rows"] > 0
    assert seen["console_errors"] == []
    width, height, rows = png_size_and_colours(shot.read_bytes())
    assert width == 1400 and height >= 1000 and rows > 100  # the whole page, not a blank


async def drive_browser(executable: Path, base: str, shot: Path, profile: Path) -> dict[str, Any]:
    """What the page shows: its datasets, the chart's pushed updates, the gap finding."""
    async with async_playwright() as p:
        browser = await p.chromium.launch_persistent_context(
            str(profile), executable_path=str(executable), args=LAUNCH_ARGS, headless=True,
            viewport={"width": 1400, "height": 1000},
        )  # fmt: skip
        try:
            page = await browser.new_page()
            errors = await console_errors_of(page)
            await page.goto(f"{base}/ui")
            await page.wait_for_selector(f'tr[data-dataset="{DEMO_DATASETS[0]}"]', timeout=WAIT_MS)
            await page.evaluate("() => { window.__loaded = 'first load'; }")
            chart = page.locator("#chart")
            at_load = int(await chart.get_attribute("data-updates") or 0)
            # Functions, not expressions: the page's CSP forbids evaluating strings.
            await page.wait_for_function(
                "(n) => Number(document.getElementById('chart').dataset.updates) > n",
                arg=at_load,
                timeout=WAIT_MS,
            )
            finding = page.locator(f'#findings li[data-dataset="{GAP_DATASET}"][data-check="gaps"]')
            await finding.first.wait_for(timeout=WAIT_MS)
            await page.wait_for_function(
                "() => Number(document.getElementById('heatmap').dataset.rows) > 0",
                timeout=WAIT_MS,
            )
            await page.screenshot(path=str(shot), full_page=True)
            return {
                "datasets": await page.locator("#datasets tbody tr").evaluate_all(
                    "rows => rows.map(r => r.dataset.dataset)"
                ),
                "updates_at_load": at_load,
                "updates": int(await chart.get_attribute("data-updates") or 0),
                "same_page": await page.evaluate("() => window.__loaded === 'first load'"),
                "gap_finding": " ".join((await finding.first.inner_text()).split()[:2]),
                "heatmap_rows": int(await page.locator("#heatmap").get_attribute("data-rows") or 0),
                "console_errors": list(errors),
            }
        finally:
            await browser.close()
