"""The limiter a gateway runs with: Redis (shared by replicas, failing open or closed as
configured) when GATEWAY_REDIS_URL is set, else the in-process store."""

from __future__ import annotations

from gateway.limits.base import Limiter
from gateway.limits.failover import FailoverLimiter
from gateway.limits.memory import MemoryLimiter
from gateway.limits.redis import RedisLimiter
from gateway.redis_client import ClientOptions, HotPathClient, hot_path_client
from gateway.settings import Settings


def limiter_client(url: str, cluster: bool = False, timeout: float = 2.0) -> HotPathClient:
    """A client of the limiter's own (a cluster client when `cluster`): one immediate retry
    (for a connection that died with a Redis restart) instead of redis-py's retries with
    backoff, so a refused connection is noticed at once; a reply may take `timeout`
    (GATEWAY_REDIS_TIMEOUT_SECONDS) before the limiter fails open or closed. A late read from
    a busy event loop is no timeout: replies already received are read before the watchdog."""
    return hot_path_client(url, cluster=cluster, options=ClientOptions(
        connect_timeout=min(1.0, timeout), read_timeout=timeout, quick_retry=True))


def build_limiter(settings: Settings) -> Limiter:
    local = MemoryLimiter()
    if not settings.redis_url:
        return local
    shared = RedisLimiter(limiter_client(settings.redis_url, settings.redis_cluster, settings.redis_timeout_seconds),
                          owns_client=True)
    return FailoverLimiter(shared, local, settings.ratelimit_failure_mode)
