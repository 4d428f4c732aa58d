"""``petrosa migrate``: bring both SQL stores' schemas to the newest revision, and stop.

Every service migrates on start; this is for a deployment that runs the migrations as
their own step (a Kubernetes Job, a release script) or a store a service reported behind.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from petrosa_core import migrations
from petrosa_core.errors import ConfigError, PetrosaError
from petrosa_core.market import open_market_store
from petrosa_core.market.sql import MIGRATIONS as MARKET_MIGRATIONS
from petrosa_core.metadata import MIGRATIONS as METADATA_MIGRATIONS
from petrosa_core.metadata import MetadataStore
from petrosa_core.settings import CoreSettings, load_settings
from petrosa_core.wiring import describe, open_store

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


async def migrate(settings: CoreSettings) -> list[str]:
    """Migrate the market store (when SQL) and the metadata store; a line for each."""
    market_url, metadata_url = settings.market_store_url, settings.metadata_store_url
    market = await open_store(settings.url_variable("market"), market_url, open_market_store)
    await market.close()
    if market_url.startswith("mongodb"):
        market_done = "no migrations (collections and indexes are made as data arrives)"
    else:
        market_done = f"at revision {migrations.head_revision(MARKET_MIGRATIONS)} (newest)"
    metadata = await open_store(settings.url_variable("metadata"), metadata_url, MetadataStore.open)
    await metadata.close()
    metadata_done = f"at revision {migrations.head_revision(METADATA_MIGRATIONS)} (newest)"
    return [
        f"market store, {describe(market_url)}: {market_done}",
        f"metadata store, {describe(metadata_url)}: {metadata_done}",
    ]


def migrate_command(argv: Sequence[str]) -> int:
    """``petrosa migrate``; 0 done, 1 a migration failed, 2 a setting to fix."""
    parser = argparse.ArgumentParser(
        prog="petrosa migrate",
        description="Migrate the stores named by MARKET_STORE_URL and METADATA_STORE_URL (or "
        "the original MONGODB_*/MYSQL_* variables) to the newest schema.",
    )
    parser.parse_args(list(argv))
    try:
        settings = load_settings(CoreSettings)
        lines = asyncio.run(migrate(settings))
    except ConfigError as exc:
        sys.stderr.write(f"petrosa migrate: {exc}\n")
        return EXIT_CONFIG
    except PetrosaError as exc:
        sys.stderr.write(f"petrosa migrate: failed: {str(exc).splitlines()[0]}\n")
        return EXIT_FAILED
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return EXIT_OK
