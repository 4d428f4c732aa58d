"""The API service: market data, health, catalog and backfill requests over REST."""

import os

# Set before polars is first imported. Pages are small and many are served at once: polars'
# thread pool per page only contends with the other requests (and the store's readers) for
# the cores; in process, one thread wrote a 1000-row page in ~30% less time. An operator
# may still set it.
os.environ.setdefault("POLARS_MAX_THREADS", "1")
