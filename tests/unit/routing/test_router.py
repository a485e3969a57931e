"""Dispatch over scripted providers (our own Provider subclasses): skip open breakers, one
budgeted retry in place, then fallback; streams settle their breaker permit when they end."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

import pytest

from gateway.catalog import parse_catalog
from gateway.errors import GatewayError, NoProviderAvailable, UpstreamStatusError, UpstreamTimeout
from gateway.pipeline.router import RouteRequest
from gateway.request import Candidate, RequestContext
from gateway.routing.breaker import BreakerBoard, State
from gateway.routing.candidates import resolve
from gateway.routing.latency import LatencyTracker
from gateway.routing.policy import BreakerPolicy, RetryPolicy
from gateway.routing.router import Router
from gateway.tenancy.models import Tenant
from providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    ErrorKind,
    Provider,
    ProviderConfig,
    ProviderError,
    Usage,
)

Answer = ProviderError | str


class Scripted(Provider):
    """Answers from a script: a ProviderError is raised, "ok" is a result, "stream" a stream,
    "broken" a stream that fails after its first chunk."""

    type = "scripted"
    genai_system = "scripted"
    options = frozenset()

    def __init__(self, name: str, *answers: Answer) -> None:
        self.name = name
        self.answers: deque[Answer] = deque(answers)
        self.calls = 0

    @classmethod
    def from_config(cls, config: ProviderConfig) -> Scripted:
        return cls(config.name)

    def _next(self) -> Answer:
        self.calls += 1
        answer = self.answers.popleft() if self.answers else "ok"
        if isinstance(answer, ProviderError):
            answer.provider = self.name
            raise answer
        return answer

    async def chat(self, request: ChatRequest, upstream_model: str) -> ChatResult:
        self._next()
        return ChatResult(body={"model": upstream_model}, usage=Usage(1, 1))

    async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
        broken = self._next() == "broken"
        yield ChatChunk({"choices": [{"delta": {"content": "a"}}]})
        if broken:
            raise ProviderError(ErrorKind.STREAM, "cut", provider=self.name)
        yield ChatChunk({"choices": [{"delta": {"content": "b"}}]})


async def dispatch(router: Router, context: RequestContext, candidates: list[Candidate]) -> None:
    """Stage 6 over `router`: the context gets the route, attempts and answer (or the error)."""
    context.candidates = candidates
    await RouteRequest(router)(context)


def server_error() -> ProviderError:
    return ProviderError(ErrorKind.SERVER, "upstream answered 500", status=500)


def ctx(stream: bool = False) -> RequestContext:
    return RequestContext(request_id="r", api_key=None,
                          request=ChatRequest({"model": "m", "stream": stream, "messages": [{"role": "user",
                                                                                               "content": "x"}]}))


CHAIN = [Candidate("m", "a", "up-a"), Candidate("m", "b", "up-b")]


def make_router(*providers: Scripted, retry: RetryPolicy | None = None,
                breaker: BreakerPolicy | None = None) -> tuple[Router, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    router = Router({p.name: p for p in providers}, LatencyTracker(),
                    breakers=BreakerBoard(breaker or BreakerPolicy()),
                    retry=retry or RetryPolicy(min_retries=100), sleep=sleep)
    return router, slept


async def test_a_retryable_failure_is_retried_once_in_place() -> None:
    a, b = Scripted("a", server_error()), Scripted("b")
    router, slept = make_router(a, b)
    context = ctx()
    await dispatch(router, context, CHAIN)
    assert context.route is not None and context.route.provider == "a"
    assert (a.calls, b.calls) == (2, 0)
    assert len(slept) == 1 and 0.05 <= slept[0] <= 0.15
    assert context.fallback_count == 0 and len(context.attempts) == 1


async def test_a_second_failure_falls_back() -> None:
    a, b = Scripted("a", server_error(), server_error()), Scripted("b")
    router, _ = make_router(a, b)
    context = ctx()
    await dispatch(router, context, CHAIN)
    assert context.route is not None and context.route.provider == "b"
    assert (a.calls, b.calls) == (2, 1)
    assert context.fallback_count == 1


async def test_with_the_budget_spent_it_falls_back_without_waiting() -> None:
    a, b = Scripted("a", server_error()), Scripted("b")
    router, slept = make_router(a, b, retry=RetryPolicy(budget_ratio=0.2))
    context = ctx()
    await dispatch(router, context, CHAIN)
    assert (a.calls, b.calls) == (1, 1) and slept == []


async def test_a_timeout_goes_to_the_next_deployment_at_once() -> None:
    a, b = Scripted("a", ProviderError(ErrorKind.TIMEOUT, "slow", status=504)), Scripted("b")
    router, slept = make_router(a, b)
    await dispatch(router, ctx(), CHAIN)
    assert (a.calls, b.calls) == (1, 1) and slept == []


async def test_a_client_error_ends_the_request() -> None:
    body = {"error": {"message": "bad", "type": "invalid_request_error", "param": None, "code": None}}
    a = Scripted("a", ProviderError(ErrorKind.BAD_REQUEST, "bad", status=400, body=body))
    b = Scripted("b")
    router, _ = make_router(a, b)
    with pytest.raises(UpstreamStatusError) as raised:
        await dispatch(router, ctx(), CHAIN)
    assert raised.value.status == 400 and b.calls == 0


async def test_every_deployment_failing_is_a_503_or_a_504() -> None:
    router, _ = make_router(Scripted("a", server_error(), server_error()),
                            Scripted("b", ProviderError(ErrorKind.RATE_LIMITED, "busy", status=429, retry_after=7)))
    with pytest.raises(NoProviderAvailable) as raised:
        await dispatch(router, ctx(), CHAIN)
    assert raised.value.headers == {"Retry-After": "7"}
    router, _ = make_router(Scripted("a", ProviderError(ErrorKind.TIMEOUT, "slow", status=504)),
                            Scripted("b", ProviderError(ErrorKind.TIMEOUT, "slow", status=504)))
    with pytest.raises(UpstreamTimeout):
        await dispatch(router, ctx(), CHAIN)


async def test_an_open_breaker_is_skipped_without_a_call() -> None:
    policy = BreakerPolicy(min_requests=2, cooldown_seconds=30)
    a, b = Scripted("a", *[server_error()] * 4), Scripted("b")
    router, _ = make_router(a, b, retry=RetryPolicy(budget_ratio=0), breaker=policy)
    for _ in range(2):
        await dispatch(router, ctx(), CHAIN)
    assert router.breakers.view("a", "up-a").state is State.OPEN
    calls = a.calls
    context = ctx()
    await dispatch(router, context, CHAIN)
    assert a.calls == calls
    assert context.fallback_count == 0          # a skipped deployment is not a fallback


async def test_every_breaker_open_is_a_503_with_retry_after() -> None:
    policy = BreakerPolicy(min_requests=1, cooldown_seconds=30)
    router, _ = make_router(Scripted("a", server_error()), Scripted("b", server_error()),
                            retry=RetryPolicy(budget_ratio=0), breaker=policy)
    with pytest.raises(NoProviderAvailable):
        await dispatch(router, ctx(), CHAIN)
    with pytest.raises(NoProviderAvailable) as raised:
        await dispatch(router, ctx(), CHAIN)
    assert "circuit open" in raised.value.message
    assert 29 <= int(raised.value.headers["Retry-After"]) <= 30


async def drain(context: RequestContext) -> None:
    assert context.stream is not None
    async for _ in context.stream:
        pass


async def test_a_stream_settles_its_permit_when_it_ends() -> None:
    a = Scripted("a", "stream", "broken")
    router, _ = make_router(a, Scripted("b"))
    first = ctx(stream=True)
    await dispatch(router, first, CHAIN)
    assert router.breakers.view("a", "up-a").calls == 0     # still streaming: not judged yet
    await drain(first)
    assert (router.breakers.view("a", "up-a").calls, router.breakers.view("a", "up-a").failures) == (1, 0)
    second = ctx(stream=True)
    await dispatch(router, second, CHAIN)
    with pytest.raises(ProviderError):
        await drain(second)
    assert (router.breakers.view("a", "up-a").calls, router.breakers.view("a", "up-a").failures) == (2, 1)


async def test_an_empty_stream_falls_back() -> None:
    class Empty(Scripted):
        async def chat_stream(self, request: ChatRequest, upstream_model: str) -> AsyncIterator[ChatChunk]:
            self.calls += 1
            return
            yield

    router, _ = make_router(Empty("a"), Scripted("b", "stream"))
    context = ctx(stream=True)
    with pytest.raises(GatewayError):
        await dispatch(router, context, CHAIN)      # BAD_RESPONSE is not retryable: a clear 502


def tenant() -> Tenant:
    return Tenant(id="t", name="t", tier="pro", models=("*",))


CATALOG = parse_catalog("""
providers: {a: {type: mock}, b: {type: mock}}
models:
  cheap:  {price: {input: 1, output: 1}, deployments: [{provider: a, upstream: c}]}
  pricey: {price: {input: 5, output: 5}, deployments: [{provider: b, upstream: p}]}
aliases: {cheapest: {rank: price}, fastest: {rank: latency}}
""")


def test_fastest_ranks_by_measured_time_to_first_token_unmeasured_first() -> None:
    latency = LatencyTracker()
    latency.observe("cheap", "a", 0.9)
    assert [c.model for c in resolve(CATALOG, "fastest", tenant(), latency)] == ["pricey", "cheap"]
    latency.observe("pricey", "b", 2.0)
    assert [c.model for c in resolve(CATALOG, "fastest", tenant(), latency)] == ["cheap", "pricey"]
    for _ in range(20):
        latency.observe("cheap", "a", 5.0)           # the EWMA follows the measurements
    assert [c.model for c in resolve(CATALOG, "fastest", tenant(), latency)] == ["pricey", "cheap"]


@pytest.mark.parametrize("alias", ["cheapest", "fastest"])
async def test_ranked_aliases_skip_an_open_breaker(alias: str) -> None:
    latency = LatencyTracker()
    latency.observe("cheap", "a", 0.1)
    latency.observe("pricey", "b", 0.5)
    candidates = resolve(CATALOG, alias, tenant(), latency)
    assert candidates[0].model == "cheap"
    a, b = Scripted("a", server_error()), Scripted("b")
    router = Router({"a": a, "b": b}, latency, breakers=BreakerBoard(BreakerPolicy(min_requests=1)),
                    retry=RetryPolicy(budget_ratio=0))
    await dispatch(router, ctx(), candidates)               # a fails: its breaker opens
    context = ctx()
    await dispatch(router, context, resolve(CATALOG, alias, tenant(), latency))
    assert context.route is not None and context.route.model == "pricey"
    assert a.calls == 1
