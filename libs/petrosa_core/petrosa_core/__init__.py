"""The core library every Petrosa service imports; it is never run on its own."""

from importlib.metadata import PackageNotFoundError, version

try:
    # pyproject.toml's version, the one place it is written.
    __version__ = version("petrosa-data-manager")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"
