"""The chain itself (gateway/pipeline/__init__.py), over recording stages: stages 1-6 in
order until one refuses; the finishers always, each despite another's failure, telemetry
last (it reports the charge's cost)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from gateway.errors import PermissionDenied
from gateway.pipeline import Pipeline
from gateway.request import RequestContext
from providers.base import ChatRequest


class Stage:
    def __init__(self, name: str, calls: list[str], *, fails: BaseException | None = None) -> None:
        self.name, self.calls, self.fails = name, calls, fails

    async def __call__(self, ctx: RequestContext) -> None:
        self.calls.append(self.name)
        await asyncio.sleep(0)
        if self.fails is not None:
            raise self.fails


class Cache(Stage):
    async def remember(self, ctx: RequestContext) -> None:
        await Stage(f"{self.name}.remember", self.calls, fails=self.fails_remember)(ctx)

    fails_remember: BaseException | None = None


def pipeline(calls: list[str], **failing: BaseException) -> Pipeline:
    stages: dict[str, Any] = {name: Stage(name, calls, fails=failing.get(name))
                              for name in ("auth", "quota", "allowlist", "guardrails", "router", "charge",
                                           "telemetry")}
    stages["cache"] = Cache("cache", calls, fails=failing.get("cache"))
    stages["cache"].fails_remember = failing.get("remember")
    return Pipeline(**stages)


def ctx() -> RequestContext:
    return RequestContext(request_id="r", request=ChatRequest({"model": "m"}), api_key=None)


async def test_stages_one_to_six_run_in_order() -> None:
    calls: list[str] = []
    await pipeline(calls).run(ctx())
    assert calls == ["auth", "quota", "allowlist", "guardrails", "cache", "router"]


async def test_a_refusal_ends_the_chain_where_it_happens() -> None:
    calls: list[str] = []
    with pytest.raises(PermissionDenied):
        await pipeline(calls, allowlist=PermissionDenied("no")).run(ctx())
    assert calls == ["auth", "quota", "allowlist"]


async def test_the_finishers_run_each_despite_the_others_and_telemetry_comes_last(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []
    with caplog.at_level(logging.ERROR, logger="gateway.pipeline"):
        await pipeline(calls, charge=RuntimeError("settle failed"), remember=RuntimeError("store down")).finish(ctx())
    assert sorted(calls[:2]) == ["cache.remember", "charge"] and calls[2] == "telemetry"
    assert [r.getMessage() for r in caplog.records] == ["finisher failed", "finisher failed"]


async def test_a_failing_telemetry_does_not_fail_the_request() -> None:
    calls: list[str] = []
    await pipeline(calls, telemetry=RuntimeError("exporter down")).finish(ctx())
    assert calls[-1] == "telemetry"


async def test_the_cache_write_starts_in_the_turn_the_charge_issues_its_commands() -> None:
    """The charge settles and appends in tasks of its own (gather); the cache's write must
    start in that same event-loop turn, so that the three Redis commands go out in one send
    (redis_mux writes what one turn queued together)."""
    loop = asyncio.get_running_loop()
    turn = 0
    ticking = True

    def tick() -> None:     # once per event-loop turn: what a turn adds runs in the next one
        nonlocal turn
        turn += 1
        if ticking:
            loop.call_soon(tick)
    loop.call_soon(tick)
    started: dict[str, int] = {}

    async def command(name: str) -> None:
        started[name] = turn
        await asyncio.sleep(0)

    class Charge(Stage):
        async def __call__(self, ctx: RequestContext) -> None:
            await asyncio.gather(command("settle"), command("usage"))

    class Remembering(Cache):
        async def remember(self, ctx: RequestContext) -> None:
            await command("cache write")

    calls: list[str] = []
    chain = pipeline(calls)
    chain.charge, chain.cache = Charge("charge", calls), Remembering("cache", calls)   # type: ignore[assignment]
    await chain.finish(ctx())
    ticking = False
    assert started.keys() == {"settle", "usage", "cache write"}
    assert len(set(started.values())) == 1, started
