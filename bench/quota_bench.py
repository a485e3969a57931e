"""The quota stage's cost per request on real Redis: p50/p99 microseconds of stage 2
(estimate, limits, one EVALSHA) and of the settlement the charge stage makes (one more),
with every limit set (the worst case: eight checks with a key's own limits) and with rpm
only; the in-process store for comparison; and reservations per second at 50 concurrent.

Run: python bench/quota_bench.py [--redis redis://127.0.0.1:6379/0] [--requests 5000]
Uses a tenant of its own and deletes its keys afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path

from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.catalog import load_catalog
from gateway.limits.base import Limiter
from gateway.limits.factory import limiter_client
from gateway.limits.memory import MemoryLimiter
from gateway.limits.plan import scope_prefix
from gateway.limits.redis import RedisLimiter
from gateway.pipeline.quota import ReserveQuota
from gateway.request import RequestContext
from gateway.tenancy.models import ApiKey, Principal, Tenant
from providers.base import ChatRequest

BIG = 10**9
EVERY_LIMIT = {"rpm": BIG, "rpd": BIG, "tpm": BIG, "daily_tokens": BIG, "monthly_usd": BIG}
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Summarise the quarterly report in three bullet points, please."}]


def context(tenant: str, limits: dict[str, int], key_limits: dict[str, int] | None) -> RequestContext:
    ctx = RequestContext(request_id="bench", request=ChatRequest({"model": "mock-echo", "messages": MESSAGES,
                                                                  "max_tokens": 256}), api_key=None)
    ctx.principal = Principal(
        tenant=Tenant(id="ten_bench", name=tenant, tier="bench", models=("*",), limit_overrides=limits),
        key=ApiKey(id="key_bench", tenant_id="ten_bench", prefix="sk-bench", label=None, expires_at=None,
                   revoked_at=None, limits=key_limits))
    return ctx


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {p50 * 1e6:7.1f} us   p99 {p99 * 1e6:7.1f} us"


async def timed(n: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    samples = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def measure(name: str, limiter: Limiter, n: int, limits: dict[str, int],
                  key_limits: dict[str, int] | None) -> str:
    stage = ReserveQuota(limiter, load_catalog(None), default_max_tokens=1024)
    tenant = f"bench{uuid.uuid4().hex[:10]}"
    contexts = [context(tenant, limits, key_limits) for _ in range(n + 200)]
    for ctx in contexts[:200]:                         # warm: connections, script cache
        await stage(ctx)
        assert ctx.reservation is not None
        await limiter.settle(ctx.reservation, 40, Decimal("0.00001"))
    pending = iter(contexts[200:])
    reserved: list[RequestContext] = []

    async def reserve() -> None:
        ctx = next(pending)
        await stage(ctx)
        reserved.append(ctx)

    stage_samples = await timed(n, reserve)
    settled = iter(reserved)

    async def settle() -> None:
        ctx = next(settled)
        assert ctx.reservation is not None
        await limiter.settle(ctx.reservation, 40, Decimal("0.00001"))

    settle_samples = await timed(n, settle)
    return (f"{name:<34} stage {percentiles(stage_samples)}   settle {percentiles(settle_samples)}"), tenant


async def throughput(limiter: Limiter, limits: dict[str, int], concurrency: int = 50, seconds: float = 2.0) -> float:
    stage = ReserveQuota(limiter, load_catalog(None), default_max_tokens=1024)
    tenant = f"bench{uuid.uuid4().hex[:10]}"
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            ctx = context(tenant, limits, None)
            await stage(ctx)
            assert ctx.reservation is not None
            await limiter.settle(ctx.reservation, 40, Decimal("0.00001"))
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def main(redis_url: str, n: int) -> None:
    client = limiter_client(redis_url)
    redis_limiter = RedisLimiter(client)
    tenants: list[str] = []
    print(f"quota stage on {redis_url}, {n} sequential requests each (uvloop, one process)\n")
    try:
        ping = await timed(n, client.ping)
        print(f"{'baseline: redis PING (one round trip)':<34}       {percentiles(ping)}")
        for name, limiter, limits, key_limits in (
                ("redis: every limit + key limits", redis_limiter, EVERY_LIMIT, {"rpm": BIG, "tpm": BIG,
                                                                                 "monthly_usd": BIG}),
                ("redis: rpm only", redis_limiter, {"rpm": BIG}, None),
                ("in process: every limit", MemoryLimiter(), EVERY_LIMIT, None)):
            line, tenant = await measure(name, limiter, n, limits, key_limits)
            tenants.append(tenant)
            print(line, flush=True)
        rate = await throughput(redis_limiter, EVERY_LIMIT)
        print(f"\nredis, every limit, 50 concurrent: {rate:,.0f} reserve+settle per second")
    finally:
        admin = Redis.from_url(redis_url)               # the limiter's own client sends only its commands
        for tenant in tenants:                          # only this run's keys
            async for key in admin.scan_iter(match=scope_prefix(tenant) + "*", count=1000):
                await admin.delete(key)
        await admin.aclose()
        await client.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.run(main(args.redis, args.requests))
    except ImportError:
        asyncio.run(main(args.redis, args.requests))
