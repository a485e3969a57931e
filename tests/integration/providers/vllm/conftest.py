"""Simulated vLLM replicas (real HTTP servers on 127.0.0.1) and pools over them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager
from typing import Any

import aiohttp
import orjson
import pytest

from providers.base import ProviderConfig
from providers.vllm import VLLMProvider
from tests.fakes.vllm_replica import ReplicaServer, ReplicaSpec, SimulatedReplica

Replicas = Callable[..., list[tuple[SimulatedReplica, ReplicaServer]]]


@pytest.fixture
def replicas() -> Iterator[Replicas]:
    """`replicas(n, **spec)`: n simulated replicas, stopped after the test."""
    with ExitStack() as stack:
        def start(n: int, **spec: Any) -> list[tuple[SimulatedReplica, ReplicaServer]]:
            started = []
            for i in range(n):
                server = ReplicaServer(ReplicaSpec(seed=i, **spec), name=f"r{i}")
                started.append((stack.enter_context(server), server))
            return started
        yield start


@pytest.fixture
async def pools() -> AsyncIterator[Callable[..., VLLMProvider]]:
    """`pools(urls, **options)`: a started vLLM pool, closed after the test."""
    opened: list[VLLMProvider] = []

    def make(urls: list[str] | None = None, **options: Any) -> VLLMProvider:
        if urls is not None:
            options["endpoints"] = urls
        options.setdefault("scrape", {"interval_seconds": 0.05, "stale_seconds": 1.0, "timeout_seconds": 0.5})
        provider = VLLMProvider.from_config(ProviderConfig(name="pool", type="vllm", options=options))
        opened.append(provider)
        return provider

    yield make
    for provider in opened:
        await provider.close()


async def eventually(check: Callable[[], bool], within: float = 10.0, what: str = "condition",
                     detail: Callable[[], object] | None = None) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}{detail() if detail else ''}")
        await asyncio.sleep(0.02)


def scraped(provider: VLLMProvider) -> bool:
    return all(r.figures is not None for r in provider.replicas)


@asynccontextmanager
async def load_directly(url: str, count: int, max_tokens: int, wait: bool = False) -> AsyncIterator[None]:
    """Requests sent to a replica past the pool, to give it a queue; cut when the block ends
    (or, with `wait`, finished first)."""
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            body = {"model": "sim", "max_tokens": max_tokens, "messages": [{"role": "user", "content": "busy"}]}
            async with session.post(url + "/v1/chat/completions", data=orjson.dumps(body)) as response:
                await response.read()

        tasks = [asyncio.create_task(one()) for _ in range(count)]
        try:
            yield
            if wait:
                await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
