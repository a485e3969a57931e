"""What only the Redis store has to show: one round trip per reservation, scripts called by
SHA and re-sent after NOSCRIPT, a retried call that takes its share once, every key of a
tenant in one Cluster slot, and tenants spread over the nodes of a real cluster."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from redis.asyncio import BlockingConnectionPool, Connection, Redis
from redis.crc import key_slot

from gateway.errors import RateLimited
from gateway.limits.base import QuotaRequest
from gateway.limits.factory import limiter_client
from gateway.limits.plan import KEY_PREFIX, make_plan
from gateway.limits.redis import RedisLimiter
from gateway.limits.scripts import RESERVE, SETTLE
from gateway.redis_client import HotPathClient
from gateway.redis_mux import MultiplexedRedis
from gateway.tenancy.models import Limits
from tests.conftest import unique
from tests.integration.limits.conftest import cluster_client
from tests.integration.limits.redis_servers import RedisClusterNodes, RedisServer

pytestmark = pytest.mark.timeout(120)

EVERY_LIMIT = Limits(rpm=100, rpd=1000, tpm=100_000, daily_tokens=1_000_000, monthly_usd=Decimal(100))


def ask(tenant: str, **extra: Any) -> QuotaRequest:
    return QuotaRequest(scope=tenant, limits=EVERY_LIMIT, tokens=50, usd=Decimal("0.01"), key_id="key_1",
                        key_limits=Limits(rpm=10, tpm=5000, monthly_usd=Decimal(1)), **extra)


@pytest.fixture
async def private_client(private_redis: RedisServer) -> AsyncIterator[HotPathClient]:
    """The limiter's own client (the pipelined one, on one server)."""
    client = limiter_client(private_redis.url)
    yield client
    await client.aclose()


@pytest.fixture
async def admin_client(private_redis: RedisServer) -> AsyncIterator[Redis]:
    """redis-py, for what the test does to the server besides the limiter's commands."""
    client = Redis.from_url(private_redis.url)
    yield client
    await client.aclose()


async def command_calls(client: Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def test_every_key_of_a_reservation_shares_the_tenants_slot() -> None:
    tenant = unique()
    plan = make_plan(ask(tenant), now_ms=1_750_000_000_000)
    keys = [plan.record_key, *(k for check in plan.checks for k in check.keys)]
    assert len(plan.checks) == 8                      # five tenant limits, three of the key's
    assert all(k.startswith(f"{KEY_PREFIX}{{{tenant}}}:") for k in keys)
    assert len({key_slot(k.encode()) for k in keys}) == 1
    assert KEY_PREFIX == "gw:rl:v1:" and RESERVE.name.startswith(KEY_PREFIX) and SETTLE.name.startswith(KEY_PREFIX)


class CountingConnection(Connection):
    """A real connection that counts what it sends: one send, one round trip."""

    sent = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sent += 1
        await super().send_packed_command(command, check_health)


async def test_a_reservation_is_one_round_trip_and_a_settlement_one_more(private_redis: RedisServer) -> None:
    client = Redis(connection_pool=BlockingConnectionPool.from_url(
        private_redis.url, max_connections=1, connection_class=CountingConnection))
    try:
        limiter = RedisLimiter(client)
        warm = await limiter.reserve(ask(unique()))       # loads both scripts, opens the connection
        await limiter.settle(warm, 40, Decimal("0.005"))
        await client.config_resetstat()
        CountingConnection.sent = 0
        for _ in range(20):
            reservation = await limiter.reserve(ask(unique()))
            await limiter.settle(reservation, 40, Decimal("0.005"))
        assert CountingConnection.sent == 40
        calls = await command_calls(client)
        assert calls["evalsha"] == 40 and "eval" not in calls
    finally:
        await client.aclose()


async def test_a_flushed_script_cache_is_refilled_once(private_client: HotPathClient, admin_client: Redis) -> None:
    assert isinstance(private_client, MultiplexedRedis)
    limiter = RedisLimiter(private_client)
    tenant = unique()
    await limiter.reserve(QuotaRequest(scope=tenant, limits=Limits(rpm=5), tokens=1))
    await admin_client.script_flush()                 # as after a restart or a failover
    await admin_client.config_resetstat()
    for _ in range(4):
        await limiter.reserve(QuotaRequest(scope=tenant, limits=Limits(rpm=5), tokens=1))
    with pytest.raises(RateLimited):
        await limiter.reserve(QuotaRequest(scope=tenant, limits=Limits(rpm=5), tokens=1))
    calls = await command_calls(admin_client)
    assert calls["eval"] == 1                         # NOSCRIPT once, then by SHA again
    assert calls["evalsha"] == 5
    assert await admin_client.script_exists(RESERVE.sha) == [True]


async def test_a_retried_reservation_takes_its_share_once(private_client: HotPathClient) -> None:
    limiter = RedisLimiter(private_client)
    tenant = unique()
    request = QuotaRequest(scope=tenant, limits=Limits(rpm=2, tpm=100), tokens=60)
    plan = make_plan(request, now_ms=0)
    first = await limiter.execute(request, plan)
    again = await limiter.execute(request, plan)       # the same call, sent twice (a lost reply)
    assert first.tokens is not None and again.tokens is not None
    assert first.tokens.remaining == again.tokens.remaining == 40
    await limiter.settle(first, 10, Decimal(0))
    await limiter.settle(again, 10, Decimal(0))        # the record is gone: no second credit
    ok = await limiter.reserve(QuotaRequest(scope=tenant, limits=Limits(rpm=2, tpm=100), tokens=90))
    assert ok.tokens is not None and ok.tokens.remaining == 0


async def test_a_retried_reservation_that_still_fits_takes_nothing_again(private_client: HotPathClient) -> None:
    """The record is created with the first sending's share (SET NX): a second sending of the
    same plan that would fit again finds it and takes nothing."""
    limiter = RedisLimiter(private_client)
    tenant = unique()
    request = QuotaRequest(scope=tenant, limits=Limits(rpm=10, tpm=1000, rpd=100, daily_tokens=10_000), tokens=60)
    plan = make_plan(request, now_ms=0)
    first = await limiter.execute(request, plan)
    again = await limiter.execute(request, plan)
    assert first.requests is not None and again.requests is not None and again.tokens is not None
    assert first.requests.remaining == again.requests.remaining == 9
    assert again.tokens.remaining == 940
    after = await limiter.reserve(QuotaRequest(scope=tenant, limits=request.limits, tokens=60))
    assert after.requests is not None and after.requests.remaining == 8


async def test_the_stored_sums_and_expiries_stay_exact(private_client: HotPathClient, admin_client: Redis) -> None:
    """What the reserve script keeps beside the entries: a token window's `_sum` is the sum of
    its entries' amounts through admissions, settlements and entries sliding out (the script
    sets it from the sum it read, and takes it back from what trimming answers); a period's
    counter expires at the period's end plus the grace, set when it is created."""
    now = [1_700_000_000.0]
    limiter = RedisLimiter(private_client, clock=lambda: now[0])
    tenant = unique()
    limits = Limits(rpm=1000, tpm=100_000, daily_tokens=10**9)
    for i in range(40):
        reservation = await limiter.reserve(QuotaRequest(scope=tenant, limits=limits, tokens=100 + i))
        await limiter.settle(reservation, 7 * i, Decimal(0))   # under and above the estimate
        now[0] += 3.0                                           # entries older than a minute slide out
    prefix = KEY_PREFIX + "{" + tenant + "}:"
    amounts = await admin_client.hgetall(prefix + "tpm:n")
    members = await admin_client.zrange(prefix + "tpm", 0, -1)
    entries = {k: int(v) for k, v in amounts.items() if k != b"_sum"}
    assert sorted(entries) == sorted(members) and 0 < len(entries) < 40
    assert int(amounts[b"_sum"]) == sum(entries.values()) == sum(7 * i for i in range(40 - len(entries), 40))
    assert await admin_client.zcard(prefix + "rpm") == len(entries)
    day_key = next(k for k in await admin_client.keys(prefix + "tokens:*"))
    assert int(await admin_client.get(day_key) or 0) == sum(7 * i for i in range(40))
    # TTLs run on Redis's clock, the test's is fake: the TTL is the time to the period's end
    # (plus the grace) as the first reservation saw it, or as a later one did
    day_end_ms = (int(now[0]) // 86_400 + 1) * 86_400_000
    first_ms, last_ms = int((now[0] - 40 * 3.0) * 1000), int((now[0] - 3.0) * 1000)
    ttl = await admin_client.pttl(day_key)
    assert day_end_ms - last_ms + 3_600_000 - 10_000 <= ttl <= day_end_ms - first_ms + 3_600_000


async def test_tenants_on_every_node_of_a_real_cluster(redis_cluster: RedisClusterNodes) -> None:
    client = cluster_client(redis_cluster)
    try:
        await client.initialize()
        limiter = RedisLimiter(client)
        by_node: dict[str, str] = {}
        for _ in range(200):                            # find a tenant for each of the three nodes
            tenant = unique()
            node = client.get_node_from_key(f"{KEY_PREFIX}{{{tenant}}}:rpm")
            assert node is not None
            by_node.setdefault(node.name, tenant)
            if len(by_node) == 3:
                break
        assert len(by_node) == 3
        for tenant in by_node.values():
            request = QuotaRequest(scope=tenant, limits=Limits(rpm=3, tpm=1000), tokens=100, key_id="k",
                                   key_limits=Limits(rpm=2))
            reservations = [await limiter.reserve(request) for _ in range(2)]
            with pytest.raises(RateLimited):
                await limiter.reserve(request)
            for reservation in reservations:
                await limiter.settle(reservation, 50, Decimal(0))
    finally:
        await client.aclose()
