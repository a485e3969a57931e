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

from gateway.errors import (
    GatewayError,
    NoProviderAvailable,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.pipeline.context import Attempt, Operation, RequestContext, Route
from gateway.routing.breaker import BreakerBoard, Outcome, Permit, outcome_of
from gateway.routing.candidates import Candidate
from gateway.routing.latency import LatencyTracker
from gateway.routing.policy import BreakerPolicy, RetryPolicy
from gateway.routing.retry import RetryBudget, retry_delay
from gateway.telemetry import metrics, tracing
from providers.base import ChatChunk, ChatResult, ErrorKind, Provider, ProviderError, ResponsesUpstream


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

    async def dispatch(self, ctx: RequestContext, candidates: list[Candidate]) -> None:
        """Sets ctx.result (or ctx.stream, its first chunk already received) and ctx.route."""
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
            self.budget.note_first_attempt()
            try:
                await self._attempt(ctx, candidate, permit, retry=False)
                return
            except ProviderError as exc:
                last_error = exc
                delay = retry_delay(self.retry, exc)
                if delay is None or not self.budget.try_spend():
                    continue
            await self._sleep(delay)
            ctx.upstream_seconds += delay   # waiting out the upstream's Retry-After is not gateway overhead
            permit = await self.breakers.acquire(candidate.provider, candidate.upstream)
            if permit is None:
                continue
            try:
                await self._attempt(ctx, candidate, permit, retry=True)
                return
            except ProviderError as exc:
                last_error = exc
        raise self._exhausted(last_error, refused)

    async def _attempt(self, ctx: RequestContext, candidate: Candidate, permit: Permit, *, retry: bool) -> None:
        """One call. Raises the ProviderError of a retryable failure; a GatewayError for any other."""
        provider = self.providers[candidate.provider]
        started = time.perf_counter()
        try:
            with tracing.upstream_attempt(ctx, provider, candidate.upstream):  # a client span per attempt
                if ctx.operation is Operation.EMBEDDINGS:
                    ctx.embeddings = await provider.embeddings(ctx.request.body, candidate.upstream)
                    ctx.usage = ctx.embeddings.usage
                    permit.release(Outcome.SUCCESS)
                else:
                    if ctx.operation is Operation.RESPONSES:
                        assert isinstance(provider, ResponsesUpstream)
                        response = await provider.responses(ctx.request, candidate.upstream)
                    else:
                        response = await provider.chat(ctx.request, candidate.upstream)
                    if isinstance(response, ChatResult):
                        permit.release(Outcome.SUCCESS)
                        ctx.result = response
                    else:
                        ctx.stream = await self._with_first_chunk(response, candidate, permit)
        except ProviderError as exc:
            elapsed = time.perf_counter() - started
            ctx.upstream_seconds += elapsed
            permit.release(outcome_of(exc.kind))
            if exc.kind is ErrorKind.TIMEOUT:   # a deployment that does not answer is not fast
                self.latency.observe(candidate.model, candidate.provider, elapsed)
            self._note_attempt(ctx, candidate, exc.kind.value, retry)
            metrics.UPSTREAM_ERRORS.labels(candidate.provider, exc.kind.value).inc()
            if not exc.retryable:
                raise _client_error(exc) from None
            raise
        except BaseException:
            permit.release(Outcome.NEUTRAL)    # cancelled: the client went away
            raise
        elapsed = time.perf_counter() - started
        ctx.upstream_seconds += elapsed
        if ctx.stream is not None:
            ctx.first_token_at = time.perf_counter()
        self.latency.observe(candidate.model, candidate.provider, elapsed)
        self._note_attempt(ctx, candidate, None, retry)
        ctx.route = Route(candidate.model, candidate.provider, candidate.upstream)

    @staticmethod
    def _note_attempt(ctx: RequestContext, candidate: Candidate, error_kind: str | None, retry: bool) -> None:
        """One Attempt per deployment tried (a retry replaces its first try), so that the
        usage record's fallback count counts deployments, not calls."""
        attempt = Attempt(candidate.model, candidate.provider, candidate.upstream, error_kind)
        if retry and ctx.attempts:
            ctx.attempts[-1] = attempt
        else:
            ctx.attempts.append(attempt)

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
            outcome = Outcome.NEUTRAL     # abandoned by the client unless it ends otherwise
            try:
                yield first
                async for chunk in stream:
                    yield chunk
                outcome = Outcome.SUCCESS
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
                    headers={"Retry-After": str(max(1, int(wait + 0.999)))})
            return NoProviderAvailable("no deployment is available for this model")
        message = f"every deployment failed; last: {last.provider or 'upstream'}: {last.message}"
        if last.kind is ErrorKind.TIMEOUT:
            return UpstreamTimeout(message)
        retry_after = last.retry_after or wait
        headers = {"Retry-After": str(max(1, int(retry_after + 0.999)))} if retry_after else None
        return NoProviderAvailable(message, headers=headers)


async def _close(stream: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


def _client_error(exc: ProviderError) -> GatewayError:
    """A non-retryable upstream failure as the client sees it: the upstream's own 4xx body
    when it sent one, else a 502 that names the provider and never a credential."""
    if exc.kind is ErrorKind.BAD_REQUEST and 400 <= exc.status < 500:
        return UpstreamStatusError(exc.message, status=exc.status, body=exc.body)
    return UpstreamError(f"{exc.provider or 'upstream'}: {exc.message}")
