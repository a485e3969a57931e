"""Everything a running gateway holds open -- database engine, Redis, stores, providers,
the pipeline -- built from settings in one place and closed in reverse order."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.cache.store import CacheStore, MemoryCacheStore, RedisCacheStore, cache_client
from gateway.catalog import Catalog, load_catalog
from gateway.db import create_engine, migrate
from gateway.guardrails.webhook import WebhookClient
from gateway.limits.base import Limiter
from gateway.limits.factory import build_limiter
from gateway.pipeline import Pipeline
from gateway.pipeline.allowlist import CheckAllowlist
from gateway.pipeline.auth import Authenticate
from gateway.pipeline.cache import LookupCache
from gateway.pipeline.charge import Charge
from gateway.pipeline.guardrails import ScanForPii
from gateway.pipeline.hooks import GuardrailHooks
from gateway.pipeline.prompts import RenderPrompt
from gateway.pipeline.quota import ReserveQuota
from gateway.pipeline.router import RouteRequest
from gateway.pipeline.telemetry import RecordTelemetry
from gateway.pipeline.validation import ValidateResponse
from gateway.prompts.resolver import PromptResolver
from gateway.prompts.service import PromptService
from gateway.redis_client import Client, shared_client
from gateway.routing.breaker import BreakerBoard
from gateway.routing.breaker_sync import share as share_breakers
from gateway.routing.latency import LatencyTracker
from gateway.routing.router import Router
from gateway.settings import Settings
from gateway.stores.responses import MemoryResponseStore, ResponseStore, build_response_store
from gateway.telemetry import metrics
from gateway.telemetry.lifecycle import start_telemetry, stop_telemetry
from gateway.tenancy.admin_key import AdminKey
from gateway.tenancy.directory import KeyDirectory
from gateway.tenancy.service import TenancyService
from gateway.tenancy.wiring import open_tenancy
from gateway.usage.outbox import UsageOutbox
from gateway.usage.wiring import build_outbox
from providers import build_provider
from providers.base import Provider, ProviderConfig
from providers.vllm import VLLMProvider

if TYPE_CHECKING:   # numpy is imported only by a gateway with a semantic cache
    from gateway.cache.semantic.index import SemanticIndex

log = logging.getLogger("gateway.runtime")


@dataclass
class Runtime:
    settings: Settings
    catalog: Catalog
    engine: AsyncEngine
    redis: Client | None
    directory: KeyDirectory
    tenancy: TenancyService
    limiter: Limiter
    cache_store: CacheStore
    outbox: UsageOutbox
    providers: dict[str, Provider]
    latency: LatencyTracker
    pipeline: Pipeline
    admin_key: AdminKey
    exit_stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    draining: bool = False
    breakers: BreakerBoard | None = None    # the router's circuit breakers (GET /admin/providers)
    responses: ResponseStore = field(default_factory=lambda: MemoryResponseStore(30 * 24 * 3600))  # stored Responses
    prompts: PromptService | None = None    # the prompt registry (the admin API's /admin/prompts)

    async def close(self) -> None:
        await self.exit_stack.aclose()


def build_pipeline(catalog: Catalog, settings: Settings, *, directory: KeyDirectory, limiter: Limiter,
                   cache_store: CacheStore, outbox: UsageOutbox, router: Router,
                   latency: LatencyTracker, semantic_index: SemanticIndex | None = None,
                   prompts: PromptResolver | None = None) -> Pipeline:
    charge = Charge(limiter, outbox, catalog)
    semantic = catalog.cache.semantic
    matcher = embedder = None
    if semantic is not None and semantic_index is not None:
        from gateway.cache.semantic.matcher import SemanticMatcher
        from gateway.pipeline.embedder import Embedder

        matcher = SemanticMatcher(semantic_index, semantic)
        embedder = Embedder(router, catalog, charge, semantic.embedding_model, semantic.timeout_ms / 1000)
    guardrails = ScanForPii(catalog.guardrails.pii)
    webhooks = catalog.guardrails.webhooks
    return Pipeline(
        auth=Authenticate(directory),
        prompts=RenderPrompt(prompts) if prompts is not None else None,
        quota=ReserveQuota(limiter, catalog, settings.default_max_tokens),
        allowlist=CheckAllowlist(catalog, latency),
        guardrails=guardrails,
        cache=LookupCache(cache_store, catalog.cache, semantic=matcher, embedder=embedder),
        router=RouteRequest(router),
        charge=charge,
        telemetry=RecordTelemetry(catalog),
        validation=ValidateResponse(router, catalog.validation),
        hooks=GuardrailHooks(WebhookClient(webhooks), guardrails) if webhooks else None,
    )


def build_semantic_index(catalog: Catalog, settings: Settings, admin: Client | None) -> SemanticIndex | None:
    """The semantic cache's index: in Redis when the gateway has Redis, else in process."""
    semantic = catalog.cache.semantic
    if semantic is None:
        return None
    from gateway.cache.semantic.index import MemorySemanticIndex
    from gateway.cache.semantic.redis_index import RedisSemanticIndex

    if settings.redis_url:
        return RedisSemanticIndex(cache_client(settings.redis_url, settings.redis_cluster), admin,
                                  max_entries=semantic.max_entries, owns_client=True)
    return MemorySemanticIndex(semantic.max_entries)


async def open_runtime(settings: Settings, *, migrate_database: bool = True) -> Runtime:
    """`migrate_database=False` (`serve --admin-only`): never touch the schema, nor bootstrap."""
    catalog = load_catalog(settings.config)
    stack = AsyncExitStack()
    try:
        start_telemetry(settings, catalog)
        stack.callback(stop_telemetry)   # closed last: spans of the shutdown still go out
        if settings.embedded and migrate_database:
            await migrate(settings.database_url)   # production migrates with `llm-gateway migrate`
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)

        redis = shared_client(settings)   # a cluster client with GATEWAY_REDIS_CLUSTER
        if redis is not None:
            stack.push_async_callback(redis.aclose)

        providers: dict[str, Provider] = {}
        for name, entry in catalog.providers.items():
            provider = build_provider(ProviderConfig(name=name, type=entry.type, options=entry.options))
            if isinstance(provider, VLLMProvider):
                provider.on_decision = metrics.count_pick     # gateway_picker_decisions_total
            await provider.start()
            stack.push_async_callback(provider.close)
            providers[name] = provider

        limiter: Limiter = build_limiter(settings)   # Redis when redis_url is set, else in process
        stack.push_async_callback(limiter.close)
        cache_store: CacheStore = (RedisCacheStore.from_url(settings.redis_url, catalog.cache.max_entry_bytes,
                                                            settings.redis_cluster, admin=redis)
                                   if settings.redis_url
                                   else MemoryCacheStore(catalog.cache.max_entries, catalog.cache.max_entry_bytes))
        stack.push_async_callback(cache_store.close)
        semantic_index = build_semantic_index(catalog, settings, redis)
        if semantic_index is not None:
            stack.push_async_callback(semantic_index.close)
        outbox: UsageOutbox = build_outbox(settings, engine, redis)
        await outbox.start()
        stack.push_async_callback(outbox.close)   # closed before the engine: flushes first

        resolver = PromptResolver(engine, ttl=settings.prompt_cache_ttl_seconds,
                                  load_timeout=settings.database_timeout_seconds)
        tenancy_parts = await open_tenancy(engine, catalog, settings, stack, also=(resolver.apply,))
        directory, tenancy = tenancy_parts.directory, tenancy_parts.service
        latency = LatencyTracker()
        breakers = BreakerBoard.for_catalog(catalog)
        if redis is not None:   # replicas share breaker state
            share_breakers(breakers, redis)
        await breakers.start()
        stack.push_async_callback(breakers.close)
        router = Router(providers, latency, breakers=breakers, retry=catalog.routing.retry)
        pipeline = build_pipeline(catalog, settings, directory=directory, limiter=limiter,
                                  cache_store=cache_store, outbox=outbox, router=router, latency=latency,
                                  semantic_index=semantic_index, prompts=resolver)
        stack.push_async_callback(pipeline.close)   # the guardrail webhooks' session
        if settings.embedded and settings.bootstrap_demo_tenant and migrate_database:
            tier = "pro" if "pro" in catalog.tiers else next(iter(catalog.tiers))
            await _bootstrap_demo(tenancy, tier)
        return Runtime(settings=settings, catalog=catalog, engine=engine, redis=redis, directory=directory,
                       tenancy=tenancy, limiter=limiter, cache_store=cache_store, outbox=outbox,
                       providers=providers, latency=latency, pipeline=pipeline, admin_key=tenancy_parts.admin_key,
                       exit_stack=stack, breakers=breakers,
                       responses=build_response_store(redis, settings.responses_ttl_seconds),
                       prompts=PromptService(engine, publish=tenancy_parts.changes.publish))
    except BaseException:
        await stack.aclose()
        raise


async def _bootstrap_demo(tenancy: TenancyService, tier: str) -> None:
    """First start of an embedded gateway: a `demo` tenant and its key, printed once."""
    if await tenancy.list_tenants():
        return
    await tenancy.create_tenant("demo", tier=tier, models=["*"], actor="bootstrap")
    issued = await tenancy.create_key("demo", label="bootstrap", actor="bootstrap")
    print("Created tenant `demo`. Its API key is shown this once; keep it:\n"
          f"    {issued.key}\n", flush=True)
