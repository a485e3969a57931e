"""A vLLM pool when replicas fail, come and go, or are all saturated."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from providers.base import ChatRequest, ErrorKind, ProviderError
from providers.vllm import VLLMProvider
from providers.vllm.config import PoolOptions, parse_options
from tests.integration.providers.vllm.conftest import Replicas, eventually, load_directly, scraped


def chat(turn: str, *, stream: bool = False, max_tokens: int = 4) -> ChatRequest:
    return ChatRequest({"model": "sim", "max_tokens": max_tokens, "stream": stream,
                        "messages": [{"role": "user", "content": turn}]})


async def collect(pool: VLLMProvider, request: ChatRequest) -> str:
    text = []
    async for chunk in pool.chat_stream(request, "sim"):
        for choice in chunk.data.get("choices", []):
            text.append(choice["delta"].get("content") or "")
    return "".join(text)


@pytest.mark.parametrize("stream", [False, True])
async def test_a_replica_answering_5xx_is_skipped_and_its_breaker_opens(
        replicas: Replicas, pools: Any, stream: bool) -> None:
    (broken, _), (healthy, _) = replicas(2)
    broken.fail_status = 503
    pool: VLLMProvider = pools([broken.url, healthy.url], picker="round-robin")
    await pool.start()
    for i in range(4):
        if stream:
            assert await collect(pool, chat(f"q{i}", stream=True))
        else:
            await pool.chat(chat(f"q{i}"), "sim")
    assert len(healthy.served) == 4
    status = {r["url"]: r for r in pool.status()["replicas"]}
    assert status[broken.url]["breaker"] == "open"
    assert status[healthy.url]["breaker"] == "closed"


async def test_a_refused_connection_moves_on_before_the_first_byte(replicas: Replicas, pools: Any) -> None:
    (doomed, server), (healthy, _) = replicas(2)
    pool: VLLMProvider = pools([doomed.url, healthy.url], picker="round-robin")
    await pool.start()
    server.kill()
    for i in range(3):
        await pool.chat(chat(f"q{i}"), "sim")
    assert len(healthy.served) == 3
    assert pool.status()["replicas"][0]["breaker"] == "open"


async def test_a_replica_killed_mid_run_costs_no_request_that_had_not_started_streaming(
        replicas: Replicas, pools: Any) -> None:
    started = replicas(3, max_running=2, decode_seconds_per_token=0.01)
    pool: VLLMProvider = pools([sim.url for sim, _ in started])
    await pool.start()
    await eventually(lambda: scraped(pool), what="first scrape")
    victim_sim, victim = started[0]
    streaming_from_victim: set[int] = set()
    failures: list[tuple[int, str]] = []

    async def one(i: int) -> None:
        try:
            async for _chunk in pool.chat_stream(chat(f"request {i}", stream=True, max_tokens=20), "sim"):
                pass
        except ProviderError as exc:
            failures.append((i, exc.kind.value))

    tasks = []
    for i in range(60):
        tasks.append(asyncio.create_task(one(i)))
        if i == 20:
            await asyncio.sleep(0.05)
            streaming_from_victim.update(range(victim_sim.running))
            victim.kill()
        await asyncio.sleep(0.01)
    await asyncio.gather(*tasks)
    # Only streams the victim had already started may fail (mid-stream, kind "stream").
    assert all(kind == ErrorKind.STREAM.value for _, kind in failures), failures
    assert len(failures) <= 2 * 2        # at most its running streams (2) and whatever it queued
    assert sum(len(sim.served) for sim, _ in started[1:]) >= 60 - 21


async def test_replicas_removed_from_and_added_to_dns_are_picked_up(replicas: Replicas, pools: Any) -> None:
    (a, _), (b, _), (c, _) = replicas(3)

    class Dns:          # stands in for the cluster DNS of a headless service
        answer = [a.url, b.url]

        async def resolve(self) -> list[str]:
            return list(self.answer)

    dns = Dns()
    pool = VLLMProvider("pool", _pool_options(), source=dns)
    try:
        await pool.start()
        assert [r.root for r in pool.replicas] == [a.url, b.url]
        dns.answer = [b.url, c.url]                          # a left, c joined
        await eventually(lambda: [r.root for r in pool.replicas] == [b.url, c.url], what="the new answer")
        for i in range(8):
            await pool.chat(chat(f"q{i}"), "sim")
        assert len(a.served) == 0
        assert len(b.served) + len(c.served) == 8 and len(c.served) > 0
    finally:
        await pool.close()


def _pool_options() -> PoolOptions:
    return parse_options("pool", {"discovery": {"dns": "vllm.example", "port": 8000, "refresh_seconds": 0.1},
                                  "picker": "round-robin"})


async def test_every_replica_saturated_rejects_with_retry_after(replicas: Replicas, pools: Any) -> None:
    ((sim, _),) = replicas(1, max_running=1, decode_seconds_per_token=0.02)
    pool: VLLMProvider = pools([sim.url], saturation={"queue_depth": 1, "policy": "reject",
                                                      "retry_after_seconds": 2})
    await pool.start()
    async with load_directly(sim.url, 2, max_tokens=100):       # one runs, one waits: saturated
        await eventually(lambda: pool.status()["replicas"][0]["waiting"] == 1, what="a waiting request")
        with pytest.raises(ProviderError) as caught:
            await pool.chat(chat("second"), "sim")
    assert (caught.value.kind, caught.value.status, caught.value.retry_after) == (ErrorKind.RATE_LIMITED, 429, 2)


async def test_every_replica_saturated_queues_in_the_gateway_until_room(replicas: Replicas, pools: Any) -> None:
    ((sim, _),) = replicas(1, max_running=1, decode_seconds_per_token=0.02)
    pool: VLLMProvider = pools([sim.url], saturation={"queue_depth": 1, "policy": "queue",
                                                      "max_queued": 2, "max_wait_seconds": 10})
    await pool.start()
    async with load_directly(sim.url, 2, max_tokens=15, wait=True):   # one runs, one waits: saturated
        await eventually(lambda: pool.status()["replicas"][0]["waiting"] == 1, what="a waiting request")
        queued = [asyncio.create_task(pool.chat(chat(f"queued {i}"), "sim")) for i in range(2)]
        await eventually(lambda: pool.status()["queued"] == 2, what="two requests held in the gateway")
        with pytest.raises(ProviderError) as caught:                 # the gateway's queue is full
            await pool.chat(chat("one too many"), "sim")
        assert caught.value.status == 429 and caught.value.retry_after == 1
        await asyncio.gather(*queued)                                # placed once the replica had room
    assert [s.completion_tokens for s in sim.served].count(4) == 2


async def test_a_request_queued_past_its_wait_is_rejected(replicas: Replicas, pools: Any) -> None:
    ((sim, _),) = replicas(1, max_running=1, decode_seconds_per_token=0.05)
    pool: VLLMProvider = pools([sim.url], saturation={"queue_depth": 1, "max_wait_seconds": 0.3})
    await pool.start()
    async with load_directly(sim.url, 2, max_tokens=100):
        await eventually(lambda: pool.status()["replicas"][0]["waiting"] == 1, what="a waiting request")
        with pytest.raises(ProviderError, match=r"stayed saturated for 0\.3s") as caught:
            await pool.chat(chat("late"), "sim")
    assert caught.value.status == 429
