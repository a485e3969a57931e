"""Sends a request to the first deployment that answers.

For each deployment in the chain: skip it at once if its breaker is open; call it; on a
retryable failure, retry it once after a jittered backoff (or the upstream's Retry-After)
if the retry budget allows; then move on to the next deployment. Non-retryable failures
end the request. Nothing is retried or moved once the first byte of a stream is received:
the stream is the answer from then on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from gateway.errors import GatewayError, NoProviderAvailable, UpstreamTimeout, client_error, retry_after_header
from gateway.request import Attempt, Candidate, Operation, Route
from gateway.routing.breaker import BreakerBoard, CallOutcome, Permit, outcome_of
from gateway.routing.latency import LatencyTracker
from gateway.routing.policy import BreakerPolicy, RetryPolicy
from gateway.routing.retry import RetryBudget, retry_delay
from gateway.telemetry import metrics, tracing
from providers.base import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingsResult,
    ErrorKind,
    Provider,
    ProviderError,
    ResponsesUpstream,
)


@dataclass(slots=True)
class Dispatched:
    """What dispatching one request came to: the deployments tried and, when one answered,
    where the answer came from and the answer itself (a result, embeddings, or a stream
    whose first chunk has arrived); else the error the client gets."""

    attempts: list[Attempt] = field(default_factory=list)
    route: Route | None = None
    result: ChatResult | None = None
    embeddings: EmbeddingsResult | None = None
    stream: AsyncIterator[ChatChunk] | None = None
    error: GatewayError | None = None
    upstream_seconds: float = 0.0       # time spent waiting on upstreams (and their Retry-After)
    first_token_at: float | None = None

    def note(self, candidate: Candidate, error_kind: str | None, retry: bool) -> None:
        """One Attempt per deployment tried (a retry replaces its first try), so that the
        usage record's fallback count counts deployments, not calls."""
        attempt = Attempt(candidate.model, candidate.provider, candidate.upstream, error_kind)
        if retry and self.attempts:
            self.attempts[-1] = attempt
        else:
            self.attempts.append(attempt)


class Router:
    def __init__(self, providers: Mapping[str, Provider], latency: LatencyTracker, *,
                 breakers: BreakerBoard | None = None, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.providers = providers
        self.latency = latency
        self.breakers = breakers or BreakerBoard(BreakerPolicy())
        self.retry = retry or RetryPolicy()
        self.budget = RetryBudget(self.retry)
        self._sleep = sleep

    async def dispatch(self, request: ChatRequest, operation: Operation,
                       candidates: list[Candidate], *, first: bool = True) -> Dispatched:
        """Tries `candidates` in order; never raises a GatewayError (it is in the result).
        `first=False`: a call the caller already took from the retry budget (a response
        validation's retry), so that it does not also count as a first attempt."""
        out = Dispatched()
        try:
            await self._dispatch(out, request, operation, candidates, first)
        except GatewayError as error:
            out.error = error
        return out

    async def _dispatch(self, out: Dispatched, request: ChatRequest, operation: Operation,
                        candidates: list[Candidate], first: bool = True) -> None:
        last_error: ProviderError | None = None
        tried: Candidate | None = None
        refused: list[Candidate] = []     # skipped: breaker open
        for candidate in candidates:
            permit = await self.breakers.acquire(candidate.provider, candidate.upstream)
            if permit is None:
                refused.append(candidate)
                continue
            if tried is not None:
                metrics.FALLBACKS.labels(tried.provider, candidate.provider).inc()
            tried = candidate
            if first:
                self.budget.note_first_attempt()
            first = True    # a fallback from it is a first attempt at another deployment
            try:
                await self._attempt(out, request, operation, candidate, permit, retry=False)
                return
            except ProviderError as exc:
                last_error = exc
                delay = retry_delay(self.retry, exc)
                if delay is None or not self.budget.try_spend():
                    continue
            await self._sleep(delay)
            out.upstream_seconds += delay   # waiting out the upstream's Retry-After is not gateway overhead
            permit = await self.breakers.acquire(candidate.provider, candidate.upstream)
            if permit is None:
                continue
            try:
                await self._attempt(out, request, operation, candidate, permit, retry=True)
                return
            except ProviderError as exc:
                last_error = exc
        raise self._exhausted(last_error, refused)

    async def _attempt(self, out: Dispatched, request: ChatRequest, operation: Operation, candidate: Candidate,
                       permit: Permit, *, retry: bool) -> None:
        """One call. Raises the ProviderError of a retryable failure; a GatewayError for any other."""
        provider = self.providers[candidate.provider]
        started = time.perf_counter()
        try:
            with tracing.upstream_attempt(operation.value, request, provider, candidate.upstream) as span:
                if operation is Operation.EMBEDDINGS:
                    out.embeddings = await provider.embeddings(request.body, candidate.upstream)
                    permit.release(CallOutcome.SUCCESS)
                elif operation is Operation.RESPONSES:    # passed through to a Responses API upstream
                    assert isinstance(provider, ResponsesUpstream)
                    response = await provider.responses(request, candidate.upstream)
                    if isinstance(response, ChatResult):
                        permit.release(CallOutcome.SUCCESS)
                        out.result = response
                        span.answered(response)
                    else:
                        out.stream = span.streaming(await self._with_first_chunk(response, candidate, permit))
                elif request.stream:
                    stream = await self._with_first_chunk(provider.chat_stream(request, candidate.upstream),
                                                          candidate, permit)
                    out.stream = span.streaming(stream)
                else:
                    out.result = await provider.chat(request, candidate.upstream)
                    permit.release(CallOutcome.SUCCESS)
                    span.answered(out.result)
        except ProviderError as exc:
            elapsed = time.perf_counter() - started
            out.upstream_seconds += elapsed
            permit.release(outcome_of(exc.kind))
            if exc.kind is ErrorKind.TIMEOUT:   # a deployment that does not answer is not fast
                self.latency.observe(candidate.model, candidate.provider, elapsed)
            out.note(candidate, exc.kind.value, retry)
            metrics.UPSTREAM_ERRORS.labels(candidate.provider, exc.kind.value).inc()
            if not exc.retryable:
                raise client_error(exc) from None
            raise
        except BaseException:
            permit.release(CallOutcome.NEUTRAL)    # cancelled: the client went away
            raise
        now = time.perf_counter()
        elapsed = now - started
        out.upstream_seconds += elapsed
        if out.stream is not None:
            out.first_token_at = now
        self.latency.observe(candidate.model, candidate.provider, elapsed)
        out.note(candidate, None, retry)
        out.route = Route(candidate.model, candidate.provider, candidate.upstream)

    async def _with_first_chunk(self, stream: AsyncIterator[ChatChunk], candidate: Candidate,
                                permit: Permit) -> AsyncIterator[ChatChunk]:
        """Receives the first chunk now -- failures before it may still fall back -- and
        returns a stream that yields it and then the rest, and settles the breaker permit
        when the stream ends."""
        try:
            first = await anext(stream)
        except StopAsyncIteration:
            await _close(stream)
            raise ProviderError(ErrorKind.BAD_RESPONSE, "upstream sent an empty stream", status=502,
                                provider=candidate.provider) from None
        except BaseException:
            await _close(stream)
            raise

        async def chained() -> AsyncIterator[ChatChunk]:
            outcome = CallOutcome.NEUTRAL     # abandoned by the client unless it ends otherwise
            try:
                yield first
                async for chunk in stream:
                    yield chunk
                outcome = CallOutcome.SUCCESS
            except ProviderError as exc:
                outcome = outcome_of(exc.kind)
                metrics.UPSTREAM_ERRORS.labels(candidate.provider, exc.kind.value).inc()
                raise
            finally:
                permit.release(outcome)
                await _close(stream)

        return chained()

    def _exhausted(self, last: ProviderError | None, refused: list[Candidate]) -> GatewayError:
        wait = min((self.breakers.retry_after(c.provider, c.upstream) for c in refused), default=0.0)
        if last is None:
            if refused:
                return NoProviderAvailable(
                    "every deployment of this model is failing and paused (circuit open); retry later",
                    headers=retry_after_header(wait))
            return NoProviderAvailable("no deployment is available for this model")
        message = f"every deployment failed; last: {last.provider or 'upstream'}: {last.message}"
        if last.kind is ErrorKind.TIMEOUT:
            return UpstreamTimeout(message)
        # Every 503 says when to come back (the README promises it): the upstream's own
        # Retry-After, or a breaker's remaining pause, or else one second.
        return NoProviderAvailable(message, headers=retry_after_header(last.retry_after or wait or 1.0))


async def _close(stream: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()
