"""The guardrails stage: the four modes, the tenant's mode over the catalog's, what is
counted where, a block that names types and never values, and a cache key computed from
the redacted request."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import REGISTRY

from gateway.cache.store import MemoryCacheStore
from gateway.catalog import CachePolicy, PiiPolicy
from gateway.errors import ContentBlocked
from gateway.pipeline.cache import LookupCache
from gateway.pipeline.guardrails import ScanForPii
from gateway.request import RequestContext
from gateway.tenancy.models import ApiKey, Principal, Tenant
from providers.base import ChatRequest
from tests.conftest import unique

CARD, OTHER_CARD, SSN, EMAIL = "4111 1111 1111 1111", "5555 5555 5555 4444", "123-45-6789", "alice@example.com"


def messages(card: str = CARD) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": [{"type": "text", "text": f"Charge card {card} please."},
                                     {"type": "image_url", "image_url": {"url": "https://x.example/a.png"}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "lookup", "arguments": json.dumps({"ssn": SSN, "amount": 12.50})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"Customer e-mail: {EMAIL}"},
        {"role": "user", "content": "Badge EMP-123456, thanks"},
    ]


def context(pii_mode: str | None = None, card: str = CARD, tenant: str | None = None) -> RequestContext:
    tenant = tenant or unique()
    ctx = RequestContext(request_id="req-1", api_key="sk-x",
                         request=ChatRequest({"model": "gpt-4o-mini", "messages": messages(card)}))
    ctx.principal = Principal(tenant=Tenant(id=f"id-{tenant}", name=tenant, tier="pro", models=("*",),
                                            pii_mode=pii_mode),
                              key=ApiKey(id="k1", tenant_id=f"id-{tenant}", prefix="sk-x", label=None,
                                         expires_at=None, revoked_at=None))
    return ctx


def stage(mode: str = "redact") -> ScanForPii:
    return ScanForPii(PiiPolicy.model_validate({"mode": mode,
                                                "custom": [{"name": "employee_id", "pattern": r"EMP-\d{6}"}]}))


def events(tenant: str, pii_type: str) -> float:
    return REGISTRY.get_sample_value("gateway_guardrail_events_total", {"tenant": tenant, "type": pii_type}) or 0.0


def sent_text(ctx: RequestContext) -> str:
    return json.dumps(ctx.request.body)


async def test_redact_replaces_every_text_the_model_reads_and_counts_it() -> None:
    ctx = context()
    await stage("redact")(ctx)
    sent = ctx.request.messages
    assert sent[0]["content"][0]["text"] == "Charge card [REDACTED-CREDIT_CARD] please."
    assert json.loads(sent[1]["tool_calls"][0]["function"]["arguments"]) == {"ssn": "[REDACTED-SSN]", "amount": 12.50}
    assert sent[2]["content"] == "Customer e-mail: [REDACTED-EMAIL]"
    assert sent[3]["content"] == "Badge [REDACTED-EMPLOYEE_ID], thanks"
    assert ctx.redactions == {"credit_card": 1, "ssn": 1, "email": 1, "employee_id": 1}
    assert all(events(ctx.tenant_name, t) == 1 for t in ("credit_card", "ssn", "email", "employee_id"))
    for value in (CARD, SSN, EMAIL, "123456"):
        assert value not in sent_text(ctx)


async def test_block_answers_400_naming_the_types_and_never_a_value() -> None:
    ctx = context()
    before = json.loads(sent_text(ctx))
    with pytest.raises(ContentBlocked) as raised:
        await stage("block")(ctx)
    error = raised.value
    assert error.status == 400 and error.code == "content_blocked" and error.param == "messages"
    body = error.to_bytes().decode()
    assert "credit_card" in body and "ssn" in body and "email" in body and "employee_id" in body
    for value in (CARD, "4111", SSN, EMAIL, "EMP-123456"):
        assert value not in body
    assert json.loads(sent_text(ctx)) == before     # nothing rewritten
    assert not ctx.redactions                       # nothing redacted: the request went nowhere
    assert events(ctx.tenant_name, "credit_card") == 1


async def test_monitor_counts_and_changes_nothing() -> None:
    ctx = context()
    before = json.loads(sent_text(ctx))
    await stage("monitor")(ctx)
    assert json.loads(sent_text(ctx)) == before
    assert not ctx.redactions
    assert events(ctx.tenant_name, "ssn") == 1 and events(ctx.tenant_name, "employee_id") == 1


async def test_off_neither_changes_nor_counts() -> None:
    ctx = context()
    before = json.loads(sent_text(ctx))
    await stage("off")(ctx)
    assert json.loads(sent_text(ctx)) == before
    assert events(ctx.tenant_name, "credit_card") == 0


@pytest.mark.parametrize(("catalog", "tenant", "effect"), [
    ("block", "off", "unchanged"), ("off", "redact", "redacted"), ("redact", "monitor", "unchanged"),
    ("monitor", "block", "blocked"), ("redact", None, "redacted"), ("block", None, "blocked"),
])
async def test_the_tenant_mode_wins_over_the_catalog(catalog: str, tenant: str | None, effect: str) -> None:
    ctx = context(pii_mode=tenant)
    try:
        await stage(catalog)(ctx)
    except ContentBlocked:
        outcome = "blocked"
    else:
        outcome = "unchanged" if CARD in sent_text(ctx) else "redacted"
    assert outcome == effect


async def test_a_clean_request_passes_untouched_in_every_mode() -> None:
    for mode in ("redact", "block", "monitor"):
        ctx = context()
        ctx.request = ChatRequest({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": "Order 4111-2222 shipped on 2024-05-01, call ext. 1234."}]})
        await stage(mode)(ctx)
        assert ctx.request.messages[0]["content"] == "Order 4111-2222 shipped on 2024-05-01, call ext. 1234."
        assert not ctx.redactions


async def test_the_cache_key_is_computed_from_the_redacted_request() -> None:
    guardrails, cache = stage("redact"), LookupCache(MemoryCacheStore(), CachePolicy())
    tenant = unique()
    keys = []
    for card in (CARD, OTHER_CARD):
        ctx = context(card=card, tenant=tenant)
        await guardrails(ctx)
        await cache(ctx)
        keys.append(ctx.cache_key)
    # two different card numbers redact to the same request, hence one key: the raw value never entered it
    assert keys[0] is not None and keys[0] == keys[1]

    raw = context(card=CARD, tenant=tenant)
    await stage("off")(raw)
    await cache(raw)
    assert raw.cache_key != keys[0]
