"""A vLLM pool over simulated replicas: where requests go, by queue and by prefix."""

from __future__ import annotations

import asyncio
from typing import Any

from providers.base import ChatRequest, ChatResult
from providers.vllm import VLLMProvider
from tests.integration.providers.vllm.conftest import Replicas, eventually, load_directly, scraped

LONG_PREFIX = "You are a careful assistant. " * 200      # ~6,000 characters: ~90 blocks


def chat(prefix: str, turn: str, **extra: Any) -> ChatRequest:
    return ChatRequest({"model": "sim", "max_tokens": 4, **extra,
                        "messages": [{"role": "system", "content": prefix}, {"role": "user", "content": turn}]})


async def test_requests_go_to_the_replica_with_the_short_queue(replicas: Replicas, pools: Any) -> None:
    (busy, _), (idle, _) = replicas(2, max_running=1, decode_seconds_per_token=0.05)
    pool: VLLMProvider = pools([busy.url, idle.url])
    await pool.start()
    async with load_directly(busy.url, 4, max_tokens=40):     # ~2 s each, one at a time
        await eventually(lambda: pool.replicas[0].figures is not None and pool.replicas[0].figures.waiting >= 3,
                         what="the busy replica's queue in its metrics")
        for i in range(6):
            result = await pool.chat(chat("short", f"question {i}"), "sim")
            assert isinstance(result, ChatResult)
        assert len(idle.served) == 6
        assert len(busy.served) == 0


async def test_same_prefix_sticks_to_one_replica_until_it_saturates_then_spreads(
        replicas: Replicas, pools: Any) -> None:
    started = replicas(3, max_running=2, decode_seconds_per_token=0.02)
    sims = [sim for sim, _ in started]
    pool: VLLMProvider = pools([s.url for s in sims])
    await pool.start()
    await eventually(lambda: scraped(pool), what="first scrape")
    for i in range(8):                                     # one after another: never saturated
        await pool.chat(chat(LONG_PREFIX, f"turn {i}"), "sim")
    counts = sorted(len(s.served) for s in sims)
    assert counts == [0, 0, 8]
    sticky = max(sims, key=lambda s: len(s.served))
    assert sum(s.cached_tokens for s in sticky.served[1:]) > 0.9 * sum(s.prompt_tokens for s in sticky.served[1:])

    # A burst of the same prefix: the sticky replica takes it until its queue reaches the
    # saturation depth (5), then the rest spread over the others.
    burst = [pool.chat(chat(LONG_PREFIX, f"burst {i}", max_tokens=30), "sim") for i in range(14)]
    await asyncio.gather(*burst)
    extra = {s.name: len(s.served) for s in sims}
    assert extra[sticky.name] - 8 >= 5
    assert sum(extra.values()) - extra[sticky.name] >= 3


async def test_stale_metrics_count_as_unknown_not_idle(replicas: Replicas, pools: Any) -> None:
    (silent, _), (busy, _) = replicas(2, max_running=1, decode_seconds_per_token=0.02)
    pool: VLLMProvider = pools([silent.url, busy.url])
    await pool.start()
    await eventually(lambda: scraped(pool), what="first scrape")
    silent.metrics_delay = 5.0                             # longer than the scrape timeout: figures go stale
    async with load_directly(busy.url, 3, max_tokens=40):
        await eventually(lambda: pool.replicas[1].figures is not None and pool.replicas[1].figures.waiting >= 1,
                         what="the busy replica's queue", detail=pool.status)
        await eventually(lambda: pool.status()["replicas"][0]["metrics"] == "stale", what="stale figures")
        await pool.chat(chat("short", "q"), "sim")          # 4 tokens; the background ones ask for 40
        assert len(silent.served) == 0      # the known one, busy but not saturated, beats the unknown idle-looking one
        assert [s.completion_tokens for s in busy.served].count(4) == 1
        view = pool.status()["replicas"][0]
        assert view["metrics"] == "stale" and view["score"] is None


async def test_the_replica_block_size_comes_from_its_metrics(replicas: Replicas, pools: Any) -> None:
    ((sim, _),) = replicas(1, block_size=32)
    pool: VLLMProvider = pools([sim.url])
    await pool.start()
    await eventually(lambda: scraped(pool), what="first scrape")
    assert pool.members.block_tokens == 32
    assert pool.status()["replicas"][0]["block_size"] == 32
