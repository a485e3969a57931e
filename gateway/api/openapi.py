"""GET /openapi.json: the gateway's OpenAPI 3.0 document, maintained by hand (FastAPI's
generated one cannot describe the hot routes, which read their bodies themselves). It covers
every route the app serves -- the OpenAI-compatible API, the Anthropic Messages API, the
health probes and the admin API -- and each listener serves the part it has (with
`serve --admin-port` the public one has no /admin paths). tests/unit/api/test_openapi.py
checks that every route of the app is in it; tests/fuzz/ runs schemathesis over it."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.routing import Route

from gateway.api.openapi_schemas import JSON, SCHEMAS, STRING, ref

router = APIRouter()

_OPENAI_ERRORS = (400, 401, 403, 404, 413, 429, 502, 503, 504)
_ANTHROPIC_ERRORS = (400, 401, 403, 404, 413, 429, 502, 503, 504)
_ADMIN_ERRORS = (400, 401, 404, 422)


def _json(schema: JSON, description: str = "OK") -> JSON:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _answers(ok: JSON, errors: tuple[int, ...], error: str = "OpenAIError", status: str = "200",
             stream: bool = False) -> JSON:
    success = _json(ok)
    if stream:
        success["content"]["text/event-stream"] = {"schema": STRING}
    return {status: success, **{str(code): _json(ref(error), "error") for code in errors}}


def _body(name: str) -> JSON:
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}


def _path_param(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


def _query(name: str, schema: JSON | None = None) -> JSON:
    return {"name": name, "in": "query", "required": False, "schema": schema or STRING}


def _op(summary: str, responses: JSON, *, body: str | None = None, params: list[JSON] | None = None,
        security: str | None = "bearer", tag: str = "openai") -> JSON:
    op: JSON = {"summary": summary, "tags": [tag], "responses": responses}
    if body is not None:
        op["requestBody"] = _body(body)
    if params:
        op["parameters"] = params
    op["security"] = [{security: []}] if security else []
    return op


def _public_paths() -> JSON:
    def chat_like(summary: str, request: str, answer: str) -> JSON:
        return {"post": _op(summary, _answers(ref(answer), _OPENAI_ERRORS, stream=True), body=request)}

    messages_answers = _answers(ref("Message"), _ANTHROPIC_ERRORS, "AnthropicError", stream=True)
    return {
        "/v1/chat/completions": chat_like("Chat completions (stream: server-sent events)",
                                          "ChatCompletionRequest", "ChatCompletion"),
        "/v1/completions": chat_like("Legacy completions", "CompletionsRequest", "Completion"),
        "/v1/responses": chat_like("The Responses API", "ResponsesRequest", "Response"),
        "/v1/responses/{response_id}": {
            "get": _op("A stored response of this key's tenant", _answers(ref("Response"), (401, 404)),
                       params=[_path_param("response_id")]),
            "delete": _op("Delete a stored response", _answers(ref("ResponseDeleted"), (401, 404)),
                          params=[_path_param("response_id")]),
        },
        "/v1/embeddings": {"post": _op("Embeddings", _answers(ref("Embeddings"), _OPENAI_ERRORS),
                                       body="EmbeddingsRequest")},
        "/v1/models": {"get": _op("The models and aliases this key may use", _answers(ref("ModelList"), (401,)))},
        "/v1/models/{model_id}": {"get": _op("One model or alias", _answers(ref("Model"), (401, 404)),
                                             params=[_path_param("model_id")])},
        "/v1/messages": {"post": _op("The Anthropic Messages API (key in x-api-key or a bearer token)",
                                     messages_answers, body="MessagesRequest", security="anthropic",
                                     tag="anthropic")},
        "/v1/messages/count_tokens": {"post": _op(
            "An estimate of a Messages request's input tokens",
            _answers(ref("TokenCount"), (400, 401, 403, 404, 413), "AnthropicError"),
            body="CountTokensRequest", security="anthropic", tag="anthropic")},
    }


def _health_paths() -> JSON:
    status = {"type": "object", "properties": {"status": STRING, "checks": {"type": "object"}}}
    return {
        "/healthz": {"get": _op("Liveness", {"200": _json(status)}, security=None, tag="health")},
        "/readyz": {"get": _op("Readiness: the database (and Redis) answer",
                               {"200": _json(status), "503": _json(status, "not ready")},
                               security=None, tag="health")},
        "/openapi.json": {"get": _op("This document", {"200": _json({"type": "object"})}, security=None,
                                     tag="health")},
    }


def _admin_paths() -> JSON:
    def admin(summary: str, ok: JSON, *, body: str | None = None, params: list[JSON] | None = None,
              status: str = "200") -> JSON:
        return _op(summary, _answers(ok, _ADMIN_ERRORS, status=status), body=body, params=params,
                   security="admin", tag="admin")

    name, key_id = [_path_param("name")], [_path_param("key_id")]
    usage_params = [_query(p) for p in ("tenant", "feature", "model", "since", "until", "group_by")]
    usage_params.append(_query("format", {"type": "string", "enum": ["json", "csv", "table"]}))
    audit_params = [_query("target"), _query("action"), _query("limit", {"type": "integer"}),
                    _query("before_id", {"type": "integer"})]
    owner = [_query("tenant"), _query("shared", {"type": "boolean"})]
    prompt = [_path_param("prompt_id"), *owner]
    usage_ok = {"description": "the report", "content": {
        "application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": STRING},
        "text/plain": {"schema": STRING}}}
    return {
        "/admin/tenants": {"get": admin("Every tenant", ref("TenantList")),
                           "post": admin("Create a tenant", ref("Tenant"), body="TenantCreate", status="201")},
        "/admin/tenants/{name}": {
            "get": admin("A tenant with its effective limits and callable models", ref("Tenant"), params=name),
            "patch": admin("Change a tenant", ref("Tenant"), body="TenantUpdate", params=name)},
        "/admin/tenants/{name}/disable": {"post": admin("Disable a tenant", ref("Tenant"), params=name)},
        "/admin/tenants/{name}/keys": {
            "get": admin("A tenant's keys", ref("KeyList"), params=name),
            "post": admin("Issue a key (shown once)", ref("IssuedKey"), body="KeyCreate", params=name,
                          status="201")},
        "/admin/keys/{key_id}": {"get": admin("A key", ref("Key"), params=key_id),
                                 "delete": admin("Revoke a key", ref("Key"), params=key_id)},
        "/admin/keys/{key_id}/revoke": {"post": admin("Revoke a key", ref("Key"), params=key_id)},
        "/admin/keys/{key_id}/rotate": {"post": admin("Rotate a key: a new one, the old one kept for `grace`",
                                                      ref("IssuedKey"), body="KeyRotate", params=key_id,
                                                      status="201")},
        "/admin/audit": {"get": admin("The audit log, newest first", ref("AuditList"), params=audit_params)},
        "/admin/usage": {"get": {**admin("The usage report", {"type": "object"}, params=usage_params),
                                 "responses": {"200": usage_ok,
                                               **{str(c): _json(ref("OpenAIError"), "error") for c in _ADMIN_ERRORS}}}},
        "/admin/providers": {"get": admin("Every deployment's breaker state, error rate and latency",
                                          ref("ProviderList"))},
        "/admin/prompts": {"get": admin("A tenant's prompts (or the shared ones)", ref("PromptList"), params=owner),
                           "post": admin("Create a prompt and its version 1", ref("Prompt"), body="PromptCreate",
                                         status="201")},
        "/admin/prompts/{prompt_id}": {"get": admin("A prompt, its versions and labels", ref("Prompt"),
                                                    params=prompt)},
        "/admin/prompts/{prompt_id}/versions": {"post": admin("Add a version", ref("PromptVersion"),
                                                              body="PromptVersionCreate", params=prompt,
                                                              status="201")},
        "/admin/prompts/{prompt_id}/versions/{selector}": {"get": admin(
            "One version (a number, a label or latest)", ref("PromptVersion"),
            params=[*prompt, _path_param("selector")])},
        "/admin/prompts/{prompt_id}/labels/{label}": {"put": admin(
            "Point a label at a version", ref("PromptLabel"), body="PromptLabelSet",
            params=[*prompt, _path_param("label")])},
        "/admin/prompts/{prompt_id}/diff": {"get": admin(
            "A unified diff of two versions", ref("PromptDiff"),
            params=[*prompt, {**_query("from"), "required": True}, {**_query("to"), "required": True}])},
        "/admin/cache/clear": {"post": admin("Drop a tenant's cached answers, exact and semantic",
                                             {"type": "object"}, body="CacheClear")},
        "/metrics": {"get": _op("Prometheus metrics", {"200": {"description": "OK", "content": {
            "text/plain": {"schema": STRING}}}}, security=None, tag="admin")},
    }


def document(served: set[str] | None = None) -> JSON:
    """The document; with `served` (paths as the app routes them), only those paths."""
    paths = {**_public_paths(), **_health_paths(), **_admin_paths()}
    if served is not None:
        paths = {path: item for path, item in paths.items() if path in served}
    return {
        "openapi": "3.0.3",
        "info": {"title": "LLM gateway", "version": "1",
                 "description": "OpenAI-compatible API (and Anthropic's Messages API) in front of many "
                                "providers, with keys, quotas, a cache and an admin API."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a gateway key (sk-...)"},
                "anthropic": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                "admin": {"type": "http", "scheme": "bearer", "description": "the admin key"},
            },
        },
    }


CONSOLE_PREFIX = "/admin/ui"


def served_routes(routes: list[Any]) -> dict[str, set[str]]:
    """The app's routes, path -> methods, with paths as the document writes them
    (`{model_id:path}` -> `{model_id}`); routers included into the app are walked too. The
    admin console's browser pages (/admin/ui/...) are no API and are left out."""
    served: dict[str, set[str]] = {}
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        pairs = ([(c.path, c.methods or set()) for c in contexts()] if callable(contexts)
                 else [(route.path, route.methods or set())] if isinstance(route, Route) else [])
        for path, methods in pairs:
            if path.startswith(CONSOLE_PREFIX):
                continue
            served.setdefault(path.replace(":path}", "}"), set()).update(m.lower() for m in methods)
    return served


@router.get("/openapi.json")
async def openapi_json(request: Request) -> Response:
    cached: bytes | None = getattr(request.app.state, "openapi_document", None)
    if cached is None:
        cached = orjson.dumps(document(set(served_routes(request.app.routes))))
        request.app.state.openapi_document = cached
    return Response(cached, media_type="application/json")
