"""The import rules CI enforces: a service that reached into the core's private modules fails."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def project_contracts() -> list[dict[str, Any]]:
    """The import-linter contracts of the project's ``pyproject.toml``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return list(config["contracts"])


def lint_made_up_service(
    tmp_path: Path, service_code: str, config: str
) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` with ``config`` (after the root packages) over the real core and a
    made-up service whose ``__init__`` is ``service_code``."""
    service = tmp_path / "made_up_service"
    service.mkdir()
    (service / "__init__.py").write_text(service_code)
    (tmp_path / "contracts.toml").write_text(
        '[tool.importlinter]\nroot_packages = ["petrosa_core", "made_up_service"]\n' + config
    )
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(tmp_path / "contracts.toml"), "--no-cache"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def private_module_contract() -> dict[str, Any]:
    (contract,) = [c for c in project_contracts() if c["type"] == "private_modules"]
    return dict(contract)


def lint(tmp_path: Path, service_code: str) -> subprocess.CompletedProcess[str]:
    """The project's private-module contract over the real core and a made-up service."""
    contract = private_module_contract()
    packages = ", ".join(f'"{p}"' for p in contract["packages_with_private_modules"])
    return lint_made_up_service(
        tmp_path,
        service_code,
        "\n[[tool.importlinter.contracts]]\n"
        f'name = "{contract["name"]}"\ntype = "private_modules"\n'
        f"packages_with_private_modules = [{packages}]\n",
    )


def test_the_core_is_covered_by_the_private_module_contract() -> None:
    assert private_module_contract()["packages_with_private_modules"] == ["petrosa_core"]


def test_a_service_importing_a_private_core_module_breaks_the_contract(tmp_path: Path) -> None:
    broken = lint(tmp_path, "from petrosa_core.market._rules import MAX_LIMIT\n")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "made_up_service -> petrosa_core.market._rules" in broken.stdout


def test_a_service_using_the_public_faces_keeps_it(tmp_path: Path) -> None:
    kept = lint(tmp_path, "from petrosa_core.market import MAX_LIMIT\n")
    assert kept.returncode == 0, kept.stdout + kept.stderr


def nats_contract() -> dict[str, Any]:
    (contract,) = [
        c
        for c in project_contracts()
        if c["type"] == "forbidden"
        and c["forbidden_modules"] == ["nats"]
        and "petrosa_core" not in c["source_modules"]
    ]
    return dict(contract)


def lint_nats(tmp_path: Path, service_code: str) -> subprocess.CompletedProcess[str]:
    """The project's nats-py contract over a made-up service beside the real core."""
    contract = nats_contract()
    return lint_made_up_service(
        tmp_path,
        service_code,
        "include_external_packages = true\n\n"
        "[[tool.importlinter.contracts]]\n"
        f'name = "{contract["name"]}"\ntype = "forbidden"\n'
        'source_modules = ["made_up_service"]\nforbidden_modules = ["nats"]\n'
        f"allow_indirect_imports = {str(contract['allow_indirect_imports']).lower()}\n",
    )


def test_every_service_and_the_cli_are_kept_from_nats_py() -> None:
    assert set(nats_contract()["source_modules"]) == {
        "petrosa_ingestor",
        "petrosa_auditor",
        "petrosa_backfiller",
        "petrosa_analytics",
        "petrosa_api",
        "petrosa_cli",
    }


def test_a_service_importing_nats_py_breaks_the_contract(tmp_path: Path) -> None:
    broken = lint_nats(tmp_path, "from nats.aio.msg import Msg\n")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "made_up_service -> nats" in broken.stdout


def test_a_service_using_the_bus_keeps_it(tmp_path: Path) -> None:
    kept = lint_nats(tmp_path, "from petrosa_core.bus import Bus, PulledMessage\n")
    assert kept.returncode == 0, kept.stdout + kept.stderr
