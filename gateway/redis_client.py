"""Every Redis client of the gateway, built in one place from GATEWAY_REDIS_URL and
GATEWAY_REDIS_CLUSTER.

Commands go through a `Redis` (one server) or, in cluster mode, a `RedisCluster`, which
learns the slot map from the node the URL names (on ElastiCache: the configuration
endpoint) and sends each command to the node holding its key. That is enough for every
store: each command or script touches one key or keys sharing one hash tag (the limiter's
`{tenant}`), and pipelines without a transaction are split per node by the client.

Pub/sub needs no cluster client. A classic PUBLISH on any node reaches the subscribers of
every node (the cluster bus carries it), so publishers and subscribers talk to one node:
the one the URL names (`node_client`), or one primary of a cluster client (`one_node`).

Pools. redis-py's default pool holds 100 connections and raises "Too many connections"
beyond; its BlockingConnectionPool waits instead, but pays an asyncio.wait_for (a new task)
and a condition variable on every command: profiled at ~20% of the gateway's CPU per
request (bench/run.py, 2.83 -> 2.25 ms). So every pool here is a plain one with a cap far
above what one process has in flight (a request holds one connection for one round trip).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from redis.asyncio import ConnectionPool, Redis, RedisCluster
from redis.asyncio.connection import SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, SlotNotCoveredError

from gateway.redis_mux import MultiplexedRedis
from gateway.settings import Settings

Client = Redis | RedisCluster
# What the request path's stores (limiter, cache, usage append) send their commands through.
HotPathClient = Client | MultiplexedRedis

CLUSTER_MAX_CONNECTIONS_PER_NODE = 1000


@dataclass(frozen=True, slots=True)
class ClientOptions:
    connect_timeout: float
    read_timeout: float | None           # None: a reply may take any time (a subscriber's wait)
    max_connections: int = 2000          # one server: the pool's cap, per process
    quick_retry: bool = False            # one immediate retry (a pooled connection a restart killed)
    health_check_interval: float = 0.0   # PING an idle connection before use after this many seconds
    keepalive: bool = False


# The runtime's shared client: usage stream, breaker sync, readiness.
SHARED = ClientOptions(connect_timeout=2, read_timeout=2, health_check_interval=10)
# Pub/sub: publishing is rare; a subscriber waits on its own schedule and relies on health
# checks and TCP keepalive to notice a dead connection.
PUBLISHER = ClientOptions(connect_timeout=2, read_timeout=2, max_connections=8)
SUBSCRIBER = ClientOptions(connect_timeout=2, read_timeout=None, max_connections=4, health_check_interval=5,
                           keepalive=True)

# What a plain client to one node of a cluster takes over from the cluster's own settings.
_NODE_KWARGS = frozenset({
    "username", "password", "credential_provider", "client_name", "socket_connect_timeout", "socket_timeout",
    "socket_keepalive", "socket_keepalive_options", "health_check_interval", "ssl_keyfile", "ssl_certfile",
    "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_check_hostname", "ssl_min_version", "ssl_ciphers",
})


class ClusterClient(RedisCluster):
    """A RedisCluster that learns the slot map before it routes any command, and reports an
    unreachable cluster (no node answers, or slots left uncovered) as a redis ConnectionError.

    Discovery first: commands that race a fresh client's first discovery can be sent on
    connections the discovery replaces (a burst of blocking reads on a new client failed
    that way, "Connection closed by server"). ConnectionError: an unreachable server is
    reported so, whereas RedisClusterException is no RedisError; every store's outage
    handling (a cache miss, the usage fallback queue, local breakers and limits) then
    applies unchanged."""

    async def initialize(self, *args: Any, **kwargs: Any) -> RedisCluster:   # (its parameters vary by version)
        try:
            return await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            raise RedisConnectionError(f"Redis Cluster unreachable: {exc}") from exc

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        await self.initialize()           # at once when done: a flag check
        try:
            return await super().execute_command(*args, **kwargs)
        except SlotNotCoveredError as exc:
            raise RedisConnectionError(f"Redis Cluster slot not covered: {exc}") from exc


def command_client(url: str, *, cluster: bool, options: ClientOptions) -> Client:
    """A client for commands and scripts: a cluster client when `cluster`, else one server's."""
    if not cluster:
        return node_client(url, options)
    kwargs = _connection_kwargs(options)
    if options.quick_retry:
        kwargs["retry"] = Retry(NoBackoff(), 1)   # the cluster client refreshes its slot map, then retries
    return ClusterClient.from_url(url, max_connections=CLUSTER_MAX_CONNECTIONS_PER_NODE, **kwargs)


def hot_path_client(url: str, *, cluster: bool, options: ClientOptions) -> HotPathClient:
    """A client for the request path's commands: one pipelined connection to a single
    server (redis_mux: a seventh of redis-py's CPU per command), or, in cluster mode or for
    a URL it does not take, `command_client`."""
    if cluster or not MultiplexedRedis.handles(url):
        return command_client(url, cluster=cluster, options=options)
    return MultiplexedRedis.from_url(url, connect_timeout=options.connect_timeout, read_timeout=options.read_timeout)


def node_client(url: str, options: ClientOptions) -> Redis:
    """A plain client to the server (or cluster node) the URL names."""
    kwargs = _connection_kwargs(options)
    if options.quick_retry:
        kwargs["retry"] = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    pool = ConnectionPool.from_url(url, max_connections=options.max_connections, **kwargs)
    return Redis(connection_pool=pool)


def shared_client(settings: Settings) -> Client | None:
    """The runtime's shared client, or None without Redis (embedded mode)."""
    if not settings.redis_url:
        return None
    return command_client(settings.redis_url, cluster=settings.redis_cluster, options=SHARED)


@asynccontextmanager
async def one_node(client: Client) -> AsyncIterator[Redis]:
    """A plain client to one node of `client`, for pub/sub: `client` itself when it is one
    server's; for a cluster, a new connection to a primary picked at random (so that a
    retry after a lost node lands elsewhere), closed on exit."""
    if isinstance(client, Redis):
        yield client
        return
    await client.initialize()
    node = random.choice(client.get_primaries())
    kwargs = {k: v for k, v in node.connection_kwargs.items() if k in _NODE_KWARGS}
    plain = Redis(host=node.host, port=int(node.port), ssl=issubclass(node.connection_class, SSLConnection),
                  max_connections=4, **kwargs)
    try:
        yield plain
    finally:
        await plain.aclose()


def _connection_kwargs(options: ClientOptions) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"socket_connect_timeout": options.connect_timeout,
                              "socket_timeout": options.read_timeout}
    if options.health_check_interval:
        kwargs["health_check_interval"] = options.health_check_interval
    if options.keepalive:
        kwargs["socket_keepalive"] = True
    return kwargs
