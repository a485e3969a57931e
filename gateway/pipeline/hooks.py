"""Guardrail webhooks in the pipeline (the contract: gateway/guardrails/webhook.py).

`request` hooks run after the PII stage and before the cache (a modified request is the
one the cache keys and the model reads); `response` hooks run on the answer once the
router (and response validation) are done, before anything is sent. Hooks of a phase run
one after another in gateway.yaml's order, each seeing what the one before let through.

What a hook receives never holds PII the gateway's detector finds (the types and custom
patterns of `guardrails.pii`): the request's messages are those the PII stage redacted,
and for a tenant whose PII mode leaves them as they are (monitor, off) a redacted copy is
posted instead; an answer's text is always run through the detector before it is posted,
whatever `guardrails.pii.responses` says (that setting is about what the client gets).

Streams: with a response hook configured, a streamed answer is received whole first, given
to the hooks, and then streamed to the client from what they let through (the client's
first token waits for the whole answer: a hook can only judge what it has seen). Without
response hooks nothing is buffered.

Embeddings requests and Responses bodies passed through to an upstream's own Responses API
are not posted: /v1/responses translates (never passes through) while webhooks are configured.

Each call is counted in `gateway_guardrail_webhook_calls_total{hook,phase,outcome}`.
Without webhooks in gateway.yaml, this stage is not in the pipeline at all.
"""

from __future__ import annotations

import copy
import time
from collections.abc import AsyncIterator
from typing import Any

from gateway.cache.replay import StreamAssembler
from gateway.cache.storable import requested_choices
from gateway.catalog import GuardrailWebhook
from gateway.errors import BlockedByGuardrail, client_error
from gateway.guardrails.messages import scan_messages
from gateway.guardrails.webhook import Outcome, Reply, WebhookClient
from gateway.pipeline.guardrails import ScanForPii
from gateway.request import Operation, RequestContext
from gateway.telemetry import metrics
from providers.base import ChatChunk, ChatResult, ProviderError, Usage

JSON = dict[str, Any]


class GuardrailHooks:
    def __init__(self, client: WebhookClient, pii: ScanForPii) -> None:
        self.client = client
        self._pii = pii
        self.request_hooks = client.for_phase("request")
        self.response_hooks = client.for_phase("response")

    async def close(self) -> None:
        await self.client.close()

    # -- request phase -------------------------------------------------------------------

    async def on_request(self, ctx: RequestContext) -> None:
        if not self.request_hooks or ctx.operation is not Operation.CHAT:
            return
        messages = ctx.request.messages
        if self._pii.mode_for(ctx) not in ("redact", "block"):   # left as sent: post a redacted copy
            messages = copy.deepcopy(messages)
            scan_messages(messages, self._pii.detector, redact=True)
        for hook in self.request_hooks:
            payload = {**self._head(ctx, hook), "messages": messages}
            reply = await self._call(hook, payload)
            if reply.outcome is Outcome.MODIFY and reply.messages is not None:
                messages = reply.messages
                ctx.request.body["messages"] = messages

    # -- response phase ------------------------------------------------------------------

    async def on_response(self, ctx: RequestContext) -> None:
        if not self.response_hooks or ctx.operation is not Operation.CHAT:
            return
        if ctx.stream is not None:
            await self._buffer(ctx)
        result = ctx.result
        if result is None:
            return
        try:
            changed = False
            for choice in result.body.get("choices") or ():
                message = choice.get("message") if isinstance(choice, dict) else None
                if not isinstance(message, dict) or not isinstance(message.get("content"), str):
                    continue
                text, _ = self._pii.detector.redact(message["content"])
                for hook in self.response_hooks:
                    payload = {**self._head(ctx, hook), "content": text, "choice": choice.get("index", 0)}
                    reply = await self._call(hook, payload)
                    if reply.outcome is Outcome.MODIFY and reply.content is not None:
                        text = message["content"] = reply.content
                        changed = True
            if changed:
                result.replace_body(result.body)
        except BlockedByGuardrail:
            ctx.usage = result.usage     # the answer was produced: charged, though not sent
            raise

    async def _buffer(self, ctx: RequestContext) -> None:
        """Receives a stream whole into ctx.result: the client then gets it replayed as a
        stream (gateway/api/exchange.py) once the hooks have judged it."""
        stream, ctx.stream = ctx.stream, None
        assert stream is not None
        assembler = StreamAssembler(requested_choices(ctx.request.body))
        waited_from = time.perf_counter()
        try:
            async for chunk in stream:
                assembler.add(chunk.data)
        except ProviderError as exc:
            raise client_error(exc) from None
        finally:
            ctx.upstream_seconds += time.perf_counter() - waited_from
            await _close(stream)
        body = assembler.completion()
        ctx.result = ChatResult(body=body, usage=Usage.from_openai(body.get("usage")) or Usage())

    # -- both ----------------------------------------------------------------------------

    @staticmethod
    def _head(ctx: RequestContext, hook: GuardrailWebhook) -> JSON:
        return {"phase": hook.phase, "request_id": ctx.request_id, "tenant": ctx.tenant_name,
                "model": ctx.request.model}

    async def _call(self, hook: GuardrailWebhook, payload: JSON) -> Reply:
        reply = await self.client.call(hook, payload)
        metrics.GUARDRAIL_WEBHOOK_CALLS.labels(hook.name, hook.phase, reply.outcome.value).inc()
        if reply.outcome is Outcome.BLOCK:
            raise BlockedByGuardrail(f"Blocked by guardrail `{hook.name}`: {reply.reason}", code="blocked_by_guardrail")
        if reply.failed and hook.on_error == "block":
            raise BlockedByGuardrail(f"Blocked: guardrail `{hook.name}` failed ({reply.reason}) and fails closed.",
                                     code="blocked_by_guardrail")
        return reply


async def _close(stream: AsyncIterator[ChatChunk]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:   # the upstream connection is being dropped anyway
            pass


__all__ = ["GuardrailHooks"]
