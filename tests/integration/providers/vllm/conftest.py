"""Simulated vLLM replicas (real HTTP servers on 127.0.0.1) and pools over them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Any

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


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition",
                     detail: Callable[[], object] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}{detail() if detail else ''}")
        await asyncio.sleep(0.02)


def scraped(provider: VLLMProvider) -> bool:
    return all(r.figures is not None for r in provider.replicas)
