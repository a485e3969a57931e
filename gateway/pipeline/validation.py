"""Response validation: an answer against the JSON Schema its request asked for.

Two points in the pipeline. `prepare` (before the cache stage) finds the request's schema
-- chat `response_format: {type: json_schema}`, or a Responses `text.format` translated to
it -- and compiles it once per schema (gateway/guardrails/response_schema.py); a schema
that is not one is a 400 before any model is called. `__call__` (after the router) judges
a whole answer; a stream is judged at its end by `StreamValidation` (gateway/api/streaming.py
feeds it).

The policy: a rendered prompt's own (ctx.validation_policy), else the tenant's
(`tenants.validation_mode`), else gateway.yaml's `validation.default`:

    pass    the answer goes out, marked (x-gateway-validation, the usage record): passed | failed
    retry   a failed answer is asked for once more through the router, if the retry budget
            (gateway/routing/retry.py) allows; both calls are charged (one record, tokens and
            cost added). Passed then: `retried`; failed again, or no budget: as reject.
    reject  502 response_validation_failed with where and why it failed: `rejected`, charged.

A stream has gone out by the time it can be judged: its verdict comes in a last event
(chat: a chunk with no choices and `x_gateway_validation`; Responses: response.completed's
`metadata.gateway_validation`); under reject -- and under retry, which cannot re-send what
was sent -- a failed stream ends with the API's error event instead, verdict `rejected`.

An answer that failed is never stored in the cache. Verdicts are counted in
`gateway_response_validations_total{verdict}`.
"""

from __future__ import annotations

from typing import Any

from gateway.catalog import ValidationPolicy
from gateway.errors import InvalidRequest, ResponseValidationFailed
from gateway.guardrails.response_schema import InvalidSchema, SchemaCheck, SchemaValidators, requested_schema
from gateway.request import CacheStatus, ClientApi, Operation, RequestContext
from gateway.routing.router import Router
from gateway.telemetry import metrics

JSON = dict[str, Any]
VALIDATED_APIS = (ClientApi.CHAT, ClientApi.RESPONSES)    # the APIs with a JSON Schema answer format
VERDICT_FIELD = "x_gateway_validation"                     # a stream's verdict chunk carries it


class ValidateResponse:
    def __init__(self, router: Router, policy: ValidationPolicy, validators: SchemaValidators | None = None) -> None:
        self._router = router
        self._policy = policy
        self.validators = validators or SchemaValidators()

    def policy_for(self, ctx: RequestContext) -> str:
        tenant = ctx.principal.tenant if ctx.principal is not None else None
        return ctx.validation_policy or (tenant.validation_mode if tenant else None) or self._policy.default

    async def prepare(self, ctx: RequestContext) -> None:
        """Compiles the request's schema, if it has one (before the cache: a bad schema
        is the client's 400, and costs no upstream call)."""
        if ctx.operation is not Operation.CHAT or ctx.api not in VALIDATED_APIS:
            return
        schema = requested_schema(ctx.request.body)
        if schema is None:
            return
        try:
            ctx.validation_check = self.validators.check_for(schema)
        except InvalidSchema as exc:
            raise InvalidRequest(f"response_format.json_schema.schema is not a valid JSON Schema: {exc}",
                                 param="response_format", code="invalid_json_schema") from None

    async def __call__(self, ctx: RequestContext) -> None:
        """Judges a whole answer (a stream is judged as it ends)."""
        check = ctx.validation_check
        if not isinstance(check, SchemaCheck) or ctx.result is None or not check.judges(ctx.result.body):
            return
        failure = check.failure(ctx.result.body)
        if failure is None:
            verdict(ctx, "passed")
            return
        ctx.cache_write = False        # a failed answer is never stored
        policy = self.policy_for(ctx)
        if policy == "pass":
            verdict(ctx, "failed")
            return
        if policy == "retry" and ctx.cache_status is not CacheStatus.HIT and self._router.budget.try_spend():
            failure = await self._retry(ctx, check)
            if failure is None:
                verdict(ctx, "retried")
                return
        ctx.usage = ctx.result.usage   # charged, though not sent
        verdict(ctx, "rejected")
        raise rejection(failure)

    async def _retry(self, ctx: RequestContext, check: SchemaCheck) -> str | None:
        """Asks once more; the first answer is charged with the second. Returns the second's
        failure (None: it passed). An upstream error on the retry is the request's."""
        assert ctx.result is not None
        ctx.unsent.append((ctx.route, ctx.result.usage))
        out = await self._router.dispatch(ctx.request, ctx.operation, ctx.candidates, first=False)
        ctx.upstream_seconds += out.upstream_seconds
        if out.error is not None:
            ctx.result = None
            raise out.error
        ctx.route, ctx.result = out.route, out.result
        assert ctx.result is not None
        return check.failure(ctx.result.body) if check.judges(ctx.result.body) else None

    def stream_validation(self, ctx: RequestContext) -> StreamValidation | None:
        check = ctx.validation_check
        if not isinstance(check, SchemaCheck):
            return None
        return StreamValidation(check, self.policy_for(ctx), ctx)


class StreamValidation:
    """Collects a stream's text per choice as it goes by; `end()` judges it."""

    def __init__(self, check: SchemaCheck, policy: str, ctx: RequestContext) -> None:
        self._check = check
        self._policy = policy
        self._ctx = ctx
        self._choices: dict[int, JSON] = {}
        self._head: JSON = {}

    def add(self, data: JSON) -> None:
        if not self._head:
            self._head = {k: data[k] for k in ("id", "object", "created", "model") if k in data}
        for choice in data.get("choices") or ():
            if not isinstance(choice, dict):
                continue
            message = self._choices.setdefault(int(choice.get("index", 0)), {"content": ""})
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            content = delta.get("content")
            if isinstance(content, str):
                message["content"] += content
            if delta.get("tool_calls"):
                message["tool_calls"] = True

    def end(self) -> tuple[JSON | None, ResponseValidationFailed | None]:
        """(the verdict chunk to send, or the error to end the stream with instead)."""
        completion = {"choices": [{"index": i, "message": m} for i, m in sorted(self._choices.items())]}
        if not self._check.judges(completion):
            return None, None
        failure = self._check.failure(completion)
        if failure is None:
            mark = verdict(self._ctx, "passed")
        elif self._policy == "pass":
            self._ctx.cache_write = False
            mark = verdict(self._ctx, "failed", failure)
        else:   # reject, and retry (what was sent cannot be sent again)
            self._ctx.cache_write = False
            verdict(self._ctx, "rejected")
            return None, rejection(failure)
        return {**self._head, "object": "chat.completion.chunk", "choices": [], VERDICT_FIELD: mark}, None


def verdict(ctx: RequestContext, value: str, error: str | None = None) -> JSON:
    ctx.validation = value
    metrics.RESPONSE_VALIDATIONS.labels(value).inc()
    return {"verdict": value} if error is None else {"verdict": value, "error": error}


def rejection(failure: str) -> ResponseValidationFailed:
    return ResponseValidationFailed(f"The model's answer does not match the requested JSON Schema: {failure}",
                                    param="response_format")


__all__ = ["VERDICT_FIELD", "StreamValidation", "ValidateResponse", "rejection", "verdict"]
