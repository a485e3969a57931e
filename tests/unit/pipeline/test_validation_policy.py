"""Which response-validation policy a request gets: a rendered prompt's own over the
tenant's over gateway.yaml's default; and which requests carry a schema to judge."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.catalog import ValidationPolicy
from gateway.errors import InvalidRequest
from gateway.pipeline.validation import ValidateResponse
from gateway.request import ClientApi, RequestContext
from gateway.routing.latency import LatencyTracker
from gateway.routing.router import Router
from gateway.tenancy.models import ApiKey, Principal, Tenant
from providers.base import ChatRequest

SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object"}}}


def context(mode: str | None = None, prompt_policy: str | None = None, body: dict[str, Any] | None = None,
            api: ClientApi = ClientApi.CHAT) -> RequestContext:
    ctx = RequestContext(request_id="req-1", api_key="sk-x", api=api,
                         request=ChatRequest(body or {"model": "m", "messages": [],
                                                      "response_format": SCHEMA_FORMAT}))
    tenant = Tenant(id="t1", name="acme", tier="pro", models=("*",), validation_mode=mode)
    ctx.principal = Principal(tenant=tenant, key=ApiKey(id="k1", tenant_id="t1", prefix="sk-acme",
                                                        label=None, expires_at=None, revoked_at=None))
    ctx.validation_policy = prompt_policy
    return ctx


def stage(default: str = "pass") -> ValidateResponse:
    return ValidateResponse(Router({}, LatencyTracker()), ValidationPolicy(default=default))  # type: ignore[arg-type]


@pytest.mark.parametrize(("default", "tenant", "prompt", "policy"), [
    ("pass", None, None, "pass"),
    ("reject", None, None, "reject"),
    ("pass", "retry", None, "retry"),
    ("pass", "retry", "reject", "reject"),
    ("reject", None, "pass", "pass"),
])
def test_prompt_over_tenant_over_catalog(default: str, tenant: str | None, prompt: str | None, policy: str) -> None:
    assert stage(default).policy_for(context(tenant, prompt)) == policy


async def test_chat_and_responses_get_a_compiled_check_one_per_schema() -> None:
    validate = stage()
    chat, responses = context(), context(api=ClientApi.RESPONSES)
    await validate.prepare(chat)
    await validate.prepare(responses)
    assert chat.validation_check is not None and chat.validation_check is responses.validation_check
    assert validate.validators.compiled == 1


async def test_no_schema_no_check() -> None:
    ctx = context(body={"model": "m", "messages": [], "response_format": {"type": "json_object"}})
    await stage().prepare(ctx)
    assert ctx.validation_check is None
    messages = context(api=ClientApi.MESSAGES)
    await stage().prepare(messages)
    assert messages.validation_check is None


async def test_a_bad_schema_is_the_clients_400() -> None:
    ctx = context(body={"model": "m", "messages": [],
                        "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": 1}}}})
    with pytest.raises(InvalidRequest) as caught:
        await stage().prepare(ctx)
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, "invalid_json_schema",
                                                                           "response_format")
