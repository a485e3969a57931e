"""The path from the charge stage to the database, off the request path.

The embedded outbox is an in-process queue drained in batches to SQLite and flushed on
shutdown. A failed batch stays queued and is retried, so a database blip loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import deque

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.usage.record import UsageRecord
from gateway.usage.writer import insert_records

log = logging.getLogger("gateway.usage")


class UsageOutbox(ABC):
    @abstractmethod
    async def append(self, record: UsageRecord) -> None:
        """Queues a record; returns once it is as durable as this outbox makes it."""

    @abstractmethod
    async def pending(self) -> int: ...

    async def start(self) -> None:
        """Starts the drain task."""

    async def close(self) -> None:
        """Stops draining after flushing what is queued."""


class MemoryOutbox(UsageOutbox):
    def __init__(self, engine: AsyncEngine, *, batch_size: int = 500, interval: float = 0.5) -> None:
        self._engine = engine
        self._batch_size = batch_size
        self._interval = interval
        self._queue: deque[UsageRecord] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._flushing = asyncio.Lock()   # the drain task and an explicit flush never overlap

    async def append(self, record: UsageRecord) -> None:
        self._queue.append(record)
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    async def pending(self) -> int:
        return len(self._queue)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._drain_forever(), name="usage-outbox")

    async def close(self) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.flush()

    async def flush(self) -> bool:
        """Writes everything queued; False if the database refused (records stay queued)."""
        async with self._flushing:
            return await self._flush_locked()

    async def _flush_locked(self) -> bool:
        while self._queue:
            batch = [self._queue[i] for i in range(min(self._batch_size, len(self._queue)))]
            try:
                await insert_records(self._engine, batch)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("usage batch not written, will retry", extra={"error": type(exc).__name__,
                                                                          "pending": len(self._queue)})
                return False
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
            ok = await self.flush()
            backoff = self._interval if ok else min(backoff * 2, 10.0)
