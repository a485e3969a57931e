"""The limiter a gateway runs with: Redis (shared by replicas, failing open or closed as
configured) when GATEWAY_REDIS_URL is set, else the in-process store."""

from __future__ import annotations

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.limits.base import Limiter
from gateway.limits.failover import FailoverLimiter
from gateway.limits.memory import MemoryLimiter
from gateway.limits.redis import RedisLimiter
from gateway.settings import Settings

MAX_CONNECTIONS = 64        # per process; a burst waits for a connection rather than failing


def limiter_client(url: str) -> Redis:
    """A client of the limiter's own: one immediate retry (for a pooled connection that
    died with a Redis restart) instead of redis-py's default ten with backoff, so that a
    refused connection is noticed at once; a reply may take a few seconds, because a busy
    event loop reads late and a late read is no outage; and a blocking pool, so that a
    burst of requests queues for connections instead of failing."""
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=10, socket_connect_timeout=1, socket_timeout=5,
        retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)))
    return Redis(connection_pool=pool)


def build_limiter(settings: Settings) -> Limiter:
    local = MemoryLimiter()
    if not settings.redis_url:
        return local
    shared = RedisLimiter(limiter_client(settings.redis_url), owns_client=True)
    return FailoverLimiter(shared, local, settings.ratelimit_failure_mode)
