"""The reading side of the Redis Stream outbox: one consumer of the stream's consumer group,
writing the records to the database.

drain   read a batch, insert it idempotently and acknowledge (XACK, then XDEL) only after
        the commit. A batch the database did not take stays pending for this consumer and
        is retried with backoff.
claim   entries pending longer than `claim_idle` under any consumer -- a drain that died
        between read and acknowledgement -- are claimed (XAUTOCLAIM) by the next drain that
        looks. Claiming a live but slow consumer's entries is harmless: inserts are idempotent.

Only this consumer group reads the stream, which is why acknowledged entries are deleted:
the stream's length is the backlog, and it stays bounded.

It runs in the `llm-gateway usage-drain` process (gateway.cli.usage_drain), or inside a
serving process with GATEWAY_USAGE_DRAIN=inline (gateway.usage.redis_outbox).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from redis.exceptions import ResponseError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.redis_client import Client
from gateway.usage.outbox import MAX_BACKOFF_SECONDS, TRANSIENT_DB_ERRORS, log_rejected
from gateway.usage.record import UsageRecord
from gateway.usage.stream_config import FIELD, REDIS_ERRORS, StreamConfig, ThrottledWarnings
from gateway.usage.writer import RejectedRecord, insert_records

log = logging.getLogger("gateway.usage")

_DEAD_LETTER_MAXLEN = 100_000
_MAX_BLOCK_MS = 1000          # below the client's socket timeout: a blocking read is not an error
Entry = tuple[bytes, dict[bytes, bytes] | None]


class StreamDrain:
    """`after_round`, when given, is awaited after every round of the loop (the inline
    outbox publishes its pending gauge there)."""

    def __init__(self, redis: Client, engine: AsyncEngine, config: StreamConfig,
                 after_round: Callable[[], Awaitable[None]] | None = None) -> None:
        self._redis = redis
        self._engine = engine
        self._config = config
        self._after_round = after_round
        self._dead_key = f"{config.key}:dead"
        self._group_ready = False
        self._own_pending = True        # a consumer name given in settings may have some from before
        self._claim_cursor: bytes | str = "0-0"
        self._next_claim = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warnings = ThrottledWarnings()
        self.written = 0                # records this consumer wrote (or found written) and acknowledged

    async def start(self) -> None:
        self._task = asyncio.create_task(self._drain_forever(), name="usage-stream-drain")

    async def close(self) -> None:
        """Stops reading, writes what this consumer read and did not acknowledge, and leaves
        the group if nothing of its own is left."""
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self._finish_own_pending()
        except REDIS_ERRORS as exc:
            self._warnings.warn("redis-close", "Redis unavailable at shutdown: this consumer's pending usage "
                                "records stay in the stream for another drain to claim", exc)

    # -- the loop ---------------------------------------------------------------------

    async def _drain_forever(self) -> None:
        backoff = self._config.interval
        while not self._stop.is_set():
            try:
                await self._ensure_group()
                entries = await self._next_entries()
                stored = await self._store(entries) if entries else True
                backoff = self._config.interval if stored else min(backoff * 2, MAX_BACKOFF_SECONDS)
                if not stored:
                    await self._wait(backoff)
                elif 0 < len(entries) < self._config.batch_size:
                    await self._wait(self._config.linger)
            except REDIS_ERRORS as exc:
                self._own_pending = True   # an acknowledgement may not have arrived
                if isinstance(exc, ResponseError) and "NOGROUP" in str(exc):
                    self._group_ready = False
                self._warnings.warn("redis-drain", "Redis unavailable: usage drain paused", exc)
                await self._wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:
                log.exception("usage drain failed; retrying")
                await self._wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            if self._after_round is not None:
                await self._after_round()

    async def _wait(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self._redis.xgroup_create(self._config.key, self._config.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def _next_entries(self) -> list[Entry]:
        """This consumer's own unacknowledged entries first, then entries idle under a dead
        consumer, then new ones (waiting up to `interval` for some)."""
        if self._own_pending:
            entries = await self._read("0", block=None)
            if entries:
                return entries
            self._own_pending = False
        if time.monotonic() >= self._next_claim:
            claimed = await self._claim()
            if claimed:
                return claimed
        return await self._read(">", block=min(_MAX_BLOCK_MS, max(1, round(self._config.interval * 1000))))

    async def _read(self, start: str, block: int | None) -> list[Entry]:
        response = await self._redis.xreadgroup(self._config.group, self._config.consumer,
                                                {self._config.key: start}, count=self._config.batch_size,
                                                block=block)
        if not response:
            return []
        streams = response.values() if isinstance(response, dict) else (s[1] for s in response)
        return [entry for stream in streams for entry in _entries(stream)]

    async def _claim(self) -> list[Entry]:
        idle_ms = max(1, round(self._config.claim_idle * 1000))
        reply = await self._redis.xautoclaim(self._config.key, self._config.group, self._config.consumer,
                                             min_idle_time=idle_ms, start_id=self._claim_cursor,
                                             count=self._config.batch_size)
        cursor, claimed = reply[0], _entries(reply[1])
        if cursor in (b"0-0", "0-0"):
            self._claim_cursor = "0-0"
            self._next_claim = time.monotonic() + max(0.1, self._config.claim_idle / 2)
            await self._prune_consumers()
        else:
            self._claim_cursor = cursor   # more to scan: go on next iteration
        if claimed:
            self._own_pending = True      # ours now, until acknowledged
            log.info("claimed usage records left pending by another consumer", extra={"count": len(claimed)})
        return claimed

    async def _prune_consumers(self) -> None:
        """Removes consumers that hold nothing and have not read for `prune_idle`: drains
        that are gone (every process brings a new consumer name). A live drain reads every
        `interval`, so it is never that idle; were it removed anyway, its next read adds it
        back. A consumer still holding entries is left for the claim above."""
        limit_ms = self._config.prune_idle * 1000
        consumers = await self._redis.xinfo_consumers(self._config.key, self._config.group)
        for consumer in consumers:
            name = consumer["name"].decode() if isinstance(consumer["name"], bytes) else consumer["name"]
            if name != self._config.consumer and consumer["pending"] == 0 and consumer["idle"] > limit_ms:
                await self._redis.xgroup_delconsumer(self._config.key, self._config.group, name)

    async def _store(self, entries: list[Entry]) -> bool:
        """Inserts the entries' records and acknowledges them; False if the database did not
        take them (they stay pending for this consumer)."""
        records: list[UsageRecord] = []
        unreadable: list[tuple[bytes, str]] = []
        for entry_id, fields in entries:
            raw = (fields or {}).get(FIELD)
            if raw is None:
                continue   # deleted from the stream after all: only the acknowledgement is left
            try:
                records.append(UsageRecord.from_json(orjson.loads(raw)))
            except (ValueError, TypeError, KeyError) as exc:
                unreadable.append((raw, type(exc).__name__))
                log.error("unreadable usage entry moved to the dead-letter stream",
                          extra={"entry_id": entry_id.decode(), "error": type(exc).__name__})
        try:
            async with asyncio.timeout(self._config.write_timeout):
                rejected = await insert_records(self._engine, records)
        except TRANSIENT_DB_ERRORS as exc:
            self._own_pending = True
            self._warnings.warn("db-write", "database unavailable: usage records stay pending in Redis", exc)
            return False
        log_rejected(rejected)
        await self._dead_letter(unreadable, rejected)
        await self._acknowledge([entry_id for entry_id, _ in entries])
        self.written += len(records)
        return True

    async def _acknowledge(self, ids: Sequence[bytes]) -> None:
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xack(self._config.key, self._config.group, *ids)
            pipe.xdel(self._config.key, *ids)
            await pipe.execute()

    async def _dead_letter(self, unreadable: list[tuple[bytes, str]], rejected: list[RejectedRecord]) -> None:
        items = [*unreadable, *((orjson.dumps(r.record.to_json()), r.reason) for r in rejected)]
        for raw, reason in items:
            await self._redis.xadd(self._dead_key, {FIELD: raw, b"error": reason.encode()},
                                   maxlen=_DEAD_LETTER_MAXLEN, approximate=True)

    async def _finish_own_pending(self) -> None:
        for _ in range(1000):
            entries = await self._read("0", block=None)
            if not entries or not await self._store(entries):
                break
        pending = await self._redis.xpending_range(self._config.key, self._config.group, min="-", max="+",
                                                   count=1, consumername=self._config.consumer)
        if not pending:
            await self._redis.xgroup_delconsumer(self._config.key, self._config.group, self._config.consumer)


def _entries(raw: Any) -> list[Entry]:
    return [(entry_id, fields) for entry_id, fields in raw or ()]
