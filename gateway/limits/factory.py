"""The limiter a gateway runs with: Redis (shared by replicas, failing open or closed as
configured) when GATEWAY_REDIS_URL is set, else the in-process store."""

from __future__ import annotations

from gateway.limits.base import Limiter
from gateway.limits.failover import FailoverLimiter
from gateway.limits.memory import MemoryLimiter
from gateway.limits.redis import RedisLimiter
from gateway.redis_client import ClientOptions, HotPathClient, hot_path_client
from gateway.settings import Settings

# One immediate retry (for a pooled connection that died with a Redis restart) instead of
# redis-py's default retries with backoff, so that a refused connection is noticed at once;
# a reply may take a few seconds, because a busy event loop reads late and a late read is
# no outage. The pool's cap is redis_client's: far above what one process has in flight.
LIMITER_OPTIONS = ClientOptions(connect_timeout=1, read_timeout=5, quick_retry=True)


def limiter_client(url: str, cluster: bool = False) -> HotPathClient:
    """A client of the limiter's own (a cluster client when `cluster`)."""
    return hot_path_client(url, cluster=cluster, options=LIMITER_OPTIONS)


def build_limiter(settings: Settings) -> Limiter:
    local = MemoryLimiter()
    if not settings.redis_url:
        return local
    shared = RedisLimiter(limiter_client(settings.redis_url, settings.redis_cluster), owns_client=True)
    return FailoverLimiter(shared, local, settings.ratelimit_failure_mode)
