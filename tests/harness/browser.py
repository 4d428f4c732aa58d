"""A real headless Chromium for the browser tests: Debian's ``chromium`` package, driven
by Playwright's Python client with the system browser (Playwright's own download is
never used).

When ``/usr/bin/chromium`` is missing and the tests run as root (as CI does), it is
installed with apt once; otherwise the tests are skipped with the command to run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
INSTALL = "apt-get install -y --no-install-recommends chromium"
# Flags for a browser that runs as root in a container and talks to nobody but the test.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# apt and dpkg refuse to run twice at once; concurrent test sessions take turns here.
LOCK = Path("/tmp/petrosa-chromium-install.lock")
INSTALL_TIMEOUT = 900.0


def chromium() -> Path:
    """The system Chromium, installed with apt on first use when we are root."""
    if CHROMIUM.exists():
        return CHROMIUM
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip(f"Chromium is not installed; run: sudo {INSTALL}")
    with LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not CHROMIUM.exists():
            _apt_install()
    return CHROMIUM


def _apt_install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run = [["apt-get", "update"], INSTALL.split()]
    for command in run:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
        )
        if done.returncode != 0 and command is run[-1]:
            pytest.fail(f"{INSTALL} failed ({done.returncode}): {done.stderr[-2000:]}")
