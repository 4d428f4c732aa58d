"""Run every benchmark, or those named on the command line: ``python -m benchmarks store``."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import pkgutil
from pathlib import Path


def main() -> None:
    found = sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run, of {found}")
    args = parser.parse_args()
    if unknown := set(args.names) - set(found):
        parser.error(f"unknown benchmarks {sorted(unknown)}; known: {found}")
    for name in args.names or found:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        asyncio.run(module.run())


if __name__ == "__main__":
    main()
