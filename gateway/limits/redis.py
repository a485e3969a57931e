"""The Redis store: limits that hold across any number of replicas. One reservation is one
EVALSHA of the reserve script (one round trip); settling is one more. A script missing
from the server's cache (a restart, a failover, a new node) is sent once with EVAL, which
caches it again. Works on a single node, Redis Cluster and ElastiCache cluster mode."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, cast

from redis.asyncio import Redis, RedisCluster
from redis.exceptions import NoScriptError, RedisClusterException, RedisError, ResponseError

from gateway.limits.base import Limiter, LimiterUnavailable, QuotaRequest, Reservation
from gateway.limits.plan import (
    COUNTER_GRACE_MS,
    RECORD_TTL_MS,
    CheckState,
    Handle,
    Kind,
    Plan,
    adjustments,
    conclude,
    make_plan,
    to_ms,
)
from gateway.limits.scripts import RESERVE, SETTLE, LuaScript
from gateway.redis_mux import MultiplexedRedis

Client = Redis | RedisCluster | MultiplexedRedis


class RedisLimiter(Limiter):
    """`clock` None measures windows by Redis's own clock (production); tests may pass one.
    `owns_client`: close the client with the limiter."""

    def __init__(self, redis: Client, *, window_seconds: float = 60.0, clock: Callable[[], float] | None = None,
                 owns_client: bool = False) -> None:
        self._redis = redis
        self._window_ms = to_ms(window_seconds)
        self._clock = clock
        self._owns_client = owns_client
        # A cluster client learns the slot map on its first command; commands racing that
        # first discovery can hit connections it is replacing, so discovery comes first.
        self._discovered = not isinstance(redis, RedisCluster)
        self._discovery = asyncio.Lock()

    async def reserve(self, request: QuotaRequest) -> Reservation:
        plan = make_plan(request, to_ms(self._clock() if self._clock is not None else time.time()))
        if not plan.checks:
            return Reservation(request=request)
        return await self.execute(request, plan)

    async def execute(self, request: QuotaRequest, plan: Plan) -> Reservation:
        """Runs one plan (a retried call with the same plan takes its share only once)."""
        now = plan.now_ms
        keys: list[str] = [plan.record_key]
        args: list[str | int] = ["" if self._clock is None else now, self._window_ms, plan.id, RECORD_TTL_MS,
                                 len(plan.checks)]
        for check in plan.checks:
            keys.extend(check.keys)
            reset = max(0, check.period_end_ms - now) if check.kind is Kind.COUNTER else 0
            args.extend((check.kind.value, check.limit, check.amount, reset + COUNTER_GRACE_MS, reset))
        reply = await self._run(RESERVE, keys, args)
        states = [CheckState(int(reply[i]), int(reply[i + 1]), None if int(reply[i + 2]) < 0 else int(reply[i + 2]))
                  for i in range(1, len(reply), 3)]
        requests, tokens = conclude(plan, states, admitted=int(reply[0]) == 1)
        return Reservation(request=request, requests=requests, tokens=tokens, handle=Handle(plan, "redis"))

    async def settle(self, reservation: Reservation, tokens: int, usd: Decimal) -> None:
        handle = reservation.handle
        if reservation.settled or not isinstance(handle, Handle):
            reservation.settled = True
            return
        plan = handle.plan
        changes = adjustments(plan, tokens, usd)
        keys: list[str] = [plan.record_key]
        args: list[str | int] = [plan.id, len(changes)]
        for check, delta in changes:
            keys.extend(check.keys)
            args.extend((check.kind.value, delta))
        await self._run(SETTLE, keys, args)
        reservation.settled = True

    async def close(self) -> None:
        if self._owns_client:
            await self._redis.aclose()

    async def _run(self, script: LuaScript, keys: Sequence[str], args: Sequence[str | int]) -> list[Any]:
        """EVALSHA; on NOSCRIPT, EVAL (which caches the script on that node again)."""
        redis = cast(Any, self._redis)   # redis-py types eval* as sync-or-async
        try:
            if not self._discovered:
                await self._discover()
            try:
                reply = await redis.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                reply = await redis.eval(script.text, len(keys), *keys, *args)
        except (TimeoutError, RedisError, RedisClusterException, OSError) as exc:
            # A server's own error text (a script error, OOM, READONLY) says what went wrong;
            # connection errors are told by their class (their text may name hosts).
            detail = f": {str(exc)[:200]}" if isinstance(exc, ResponseError) else ""
            raise LimiterUnavailable(f"{script.name}: {type(exc).__name__}{detail}") from exc
        return reply if isinstance(reply, list) else [reply]

    async def _discover(self) -> None:
        async with self._discovery:
            if not self._discovered:
                await cast(RedisCluster, self._redis).initialize()
                self._discovered = True
