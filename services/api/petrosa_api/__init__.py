"""The API service: market data, health, catalog and backfill requests over REST."""
