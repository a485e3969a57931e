"""The semantic index and the cache's clearing on a real three-node cluster through the
cluster client: a scope's keys share one slot (its hash tag), so the scripts run there; the
exact cache's keys spread over every node, and clearing scans them all."""

from __future__ import annotations

import numpy as np

from gateway.cache.keys import cache_key
from gateway.cache.semantic.redis_index import RedisSemanticIndex
from gateway.cache.semantic.vectors import normalized
from gateway.cache.store import RedisCacheStore, cache_client
from gateway.redis_client import Client
from tests.conftest import unique
from tests.support.redis_cluster import RedisClusterNodes


async def test_the_semantic_index_works_on_a_cluster(redis_cluster: RedisClusterNodes, cluster_client: Client) -> None:
    index = RedisSemanticIndex(cache_client(redis_cluster.url, cluster=True), cluster_client, max_entries=3,
                               owns_client=True)
    scope, rng = unique("s"), np.random.default_rng(3)
    vectors = [normalized(rng.standard_normal(384).astype(np.float32)) for _ in range(4)]
    try:
        for i, vector in enumerate(vectors):
            await index.add(scope, "p", "gpt-4o-mini", vector, f"q{i}", f"k{i}", 60)
        found = await index.nearest(scope, "p", vectors[3], 8)
        assert found[0].answer_key == "k3" and {c.answer_key for c in found} == {"k1", "k2", "k3"}   # k0 evicted
        assert await index.clear(scope, "gpt-4o") == 0
        assert await index.clear(scope, "gpt-4o-mini") == 3
        assert await index.nearest(scope, "p", vectors[3], 8) == []
    finally:
        await index.clear(scope)
        await index.close()


async def test_clearing_a_tenant_reaches_every_node(redis_cluster: RedisClusterNodes, cluster_client: Client) -> None:
    store = RedisCacheStore(cache_client(redis_cluster.url, cluster=True), owns_client=True, admin=cluster_client)
    mine, theirs = unique("s"), unique("s")
    keys = {scope: [cache_key(scope, "m", {"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(30)]
            for scope in (mine, theirs)}
    try:
        for scope_keys in keys.values():
            for key in scope_keys:
                await store.set(key, b"answer", 60)
        assert await store.clear(mine) == 30
        assert [await store.get(k) for k in keys[mine]] == [None] * 30
        assert [await store.get(k) for k in keys[theirs]] == [b"answer"] * 30
    finally:
        await store.clear(theirs)
        await store.close()
