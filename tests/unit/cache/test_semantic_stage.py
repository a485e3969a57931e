"""The cache stage in semantic mode, with an in-process store and index and a stand-in
embedder (vectors chosen by the test): exact first, then a guarded semantic match; every
way the semantic path can fail is a plain miss."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache.semantic.index import MemorySemanticIndex
from gateway.cache.semantic.matcher import SemanticMatcher
from gateway.cache.semantic.vectors import Vector, normalized
from gateway.cache.store import MemoryCacheStore
from gateway.catalog import CachePolicy, SemanticPolicy
from gateway.pipeline.cache import LookupCache
from gateway.pipeline.embedder import Embedder
from gateway.request import CacheStatus, RequestContext
from tests.unit.cache.test_lookup_stage import answer, context

BASE = normalized(np.arange(1, 9, dtype=np.float32))
NEAR = normalized(np.arange(1, 9, dtype=np.float32) + np.array([0, 0, 0, 0, 0, 0, 0, 1], dtype=np.float32))  # ~0.998
FAR = normalized(np.array([8, -7, 6, -5, 4, -3, 2, -1], dtype=np.float32))


class StandIn(Embedder):
    """Answers from a table; None (the embedding failed) for any other text."""

    def __init__(self, table: dict[str, Vector]) -> None:
        self.table = table
        self.calls: list[str] = []

    async def embed(self, text: str, parent: RequestContext) -> Vector | None:
        self.calls.append(text)
        return self.table.get(text)


def ask(text: str, **kwargs: object) -> RequestContext:
    return context(messages=[{"role": "user", "content": text}], **kwargs)   # type: ignore[arg-type]


@pytest.fixture
def embedder() -> StandIn:
    return StandIn({"What is the capital of France?": BASE, "Could you tell me the capital of France?": NEAR,
                    "What is the capital of Germany?": NEAR, "Something else entirely": FAR})


@pytest.fixture
def store() -> MemoryCacheStore:
    return MemoryCacheStore()


@pytest.fixture
def stage(embedder: StandIn, store: MemoryCacheStore) -> LookupCache:
    policy = SemanticPolicy(embedding_model="e")
    return LookupCache(store, CachePolicy(mode="semantic", semantic=policy),
                       semantic=SemanticMatcher(MemorySemanticIndex(), policy), embedder=embedder)


async def asked_and_answered(stage: LookupCache, text: str, **kwargs: object) -> RequestContext:
    ctx = ask(text, **kwargs)
    await stage(ctx)
    if ctx.cache_status is not CacheStatus.HIT:
        ctx.completion = answer("stop")
        await stage.remember(ctx)
    return ctx


async def test_a_paraphrase_hits_with_its_similarity(stage: LookupCache) -> None:
    first = await asked_and_answered(stage, "What is the capital of France?")
    assert first.cache_status is CacheStatus.MISS and first.cache_match is None
    again = await asked_and_answered(stage, "Could you tell me the capital of France?")
    assert again.cache_status is CacheStatus.HIT and again.cache_match == "semantic"
    assert again.cache_similarity is not None and 0.99 < again.cache_similarity < 1
    assert again.result is not None and again.result.body["cache"] == "hit"
    exact = await asked_and_answered(stage, "What is the capital of France?")
    assert (exact.cache_match, exact.cache_similarity) == ("exact", 1.0)


async def test_close_vectors_that_fail_the_guards_miss(stage: LookupCache) -> None:
    await asked_and_answered(stage, "What is the capital of France?")
    other = await asked_and_answered(stage, "What is the capital of Germany?")
    assert other.cache_status is CacheStatus.MISS


async def test_a_distant_vector_misses(stage: LookupCache) -> None:
    await asked_and_answered(stage, "What is the capital of France?")
    assert (await asked_and_answered(stage, "Something else entirely")).cache_status is CacheStatus.MISS


async def test_a_failed_embedding_is_a_miss_and_files_nothing(stage: LookupCache, embedder: StandIn) -> None:
    failed = await asked_and_answered(stage, "Not in the table")
    assert failed.cache_status is CacheStatus.MISS and failed.semantic_pending is None
    assert (await asked_and_answered(stage, "Not in the table")).cache_match == "exact"   # exact still works


async def test_an_evicted_answer_is_a_miss(stage: LookupCache, store: MemoryCacheStore) -> None:
    first = await asked_and_answered(stage, "What is the capital of France?")
    assert first.cache_key is not None
    await store.clear("t1")
    assert (await asked_and_answered(stage, "Could you tell me the capital of France?")).cache_status \
        is CacheStatus.MISS


async def test_a_tenant_on_exact_never_embeds_and_no_cache_files_without_reading(
        stage: LookupCache, embedder: StandIn) -> None:
    await asked_and_answered(stage, "What is the capital of France?", cache_mode="exact")
    assert embedder.calls == []
    await asked_and_answered(stage, "What is the capital of France?", read=False)
    assert embedder.calls == ["What is the capital of France?"]       # embedded to be filed, not looked up
    hit = await asked_and_answered(stage, "Could you tell me the capital of France?")
    assert hit.cache_match == "semantic"


async def test_other_tenants_never_match(stage: LookupCache) -> None:
    await asked_and_answered(stage, "What is the capital of France?", tenant="t1")
    assert (await asked_and_answered(stage, "Could you tell me the capital of France?", tenant="t2")).cache_status \
        is CacheStatus.MISS
    assert (await asked_and_answered(stage, "What is the capital of France?", tenant="t3")).cache_status \
        is CacheStatus.MISS


async def test_clear_reports_both_kinds(stage: LookupCache) -> None:
    await asked_and_answered(stage, "What is the capital of France?")
    assert await stage.clear("t1") == {"exact": 1, "semantic": 1}
    assert await stage.clear("t1") == {"exact": 0, "semantic": 0}
