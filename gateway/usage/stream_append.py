"""The serving process's side of the Redis Stream outbox: it only appends.

append  XADD, awaited by the charge stage, so the record is in Redis before the response
        completes. Redis down: the record goes to an in-process queue (a warning says so),
        which this side hands back to the stream once Redis answers again, or writes to the
        database directly meanwhile; it is lost only if the process dies while both are down.
watch   every `watch_interval`, the stream's backlog and how many consumers of the group
        read it lately (`gateway_usage_outbox_pending`, `gateway_usage_stream_drainers`,
        `/readyz`); a backlog nobody drains is logged as a warning.

Reading the stream and writing PostgreSQL is `gateway.usage.stream_drain.StreamDrain`'s
job, in the `llm-gateway usage-drain` process (which `serve` starts by default) or, with
GATEWAY_USAGE_DRAIN=inline, in this process (`gateway.usage.redis_outbox`).
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.redis_client import Client, HotPathClient
from gateway.telemetry import metrics
from gateway.usage.outbox import DrainState, MemoryOutbox, UsageOutbox
from gateway.usage.record import UsageRecord
from gateway.usage.stream_config import FIELD, REDIS_ERRORS, StreamConfig, ThrottledWarnings
from gateway.usage.stream_replay import Unconfirmed, safe_point, server_identity

log = logging.getLogger("gateway.usage")

_UNDRAINED_WARN_AFTER = 30.0   # seconds of a backlog with no consumer before the warning
_CONFIRM_EVERY_SECONDS = 0.5   # how often the appender looks which of its records are written


class StreamAppender(UsageOutbox):
    """`appender`, when given, carries the request path's XADD (and is closed with this
    object); `redis` carries the rest."""

    def __init__(self, redis: Client, engine: AsyncEngine, config: StreamConfig,
                 appender: HotPathClient | None = None) -> None:
        self._redis = redis
        self._appender: HotPathClient = appender if appender is not None else redis
        self._owns_appender = appender is not None
        self._config = config
        self._fallback = MemoryOutbox(engine, batch_size=config.batch_size, write_timeout=config.write_timeout,
                                      publish_pending=False)
        self._redis_down_until = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warnings = ThrottledWarnings()
        self._undrained_since: float | None = None
        self.drain_state: DrainState | None = None
        self._unconfirmed = Unconfirmed()   # appended here, not yet written (gateway/usage/stream_replay.py)
        self._next_confirm = 0.0

    # -- the request path -------------------------------------------------------------

    async def append(self, record: UsageRecord) -> None:
        if time.monotonic() >= self._redis_down_until:
            raw = orjson.dumps(record.to_json())
            try:
                entry_id = await self._appender.xadd(self._config.key, {FIELD: raw})
                self._unconfirmed.added(entry_id, raw)
                return
            except REDIS_ERRORS as exc:
                self._redis_down_until = time.monotonic() + self._config.redis_retry
                self._warnings.warn("redis-append", "Redis unavailable: usage records kept in process until "
                                    "Redis or the database takes them", exc)
        await self._fallback.append(record)

    async def pending(self) -> int:
        in_process = await self._fallback.pending()
        try:
            in_stream: int = await self._redis.xlen(self._config.key)
        except REDIS_ERRORS:
            return in_process
        return in_process + in_stream

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._tend_forever(), name="usage-stream-append")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        await self._hand_over_fallback()
        if self._owns_appender:
            await self._appender.aclose()

    # -- the fallback and the watch ---------------------------------------------------

    async def _tend_forever(self) -> None:
        next_watch = 0.0
        while not self._stop.is_set():
            try:
                await self.tend_fallback()
                await self._track_unconfirmed()
                if time.monotonic() >= next_watch:
                    next_watch = time.monotonic() + self._config.watch_interval
                    await self.watch()
            except Exception:
                log.exception("usage stream upkeep failed; retrying")
            await self._wait(self._config.interval)

    async def _wait(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass

    async def tend_fallback(self) -> None:
        """Records kept in process while Redis was down go back to the stream, where they are
        durable and any drain can write them; while Redis is still down, to the database."""
        if not await self._fallback.pending():
            return
        if time.monotonic() < self._redis_down_until:
            await self._fallback.flush()
            return
        records = await self._fallback.take_all()
        try:
            await self._rehome_records(records)
        except REDIS_ERRORS as exc:
            for record in records:   # a duplicate in the stream is harmless: inserts are idempotent
                await self._fallback.append(record)
            self._redis_down_until = time.monotonic() + self._config.redis_retry
            self._warnings.warn("redis-rehome", "Redis unavailable: usage records kept in process until "
                                "Redis or the database takes them", exc)
            await self._fallback.flush()
            return
        log.warning("usage records kept in process while Redis was down are back in the stream",
                    extra={"count": len(records)})

    async def _track_unconfirmed(self) -> None:
        """Forgets the appended records the group has written; appends the rest again when
        Redis came back as another server (restarted empty: the stream is gone, and with it
        what no drain had written yet). Inserts are idempotent, so a repeat is harmless."""
        now = time.monotonic()
        if now < self._next_confirm or now < self._redis_down_until:
            return
        self._next_confirm = now + _CONFIRM_EVERY_SECONDS
        try:
            server = server_identity(await self._redis.info("server"))
            if server and self._unconfirmed.server_changed(server):
                raws = self._unconfirmed.raws()
                if raws:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for raw in raws:
                            pipe.xadd(self._config.key, {FIELD: raw})
                        ids = await pipe.execute()
                    self._unconfirmed.replace(ids, raws)
                    log.warning("Redis restarted without the usage stream: the records not yet written were "
                                "appended again", extra={"count": len(raws)})
                self._unconfirmed.seen(server)
                return
            if not len(self._unconfirmed):
                return
            groups = await self._redis.xinfo_groups(self._config.key)
            summary = await self._redis.xpending(self._config.key, self._config.group)
        except ResponseError:
            return   # no stream or no group yet: nothing confirmed
        except REDIS_ERRORS:
            return   # Redis down: the fallback path has it; tried again next round
        oldest = summary.get("min") if summary.get("pending") else None
        safe = safe_point(groups, self._config.group, oldest)
        if safe is not None:
            self._unconfirmed.confirmed_below(safe)

    async def watch(self) -> DrainState | None:
        """Looks at the stream's backlog and its active consumers; publishes both."""
        try:
            backlog = int(await self._redis.xlen(self._config.key))
            drainers = await self._active_drainers()
        except REDIS_ERRORS:
            return self.drain_state
        now = time.monotonic()
        self.drain_state = DrainState(drainers=drainers, backlog=backlog, seen_at=now)
        metrics.OUTBOX_PENDING.set(backlog + await self._fallback.pending())
        metrics.USAGE_DRAINERS.set(drainers)
        if drainers or not backlog:
            self._undrained_since = None
        elif self._undrained_since is None:
            self._undrained_since = now
        elif now - self._undrained_since >= _UNDRAINED_WARN_AFTER:
            self._warnings.warn("undrained", "nobody is draining the usage stream: run `llm-gateway usage-drain` "
                                "(or `serve` without --no-drain); records wait in Redis meanwhile",
                                backlog=backlog, waiting_seconds=round(now - self._undrained_since))
        return self.drain_state

    async def _active_drainers(self) -> int:
        try:
            consumers = await self._redis.xinfo_consumers(self._config.key, self._config.group)
        except ResponseError as exc:
            if "NOGROUP" in str(exc) or "no such key" in str(exc).lower():
                return 0        # nobody has ever drained this stream
            raise
        limit_ms = self._config.drainer_idle * 1000
        return sum(1 for consumer in consumers if int(consumer["idle"]) < limit_ms)

    async def _hand_over_fallback(self) -> None:
        """What is still in process at shutdown goes to Redis, else to the database."""
        records = await self._fallback.take_all()
        if not records:
            return
        try:
            await self._rehome_records(records)
            return
        except REDIS_ERRORS:
            for record in records:
                await self._fallback.append(record)
        if not await self._fallback.flush():
            log.error("usage records lost at shutdown: neither Redis nor the database is reachable",
                      extra={"count": await self._fallback.pending()})

    async def _rehome_records(self, records: list[UsageRecord]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            for record in records:
                pipe.xadd(self._config.key, {FIELD: orjson.dumps(record.to_json())})
            await pipe.execute()
