"""The path from the charge stage to the database, off the request path.

`UsageOutbox` is the interface the charge stage appends to. The embedded implementation,
`MemoryOutbox`, is an in-process queue drained in batches and flushed on shutdown; a batch
the database could not take stays queued and is retried with backoff, so a database blip
loses nothing. With Redis, `gateway.usage.redis_outbox.RedisStreamOutbox` makes the record
durable before the response completes and uses a `MemoryOutbox` only while Redis is down.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.telemetry import metrics
from gateway.usage.record import UsageRecord
from gateway.usage.writer import RejectedRecord, insert_records

log = logging.getLogger("gateway.usage")

# What a database that is down, restarting or unreachable raises; the batch is kept.
TRANSIENT_DB_ERRORS = (SQLAlchemyError, OSError, TimeoutError)
MAX_BACKOFF_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class DrainState:
    """What the last look at a shared outbox (the Redis Stream) saw."""
    drainers: int      # consumers that read it lately
    backlog: int       # records waiting in it
    seen_at: float     # time.monotonic() of the look


class UsageOutbox(ABC):
    # None: this outbox drains itself in process (nothing to watch), or has not looked yet.
    drain_state: DrainState | None = None

    @abstractmethod
    async def append(self, record: UsageRecord) -> None:
        """Queues a record; returns once it is as durable as this outbox makes it."""

    @abstractmethod
    async def pending(self) -> int:
        """Records appended and not yet in the database, as far as this process can tell."""

    async def start(self) -> None:
        """Starts the drain task."""

    async def close(self) -> None:
        """Stops draining after flushing what is queued."""


def log_rejected(rejected: list[RejectedRecord]) -> None:
    for item in rejected:
        log.error("usage record refused by the database as invalid; not retried",
                  extra={"request_id": item.record.request_id, "tenant": item.record.tenant,
                         "error": item.reason})


class MemoryOutbox(UsageOutbox):
    def __init__(self, engine: AsyncEngine, *, batch_size: int = 500, interval: float = 0.5,
                 write_timeout: float = 30.0, publish_pending: bool = True) -> None:
        self._engine = engine
        self._publish_pending = publish_pending   # off when another outbox owns the gauge
        self._batch_size = batch_size
        self._interval = interval
        self._write_timeout = write_timeout
        self._queue: deque[UsageRecord] = deque()
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()     # the drain task and an explicit flush must take turns
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    async def append(self, record: UsageRecord) -> None:
        self._queue.append(record)
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    async def pending(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._drain_forever(), name="usage-outbox")

    async def stop(self) -> None:
        """Stops the drain task without flushing."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def close(self) -> None:
        await self.stop()
        if not await self.flush():
            log.error("usage records lost at shutdown: the database is unreachable",
                      extra={"pending": len(self._queue)})

    async def take_all(self) -> list[UsageRecord]:
        """Empties the queue into the caller's hands (to hand the records on elsewhere)."""
        async with self._flushing:
            records = list(self._queue)
            self._queue.clear()
            return records

    async def flush(self) -> bool:
        """Writes everything queued; False if the database refused (records stay queued)."""
        async with self._flushing:
            return await self._flush_queue()

    async def _flush_queue(self) -> bool:
        while self._queue:
            batch = [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]
            try:
                async with asyncio.timeout(self._write_timeout):
                    rejected = await insert_records(self._engine, batch)
            except TRANSIENT_DB_ERRORS as exc:
                log.warning("usage batch not written, will retry", extra={"error": type(exc).__name__,
                                                                          "pending": len(self._queue)})
                return False
            log_rejected(rejected)
            for _ in batch:
                self._queue.popleft()
        return True

    async def _drain_forever(self) -> None:
        backoff = self._interval
        while not self._closing:
            try:
                async with asyncio.timeout(backoff):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing:
                break
            ok = await self.flush()
            if self._publish_pending:
                metrics.OUTBOX_PENDING.set(len(self._queue))
            backoff = self._interval if ok else min(backoff * 2, MAX_BACKOFF_SECONDS)
