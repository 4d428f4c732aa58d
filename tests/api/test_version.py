"""The version a user sees, from the console script and the API, is pyproject.toml's."""

from __future__ import annotations

import asyncio
import sys
import tomllib
from pathlib import Path

from tests.api.conftest import Api

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


async def test_the_cli_and_the_api_report_the_project_version(api: Api) -> None:
    expected = tomllib.loads(PYPROJECT.read_text())["project"]["version"]
    cli = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "petrosa_cli", "--version", stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(60):
        printed, _ = await cli.communicate()
    async with api.client() as client:
        document = (await client.get("/openapi.json")).json()

    assert printed.decode() == f"petrosa {expected}\n"
    assert document["info"]["version"] == expected
