"""What the routes work with; clients are filled in as startup connects them."""

from __future__ import annotations

from dataclasses import dataclass

from petrosa_api.auth import Keyring
from petrosa_api.cache import TtlCache
from petrosa_api.dataset_catalog import Catalog
from petrosa_api.push_hub import PushHub
from petrosa_api.ratelimit import RateLimiter
from petrosa_api.registry import CompatibilityMode, RegistryOptions, SchemaRegistry
from petrosa_api.settings import ApiSettings
from petrosa_api.shared_ratelimit import SharedRateLimiter, open_storage
from petrosa_core.bus import Bus
from petrosa_core.market import MarketStore
from petrosa_core.metadata import MetadataStore
from petrosa_core.runtime import Runtime

# Distinct datasets whose existence is remembered at once (hits and misses alike).
CACHE_ENTRIES = 4096


@dataclass
class ApiState:
    settings: ApiSettings
    runtime: Runtime
    keyring: Keyring
    limiter: RateLimiter
    # Wrong API keys per client address, spent only on a failure.
    failed_keys: RateLimiter
    cache: TtlCache
    coalescer: TtlCache
    push: PushHub
    market: MarketStore | None = None
    metadata: MetadataStore | None = None
    catalog: Catalog | None = None
    bus: Bus | None = None
    # The schema registry, over the metadata store once it is open.
    registry: SchemaRegistry | None = None
    # Counts requests across replicas (API_RATE_LIMIT_STORAGE=redis://); None: ``limiter``.
    shared_limiter: SharedRateLimiter | None = None

    @classmethod
    def create(cls, settings: ApiSettings, runtime: Runtime) -> ApiState:
        state = cls._create(settings, runtime)
        if not settings.api_rate_limit_storage.lower().startswith("memory://"):
            state.shared_limiter = SharedRateLimiter(
                open_storage(settings.api_rate_limit_storage),
                settings.api_rate_limit_per_minute,
                settings.api_rate_limit_burst,
                fallback=state.limiter,
            )
        return state

    @classmethod
    def _create(cls, settings: ApiSettings, runtime: Runtime) -> ApiState:
        return cls(
            settings=settings,
            runtime=runtime,
            keyring=Keyring(settings.keys()),
            limiter=RateLimiter(settings.api_rate_limit_per_minute, settings.api_rate_limit_burst),
            failed_keys=RateLimiter(
                settings.api_failed_keys_per_minute, settings.api_failed_key_burst
            ),
            cache=TtlCache(settings.api_cache_ttl, max_entries=CACHE_ENTRIES),
            # TTL 0 keeps nothing: it only lets identical requests in flight share one read.
            coalescer=TtlCache(0),
            push=PushHub(
                settings.api_push_queue,
                settings.api_push_replay_seconds,
                settings.api_push_replay_events,
            ),
        )

    def attach_stores(self, market: MarketStore, metadata: MetadataStore) -> None:
        self.market = market
        self.metadata = metadata
        self.catalog = Catalog(market, metadata, self.cache)
        self.registry = SchemaRegistry(metadata, registry_options(self.settings))


def registry_options(settings: ApiSettings) -> RegistryOptions:
    """The schema registry's options from the SCHEMA_* settings."""
    return RegistryOptions(
        compatibility=CompatibilityMode(settings.schema_compatibility_mode),
        validation_enabled=settings.schema_validation_enabled,
        strict=settings.schema_strict_mode,
        auto_register=settings.schema_auto_register,
        max_versions=settings.schema_max_versions,
        cache_ttl=settings.schema_cache_ttl,
    )
