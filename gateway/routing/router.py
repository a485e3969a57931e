"""Sends a request to the first deployment that answers, walking the chain on retryable
errors only, and only before the first byte reached the client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping

from gateway.errors import (
    GatewayError,
    NoProviderAvailable,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from gateway.pipeline.context import Attempt, RequestContext, Route
from gateway.routing.candidates import Candidate
from gateway.routing.latency import LatencyTracker
from gateway.telemetry import metrics, tracing
from providers.base import ChatChunk, ChatResult, ErrorKind, Provider, ProviderError


class Router:
    def __init__(self, providers: Mapping[str, Provider], latency: LatencyTracker) -> None:
        self.providers = providers
        self.latency = latency

    async def dispatch(self, ctx: RequestContext, candidates: list[Candidate]) -> None:
        """Sets ctx.result (or ctx.stream, its first chunk already received) and ctx.route."""
        last_error: ProviderError | None = None
        previous: Candidate | None = None
        for candidate in candidates:
            if previous is not None:
                metrics.FALLBACKS.labels(previous.provider, candidate.provider).inc()
            previous = candidate
            provider = self.providers[candidate.provider]
            started = time.perf_counter()
            try:
                with tracing.upstream_attempt(ctx, provider, candidate.upstream):  # a client span per attempt
                    response = await provider.chat(ctx.request, candidate.upstream)
                    if isinstance(response, ChatResult):
                        ctx.result = response
                    else:
                        ctx.stream = await _with_first_chunk(response)
            except ProviderError as exc:
                ctx.upstream_seconds += time.perf_counter() - started
                ctx.attempts.append(Attempt(candidate.model, candidate.provider, candidate.upstream, exc.kind))
                metrics.UPSTREAM_ERRORS.labels(candidate.provider, exc.kind.value).inc()
                if not exc.retryable:
                    raise _client_error(exc) from None
                last_error = exc
                continue
            elapsed = time.perf_counter() - started
            ctx.upstream_seconds += elapsed
            if ctx.stream is not None:
                ctx.first_token_at = time.perf_counter()
            self.latency.observe(candidate.model, candidate.provider, elapsed)
            ctx.attempts.append(Attempt(candidate.model, candidate.provider, candidate.upstream))
            ctx.route = Route(candidate.model, candidate.provider, candidate.upstream)
            return
        raise _exhausted(last_error)


async def _with_first_chunk(stream: AsyncIterator[ChatChunk]) -> AsyncIterator[ChatChunk]:
    """Receives the first chunk now -- failures before it may still fall back -- and
    returns a stream that yields it and then the rest."""
    try:
        first = await anext(stream)
    except StopAsyncIteration:
        raise ProviderError(ErrorKind.BAD_RESPONSE, "upstream sent an empty stream", status=502) from None
    except BaseException:
        await _close(stream)
        raise

    async def chained() -> AsyncIterator[ChatChunk]:
        try:
            yield first
            async for chunk in stream:
                yield chunk
        finally:
            await _close(stream)

    return chained()


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


def _exhausted(last: ProviderError | None) -> GatewayError:
    if last is None:
        return NoProviderAvailable("no deployment is available for this model")
    message = f"every deployment failed; last: {last.provider or 'upstream'}: {last.message}"
    if last.kind is ErrorKind.TIMEOUT:
        return UpstreamTimeout(message)
    headers = {"Retry-After": str(max(1, int(last.retry_after + 0.999)))} if last.retry_after else None
    return NoProviderAvailable(message, headers=headers)
