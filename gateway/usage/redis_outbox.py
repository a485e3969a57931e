"""The Redis Stream outbox with both of its sides in one process (GATEWAY_USAGE_DRAIN=inline):
the serving process appends (`StreamAppender`) and drains (`StreamDrain`) itself.

By default the drain runs in its own process instead (`llm-gateway usage-drain`, which
`serve` starts), and the serving process holds only the `StreamAppender`: see
gateway/usage/wiring.py.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.redis_client import Client, HotPathClient
from gateway.telemetry import metrics
from gateway.usage.stream_append import StreamAppender
from gateway.usage.stream_config import FIELD, StreamConfig, default_consumer_name
from gateway.usage.stream_drain import StreamDrain

__all__ = ["FIELD", "RedisStreamOutbox", "StreamConfig", "default_consumer_name"]


class RedisStreamOutbox(StreamAppender):
    def __init__(self, redis: Client, engine: AsyncEngine, config: StreamConfig,
                 appender: HotPathClient | None = None) -> None:
        super().__init__(redis, engine, config, appender=appender)
        self.drain = StreamDrain(redis, engine, config, after_round=self._publish_pending)

    async def start(self) -> None:
        await super().start()
        await self.drain.start()

    async def close(self) -> None:
        await self.drain.close()     # what this consumer read is written before the rest closes
        await super().close()

    async def _publish_pending(self) -> None:
        metrics.OUTBOX_PENDING.set(await self.pending())
