"""The semantic cache's embedder: one call to a catalog model of kind embeddings, through
the router (its breakers, retries and timeouts), within the cache's time budget.

A failure or a timeout returns None -- the cache misses; the client never sees an error.
Each successful call is one usage record of the tenant: model the embedding model, feature
`semantic-cache`, cost at the catalog's price (not counted against the tenant's quota),
written with the request's own record, after the answer is ready."""

from __future__ import annotations

import asyncio
import logging
import os
import time

from gateway.cache.semantic.vectors import Vector, normalized
from gateway.catalog import Catalog
from gateway.errors import GatewayError
from gateway.pipeline.charge import Charge
from gateway.request import Candidate, Operation, RequestContext
from gateway.routing.router import Router
from gateway.telemetry import metrics
from providers.base import ChatRequest

FEATURE = "semantic-cache"
log = logging.getLogger("gateway.cache")


class Embedder:
    def __init__(self, router: Router, catalog: Catalog, charge: Charge | None, model: str, timeout: float) -> None:
        self._router = router
        self._charge = charge
        self.model = model
        self.timeout = timeout
        self._candidates = [Candidate(model, d.provider, d.upstream) for d in catalog.models[model].deployments]

    async def embed(self, text: str, parent: RequestContext) -> Vector | None:
        ctx = RequestContext(request_id=f"req_{os.urandom(16).hex()}",
                             request=ChatRequest({"model": self.model, "input": [text]}),
                             api_key=None, feature=FEATURE, operation=Operation.EMBEDDINGS)
        ctx.principal = parent.principal
        started = time.perf_counter()
        outcome = "ok"
        try:
            out = await asyncio.wait_for(
                self._router.dispatch(ctx.request, Operation.EMBEDDINGS, list(self._candidates)), self.timeout)
            ctx.attempts, ctx.upstream_seconds = out.attempts, out.upstream_seconds
            if out.error is not None:
                raise out.error
            ctx.route, ctx.embeddings = out.route, out.embeddings
            ctx.usage = out.embeddings.usage if out.embeddings is not None else None
            vector = _vector_of(ctx)
            if vector is None:
                outcome = "error"
        except TimeoutError:
            outcome, vector = "timeout", None
        except GatewayError:
            outcome, vector = "error", None
        elapsed = time.perf_counter() - started
        metrics.CACHE_EMBEDDING.labels(self.model, outcome).observe(elapsed)
        if vector is None:
            log.info("semantic cache: embedding %s (%s); the cache misses", outcome, self.model,
                     extra={"request_id": parent.request_id})
            return None
        ctx.finished_at = time.perf_counter()
        parent.embedding_calls.append(ctx)     # charged after the response (`settle`), not before it
        return vector

    async def settle(self, parent: RequestContext) -> None:
        """One usage record per embedding call the request made."""
        calls, parent.embedding_calls = parent.embedding_calls, []
        if self._charge is None:
            return
        for ctx in calls:
            if ctx.principal is not None:
                await self._charge(ctx)


def _vector_of(ctx: RequestContext) -> Vector | None:
    result = ctx.embeddings
    if result is None:
        return None
    data = result.body.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        return None
    values = data[0].get("embedding")
    if not isinstance(values, list) or not values or not all(isinstance(v, int | float) for v in values):
        return None
    return normalized(values)
