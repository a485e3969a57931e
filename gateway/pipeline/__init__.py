"""The request pipeline: eight stages, in this order, for every chat completion (with
governance steps, issue 20, between them).

    1 auth        who is calling (SHA-256 key lookup)
      1a prompt     a stored prompt the request names, rendered into it: after auth, as prompts are
                    per tenant; before quota, allowlist, guardrails and cache, which must all see
                    the rendered messages and model (only when the request names one)
    2 quota       reserve the request and its estimated tokens and cost
    3 allowlist   may the tenant use this model or alias (403 before any provider call)
    4 guardrails  PII in the messages: redact, block or count
      4a hooks      request-phase guardrail webhooks: allow, block or modify (only when configured)
      4b schema     the JSON Schema the answer must match, compiled (only when the request has one)
    5 cache       an exact-match answer, if there is one
    6 router      the first deployment that answers, falling back on retryable errors
      6a validate   a whole answer against its JSON Schema: pass, retry once or reject (streams: at their end)
      6b hooks      response-phase guardrail webhooks on the answer (only when configured)
    7 charge      actual usage settles the reservation; the usage record is queued
    8 telemetry   metrics and the request's log line

Stages 1-6 (with their steps) run in order until one raises a GatewayError. Charge and telemetry always run
afterwards -- for errors too, and for a stream when it ends, is cut or the client leaves --
so every reservation is settled and every request counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from gateway.pipeline.allowlist import CheckAllowlist
from gateway.pipeline.auth import Authenticate
from gateway.pipeline.cache import LookupCache
from gateway.pipeline.charge import Charge
from gateway.pipeline.guardrails import ScanForPii
from gateway.pipeline.hooks import GuardrailHooks
from gateway.pipeline.prompts import RenderPrompt
from gateway.pipeline.quota import ReserveQuota
from gateway.pipeline.router import RouteRequest
from gateway.pipeline.telemetry import RecordTelemetry
from gateway.pipeline.validation import ValidateResponse
from gateway.request import RequestContext

Stage = Callable[[RequestContext], Awaitable[None]]
log = logging.getLogger("gateway.pipeline")


class Pipeline:
    def __init__(self, *, auth: Authenticate, quota: ReserveQuota, allowlist: CheckAllowlist,
                 guardrails: ScanForPii, cache: LookupCache, router: RouteRequest,
                 charge: Charge, telemetry: RecordTelemetry, prompts: RenderPrompt | None = None,
                 validation: ValidateResponse | None = None, hooks: GuardrailHooks | None = None) -> None:
        self.auth, self.quota, self.allowlist, self.guardrails = auth, quota, allowlist, guardrails
        self.cache, self.router, self.charge, self.telemetry = cache, router, charge, telemetry
        self.prompts, self.validation, self.hooks = prompts, validation, hooks
        stages: list[Stage] = [auth] if prompts is None else [auth, prompts]
        stages += [quota, allowlist, guardrails]
        if hooks is not None and hooks.request_hooks:
            stages.append(hooks.on_request)
        if validation is not None:
            stages.append(validation.prepare)
        stages += [cache, router]
        if validation is not None:
            stages.append(validation)
        if hooks is not None and hooks.response_hooks:
            stages.append(hooks.on_response)
        self.stages: Sequence[Stage] = tuple(stages)

    async def run(self, ctx: RequestContext) -> None:
        """Stages 1-6; a GatewayError from any of them ends the request."""
        for stage in self.stages:
            await stage(ctx)

    async def finish(self, ctx: RequestContext) -> None:
        """Stages 7-8, with a completed answer stored in the cache alongside the charge: their
        Redis commands (cache write, settle, usage XADD) go out together, one send where
        there were three (a response waits for the charge). The cache's task starts with the
        charge's own tasks, in the same event-loop turn: the charge runs here, not in a task
        of its own one turn later. Telemetry follows: it reports the charge's cost. Each runs
        even if another failed: a telemetry fault must not lose a charge, nor the reverse."""
        remembered = asyncio.ensure_future(self._finisher(self.cache.remember, ctx))
        await self._finisher(self.charge, ctx)
        await remembered
        await self._finisher(self.telemetry, ctx)

    async def close(self) -> None:
        if self.hooks is not None:
            await self.hooks.close()

    @staticmethod
    async def _finisher(finisher: Stage, ctx: RequestContext) -> None:
        try:
            await finisher(ctx)
        except Exception:
            name = getattr(finisher, "__qualname__", type(finisher).__name__)
            log.exception("finisher failed", extra={"request_id": ctx.request_id, "finisher": name})


__all__ = ["Pipeline", "RequestContext"]
