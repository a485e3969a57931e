"""api_keys.last_used_at without a database write per request.

The request path only notes "key K was used at T" in a dict (the latest T wins); a background
task writes all noted keys in one batched UPDATE every `interval` seconds, and once more at
shutdown. Replicas write independently; the UPDATE only ever moves last_used_at forward.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.tenancy.tables import api_keys

log = logging.getLogger("gateway.tenancy.last_used")

_UPDATE = (sa.update(api_keys)
           .where(api_keys.c.id == sa.bindparam("b_id"))
           .where(sa.or_(api_keys.c.last_used_at.is_(None), api_keys.c.last_used_at < sa.bindparam("b_ts")))
           .values(last_used_at=sa.bindparam("b_ts")))


class LastUsedRecorder:
    def __init__(self, engine: AsyncEngine, interval: float = 5.0) -> None:
        self._engine = engine
        self._interval = interval
        self._pending: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def touch(self, key_id: str, at: datetime | None = None) -> None:
        """Called on every authenticated request: a dict write, nothing more."""
        self._pending[key_id] = at or datetime.now(UTC)

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="key-last-used-writer")

    async def flush(self) -> int:
        """Writes what was noted since the last flush; returns how many keys. On a database
        error the notes are kept (merged with newer ones) for the next try."""
        batch, self._pending = self._pending, {}
        if not batch:
            return 0
        try:
            async with self._engine.begin() as conn:
                await conn.execute(_UPDATE, [{"b_id": key_id, "b_ts": ts} for key_id, ts in batch.items()])
        except Exception:
            for key_id, ts in batch.items():
                newer = self._pending.get(key_id)
                if newer is None or newer < ts:
                    self._pending[key_id] = ts
            raise
        return len(batch)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        try:
            await self.flush()
        except Exception as exc:
            log.warning("could not write keys' last use at shutdown", extra={"error": type(exc).__name__})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception as exc:
                log.warning("could not write keys' last use; retrying", extra={"error": type(exc).__name__})
