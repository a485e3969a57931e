"""Which outbox a gateway uses: the Redis Stream when Redis is configured (durable across
a crash), else the in-process queue (embedded mode). With Redis, the serving process only
appends unless GATEWAY_USAGE_DRAIN=inline; the drain is `llm-gateway usage-drain`."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.redis_client import Client, ClientOptions, hot_path_client
from gateway.settings import Settings, UsageDrain
from gateway.usage.outbox import MemoryOutbox, UsageOutbox
from gateway.usage.redis_outbox import RedisStreamOutbox
from gateway.usage.stream_append import StreamAppender
from gateway.usage.stream_config import StreamConfig, default_consumer_name


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        key=settings.usage_stream_key,
        group=settings.usage_consumer_group,
        consumer=settings.usage_consumer_name or default_consumer_name(),
        batch_size=settings.usage_batch_size,
        interval=settings.usage_flush_interval_seconds,
        claim_idle=settings.usage_claim_idle_seconds,
    )


def build_outbox(settings: Settings, engine: AsyncEngine, redis: Client | None) -> UsageOutbox:
    if redis is None:
        return MemoryOutbox(engine, batch_size=settings.usage_batch_size,
                            interval=settings.usage_flush_interval_seconds)
    # The request path's XADD on its own pipelined connection; a cluster keeps the shared client.
    appender = None
    if settings.redis_url and not settings.redis_cluster:
        timeout = settings.redis_timeout_seconds
        appender = hot_path_client(settings.redis_url, cluster=False,
                                   options=ClientOptions(connect_timeout=timeout, read_timeout=timeout))
    if settings.usage_drain is UsageDrain.INLINE:
        return RedisStreamOutbox(redis, engine, stream_config(settings), appender=appender)
    return StreamAppender(redis, engine, stream_config(settings), appender=appender)
