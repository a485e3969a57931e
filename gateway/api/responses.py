"""`POST /v1/responses` (OpenAI's Responses API) and its stored responses
(`GET`/`DELETE /v1/responses/{id}`, plain routes). A Response goes through the same request
path as chat completions (gateway/api/exchange.py), with a shape built per request
(`ResponseCall`): the request is translated to a chat body (gateway/translate/responses.py),
run, and the answer rendered back as a Response object or the typed Responses stream events;
with `store` the final Response is kept before it is sent.

Pass-through: a concrete model whose every deployment is on a provider with
`responses_api: true` gets the body as it came (PII redacted in its input items), sent to
the upstream's own /responses, and the upstream's answer or events back unchanged -- unless
the tenant's answers are redacted, which only the translated path does. It skips the cache
(its answers are not chat completions); `previous_response_id` must be one of this tenant's
stored responses, and is then continued by the upstream.

A stored prompt (`prompt: {id, version, variables}`, gateway/api/prompt_ref.py) is rendered
by the pipeline's prompts stage into the translated chat body (never passed through); the
request may then leave out `model` and `input`."""

from __future__ import annotations

import logging
from collections.abc import Awaitable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api import exchange, prompt_ref
from gateway.api.body import check_chat_body
from gateway.api.deps import RuntimeDep, bearer_token
from gateway.api.errors import JSON_TYPE
from gateway.api.shape import ApiShape, StreamRenderer
from gateway.errors import GatewayError, NotFound
from gateway.request import ClientApi, Operation, RequestContext
from gateway.runtime import Runtime
from gateway.stores.responses import StoredResponse
from gateway.tenancy.models import Tenant
from gateway.translate import responses as translate
from gateway.translate.base import JSON, new_id
from gateway.translate.responses_stream import PassThroughEvents, ResponsesStream
from providers.base import ChatRequest, serves_responses

router = APIRouter()
log = logging.getLogger("gateway.api.responses")
ROUTE = "/v1/responses"


def _passes_through(runtime: Runtime, model: str) -> bool:
    entry = runtime.catalog.models.get(model)
    return entry is not None and all(serves_responses(runtime.providers[d.provider]) for d in entry.deployments)


def _redacts_answers(runtime: Runtime, tenant: Tenant) -> bool:
    policy = runtime.catalog.guardrails.pii
    return policy.responses == "redact" and (tenant.pii_mode or policy.mode) in ("redact", "block")


def _governed(runtime: Runtime, body: JSON) -> bool:
    """Guardrail webhooks and response validation read chat-shaped requests and answers:
    with either in play the body is translated, never passed through."""
    text = body.get("text")
    fmt = text.get("format") if isinstance(text, dict) else None
    return runtime.pipeline.hooks is not None or (isinstance(fmt, dict) and fmt.get("type") == "json_schema")


def _chat(body: JSON, prompted: bool = False) -> ChatRequest:
    check_chat_body(body, prompted=prompted)
    return ChatRequest(body)


class ResponseCall:
    """One `POST /v1/responses`: the parser (`prepare`), the renderer and the keeper of the
    ApiShape built for it, with what they share -- the parsed request, the new response's
    id, whether the body passes through, and the final Response once there is one."""

    media_type = JSON_TYPE

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.spec: translate.ResponsesRequest | None = None
        self.response_id = new_id("resp_")
        self.passthrough = False
        self.rendered: JSON | None = None                            # a whole answer's Response
        self.events: ResponsesStream | PassThroughEvents | None = None   # a stream's renderer
        self.kept = False

    def shape(self) -> ApiShape:
        return ApiShape(Operation.CHAT, ClientApi.RESPONSES, ROUTE, self, bearer_token, prepare=self.prepare,
                        keep=self.keep)

    # the parser

    async def prepare(self, body: dict[str, Any], ctx: RequestContext) -> ChatRequest:
        spec = self.spec = translate.ResponsesRequest.parse(body)
        runtime = self.runtime
        ctx.prompt_ref = prompt_ref.from_responses(body)
        prompted = ctx.prompt_ref is not None
        # A stored prompt is rendered into the chat body: such a request never passes through.
        passthrough = not prompted and _passes_through(runtime, spec.model) and not _governed(runtime, body)
        if spec.previous_response_id is None and not passthrough:
            return _chat(translate.to_chat(body), prompted)
        tenant = (await runtime.directory.authenticate(ctx.api_key)).tenant
        self.passthrough = passthrough and not _redacts_answers(runtime, tenant)
        history: list[JSON] = []
        if spec.previous_response_id is not None:
            stored = await runtime.responses.get(tenant.id, spec.previous_response_id)
            if stored is None:
                raise NotFound(f"Previous response with id '{spec.previous_response_id}' not found.",
                               param="previous_response_id", code="previous_response_not_found")
            history = stored.messages
        if self.passthrough:
            ctx.operation = Operation.RESPONSES
            return ChatRequest(dict(body))
        return _chat(translate.to_chat(body, history), prompted)

    # the renderer

    def _prompted(self, ctx: RequestContext) -> None:
        """A stored prompt may have supplied the model: the Response names the one used, and
        repeats the prompt as OpenAI's does, with the version that was rendered."""
        assert self.spec is not None
        if ctx.prompt_id is not None and ctx.prompt_ref is not None:
            self.spec.model = ctx.request.model
            self.spec.echo["prompt"] = {"id": ctx.prompt_id, "version": str(ctx.prompt_version),
                                        "variables": ctx.prompt_ref.variables}

    def result(self, ctx: RequestContext) -> bytes:
        result = ctx.result
        assert result is not None and self.spec is not None
        self._prompted(ctx)
        if self.passthrough:
            self.rendered = result.body
            return result.to_bytes()
        rendered = self.rendered = translate.render(result.body, ctx.usage or result.usage, self.spec,
                                                    self.response_id)
        if ctx.validation is not None:   # as a stream's response.completed carries it
            metadata = rendered.get("metadata")
            rendered["metadata"] = {**(metadata if isinstance(metadata, dict) else {}),
                                    "gateway_validation": ctx.validation}
        return orjson.dumps(rendered)

    def stream(self, ctx: RequestContext) -> StreamRenderer:
        assert self.spec is not None
        self._prompted(ctx)
        events = self.events = PassThroughEvents() if self.passthrough else ResponsesStream(self.spec,
                                                                                          self.response_id)
        return events

    def error(self, error: GatewayError) -> bytes:
        return error.to_bytes()

    def status(self, error: GatewayError) -> int:
        return error.status

    # the keeper: with `store`, the final Response is stored before it goes out (a client
    # that continues from it at once must find it); a failed one is not

    def keep(self, ctx: RequestContext) -> Awaitable[None] | None:
        if self.kept or self.spec is None or not self.spec.store:
            return None
        response = self.rendered if self.events is None else self.events.response
        if response is None:
            return None
        self.kept = True
        if response.get("status") == "failed":
            return None
        return _store(self.runtime, ctx, response)


@router.post(ROUTE)
async def create_response(request: Request, runtime: RuntimeDep) -> Response:
    return await exchange.serve(request, runtime, ResponseCall(runtime).shape())


def _conversation(ctx: RequestContext, response: dict[str, Any]) -> list[dict[str, Any]]:
    if ctx.operation is not Operation.RESPONSES:
        return translate.conversation(ctx.request.messages, response)
    try:   # a passed-through body, as chat messages where it has that shape
        return translate.conversation(translate.input_messages(ctx.request.body.get("input")), response)
    except GatewayError:
        return []


async def _store(runtime: Runtime, ctx: RequestContext, response: dict[str, Any]) -> None:
    assert ctx.principal is not None
    stored = StoredResponse(response=response, messages=_conversation(ctx, response))
    try:
        await runtime.responses.put(ctx.principal.tenant.id, response["id"], stored)
    except Exception:   # the answer is delivered either way; only its continuation is lost
        log.warning("response not stored", extra={"request_id": ctx.request_id}, exc_info=True)


@router.get(ROUTE + "/{response_id}")
async def get_response(response_id: str, request: Request, runtime: RuntimeDep) -> Response:
    tenant = (await runtime.directory.authenticate(bearer_token(request))).tenant.id
    stored = await runtime.responses.get(tenant, response_id)
    if stored is None:
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id", code="not_found")
    return Response(orjson.dumps(stored.response), media_type=JSON_TYPE)


@router.delete(ROUTE + "/{response_id}")
async def delete_response(response_id: str, request: Request, runtime: RuntimeDep) -> Response:
    tenant = (await runtime.directory.authenticate(bearer_token(request))).tenant.id
    if not await runtime.responses.delete(tenant, response_id):
        raise NotFound(f"Response with id '{response_id}' not found.", param="response_id", code="not_found")
    return Response(orjson.dumps({"id": response_id, "object": "response", "deleted": True}), media_type=JSON_TYPE)


__all__ = ["ResponseCall", "create_response", "delete_response", "get_response", "router"]
