"""The production outbox: a Redis Stream between the charge stage and the database.

append  XADD, awaited by the charge stage, so the record is in Redis before the response
        completes.
drain   every replica runs one consumer of one consumer group. It reads a batch, inserts it
        idempotently and acknowledges (XACK, then XDEL) only after the commit. A batch the
        database did not take stays pending for this consumer and is retried with backoff.
claim   entries pending longer than `claim_idle` under any consumer -- a replica that died
        between read and acknowledgement -- are claimed (XAUTOCLAIM) by the next replica
        that looks. Claiming a live but slow consumer's entries is harmless: inserts are
        idempotent.

Redis down while appending: the record goes to an in-process queue (a warning says so).
The drain loop hands that queue back to Redis once it answers again, or writes it to the
database directly meanwhile; it is lost only if the process dies while both are down.

Only this consumer group reads the stream, which is why acknowledged entries are deleted:
the stream's length is the backlog, and it stays bounded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from redis.exceptions import RedisError, ResponseError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.redis_client import Client, HotPathClient
from gateway.telemetry import metrics
from gateway.usage.outbox import (
    MAX_BACKOFF_SECONDS,
    TRANSIENT_DB_ERRORS,
    MemoryOutbox,
    UsageOutbox,
    log_rejected,
)
from gateway.usage.record import UsageRecord
from gateway.usage.stream_replay import Unconfirmed, safe_point, server_identity
from gateway.usage.writer import RejectedRecord, insert_records

log = logging.getLogger("gateway.usage")

FIELD = b"r"
REDIS_ERRORS = (RedisError, OSError)
_DEAD_LETTER_MAXLEN = 100_000
_MAX_BLOCK_MS = 1000          # below the client's socket timeout: a blocking read is not an error
_WARN_EVERY_SECONDS = 5.0
_CONFIRM_EVERY_SECONDS = 0.5   # how often the drain loop looks which appended records are written
Entry = tuple[bytes, dict[bytes, bytes] | None]


def default_consumer_name() -> str:
    """Unique per process: a restarted replica is a new consumer, and what the old one left
    pending is claimed like any dead consumer's."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class StreamConfig:
    key: str
    group: str
    consumer: str
    batch_size: int = 500
    interval: float = 0.5          # how long a read waits for new entries
    # After a batch short of `batch_size`, wait this long before reading again, so that the
    # next batch is bigger: a transaction and an acknowledgement per handful of records cost
    # more CPU than the records (bench/profile.py). The records wait in the stream meanwhile.
    linger: float = 0.1
    claim_idle: float = 30.0       # pending this long under another consumer: claimed
    prune_idle: float = 600.0      # a consumer with nothing pending, silent this long: removed
    redis_retry: float = 1.0       # after a failed append, skip Redis this long
    write_timeout: float = 30.0


class RedisStreamOutbox(UsageOutbox):
    """`appender`, when given, carries the request path's XADD (and is closed with the
    outbox); `redis` carries the rest, blocking reads included."""

    def __init__(self, redis: Client, engine: AsyncEngine, config: StreamConfig,
                 appender: HotPathClient | None = None) -> None:
        self._redis = redis
        self._appender: HotPathClient = appender if appender is not None else redis
        self._owns_appender = appender is not None
        self._engine = engine
        self._config = config
        self._dead_key = f"{config.key}:dead"
        self._fallback = MemoryOutbox(engine, batch_size=config.batch_size, write_timeout=config.write_timeout,
                                      publish_pending=False)
        self._redis_down_until = 0.0
        self._group_ready = False
        self._own_pending = True        # a consumer name given in settings may have some from before
        self._claim_cursor: bytes | str = "0-0"
        self._next_claim = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._warned_at: dict[str, float] = {}
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
                self._warn("redis-append", "Redis unavailable: usage records kept in process until Redis "
                           "or the database takes them", exc)
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
        self._task = asyncio.create_task(self._drain_forever(), name="usage-stream-drain")

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self._finish_own_pending()
        except REDIS_ERRORS as exc:
            self._warn("redis-close", "Redis unavailable at shutdown: this consumer's pending usage "
                       "records stay in the stream for another replica to claim", exc)
        await self._hand_over_fallback()
        if self._owns_appender:
            await self._appender.aclose()

    # -- the drain loop ---------------------------------------------------------------

    async def _drain_forever(self) -> None:
        backoff = self._config.interval
        while not self._stop.is_set():
            try:
                await self._rehome_fallback()
                await self._track_unconfirmed()
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
                self._warn("redis-drain", "Redis unavailable: usage drain paused", exc)
                await self._fallback.flush()   # what is in process goes to the database directly
                await self._wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            except Exception:
                log.exception("usage drain failed; retrying")
                await self._wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            await self._publish_pending()

    async def _wait(self, seconds: float) -> None:
        try:
            async with asyncio.timeout(seconds):
                await self._stop.wait()
        except TimeoutError:
            pass

    async def _track_unconfirmed(self) -> None:
        """Forgets the appended records the group has written; appends the rest again when
        Redis came back as another server (restarted empty: the stream is gone)."""
        now = time.monotonic()
        if now < self._next_confirm:
            return
        self._next_confirm = now + _CONFIRM_EVERY_SECONDS
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
            self._group_ready = False
            return
        if not len(self._unconfirmed):
            return
        try:
            groups = await self._redis.xinfo_groups(self._config.key)
            summary = await self._redis.xpending(self._config.key, self._config.group)
        except ResponseError:
            return   # no stream or no group yet: nothing confirmed
        oldest = summary.get("min") if summary.get("pending") else None
        safe = safe_point(groups, self._config.group, oldest)
        if safe is not None:
            self._unconfirmed.confirmed_below(safe)

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
        """Removes consumers that hold nothing and have not read for `prune_idle`: replicas
        that are gone (every pod brings a new consumer name). A live replica reads every
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
            self._warn("db-write", "database unavailable: usage records stay pending in Redis", exc)
            return False
        log_rejected(rejected)
        await self._dead_letter(unreadable, rejected)
        await self._acknowledge([entry_id for entry_id, _ in entries])
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

    async def _rehome_fallback(self) -> None:
        """Records kept in process while Redis was down go back to the stream, where they are
        durable and any replica can write them."""
        if not await self._fallback.pending() or time.monotonic() < self._redis_down_until:
            return
        records = await self._fallback.take_all()
        try:
            await self._rehome_records(records)
        except BaseException:
            for record in records:   # a duplicate in the stream is harmless: inserts are idempotent
                await self._fallback.append(record)
            raise
        log.warning("usage records kept in process while Redis was down are back in the stream",
                    extra={"count": len(records)})

    async def _publish_pending(self) -> None:
        metrics.OUTBOX_PENDING.set(await self.pending())

    # -- shutdown ---------------------------------------------------------------------

    async def _finish_own_pending(self) -> None:
        """Writes what this consumer read but has not acknowledged; then leaves the group if
        nothing of its own is left (its name is never used again)."""
        for _ in range(1000):
            entries = await self._read("0", block=None)
            if not entries or not await self._store(entries):
                break
        pending = await self._redis.xpending_range(self._config.key, self._config.group, min="-", max="+",
                                                   count=1, consumername=self._config.consumer)
        if not pending:
            await self._redis.xgroup_delconsumer(self._config.key, self._config.group, self._config.consumer)

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

    def _warn(self, what: str, message: str, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(what, -_WARN_EVERY_SECONDS) >= _WARN_EVERY_SECONDS:
            self._warned_at[what] = now
            log.warning(message, extra={"error": type(exc).__name__})


def _entries(raw: Any) -> list[Entry]:
    return [(entry_id, fields) for entry_id, fields in raw or ()]
