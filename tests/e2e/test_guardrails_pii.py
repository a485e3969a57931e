"""PII guardrails end to end, through the OpenAI SDK: what the provider receives (the mock
echoes the last user message as it got it; the fake OpenAI upstream records every request),
block and monitor modes, redacted answers plain and streamed, what the usage record and the
metrics count, and no raw value in logs, metrics, spans or the cache."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.telemetry import tracing
from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.telemetry.scrape import scrape
from tests.integration.usage.conftest import gateway_records
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

CARD, SSN, EMAIL, PHONE = "4111 1111 1111 1111", "123-45-6789", "alice@example.com", "(212) 555-0199"
# Fragments long enough not to turn up by chance in ids, timestamps or metric values.
RAW_VALUES = (CARD, "4111 1111", SSN, EMAIL, PHONE, "555-0199", "EMP-123456")


def catalog(upstream_url: str) -> str:
    return f"""
providers:
  primary: {{type: openai, base_url: "{upstream_url}", api_key: sk-upstream-secret-primary,
            timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}
  mock: {{type: mock}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
  mock-echo:
    price: {{input: 0, output: 0}}
    deployments: [{{provider: mock, upstream: echo}}]
tiers:
  pro: {{rpm: 1000, tpm: 1000000}}
guardrails:
  pii: {{mode: redact, types: [ssn, credit_card, email, phone_us],
        custom: [{{name: employee_id, pattern: 'EMP-\\d{{6}}'}}], responses: redact}}
cache: {{mode: exact, ttl_seconds: 60, scope: tenant}}
"""


@pytest.fixture
def gateway(upstream: FakeOpenAI, sqlite_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(make_settings(sqlite_url, write_catalog(tmp_path, catalog(upstream.url)))) as gw:
        yield gw


def client(gw: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)


def tenant_and_key(gw: RunningGateway, pii_mode: str | None = None) -> tuple[str, OpenAI]:
    extra: dict[str, Any] = {"pii_mode": pii_mode} if pii_mode else {}
    tenant = gw.create_tenant(**extra)
    return tenant, client(gw, gw.create_key(tenant))


def events(gw: RunningGateway, tenant: str, pii_type: str) -> float:
    return scrape(gw.url).value("gateway_guardrail_events_total", tenant=tenant, type=pii_type)


ARRAY_MESSAGE = {"role": "user", "content": [
    {"type": "text", "text": f"Charge {CARD} now"},
    {"type": "image_url", "image_url": {"url": "https://img.example/receipt.png"}},
    {"type": "text", "text": f"and mail {EMAIL}"}]}


def tool_conversation() -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Find the customer"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "call_1", "type": "function", "function": {
            "name": "lookup", "arguments": json.dumps({"ssn": SSN, "badge": "EMP-123456", "limit": 3})}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"Found: phone {PHONE}, e-mail {EMAIL}"},
        {"role": "user", "content": "Summarise"},
    ]


def test_text_parts_of_array_contents_reach_the_provider_redacted(gateway: RunningGateway) -> None:
    tenant, sdk = tenant_and_key(gateway)
    completion = sdk.chat.completions.create(model="mock-echo", messages=[ARRAY_MESSAGE])  # type: ignore[list-item]
    # the mock echoes the text parts exactly as they reached it
    assert completion.choices[0].message.content == "Charge [REDACTED-CREDIT_CARD] now and mail [REDACTED-EMAIL]"
    streamed = sdk.chat.completions.create(model="mock-echo", messages=[ARRAY_MESSAGE],  # type: ignore[list-item]
                                           stream=True, extra_headers={"Cache-Control": "no-cache"})
    text = "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)  # type: ignore[union-attr]
    assert text == "Charge [REDACTED-CREDIT_CARD] now and mail [REDACTED-EMAIL]"
    records = gateway_records(gateway, tenant, at_least=2)
    assert [r.redactions for r in records] == [2, 2]
    assert events(gateway, tenant, "credit_card") == 2 and events(gateway, tenant, "email") == 2


def test_tool_arguments_and_tool_results_reach_the_upstream_redacted(gateway: RunningGateway,
                                                                     upstream: FakeOpenAI) -> None:
    tenant, sdk = tenant_and_key(gateway)
    sdk.chat.completions.create(model="gpt-4o-mini", messages=tool_conversation())  # type: ignore[arg-type]
    received = upstream.requests[-1].body["messages"]
    arguments = json.loads(received[1]["tool_calls"][0]["function"]["arguments"])   # still valid JSON
    assert arguments == {"ssn": "[REDACTED-SSN]", "badge": "[REDACTED-EMPLOYEE_ID]", "limit": 3}
    assert received[2]["content"] == "Found: phone [REDACTED-PHONE_US], e-mail [REDACTED-EMAIL]"
    assert not any(value in json.dumps(received) for value in RAW_VALUES)
    [record] = gateway_records(gateway, tenant)
    assert record.redactions == 4


def test_block_mode_answers_400_naming_the_types_and_never_the_value(gateway: RunningGateway,
                                                                     upstream: FakeOpenAI) -> None:
    tenant, sdk = tenant_and_key(gateway, "block")
    asked = len(upstream.requests)
    with pytest.raises(openai.BadRequestError) as raised:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": f"My card is {CARD} and my SSN {SSN}"}])
    error = raised.value
    assert error.status_code == 400 and error.code == "content_blocked"
    assert "credit_card" in error.message and "ssn" in error.message
    assert not any(value in error.response.text for value in RAW_VALUES)
    assert len(upstream.requests) == asked                     # no provider was asked
    [record] = gateway_records(gateway, tenant)
    assert (record.status, record.http_status, record.redactions) == ("rejected", 400, 0)
    assert events(gateway, tenant, "credit_card") == 1 and events(gateway, tenant, "ssn") == 1


def test_monitor_mode_counts_and_passes_the_request_unchanged(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, sdk = tenant_and_key(gateway, "monitor")
    completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=[
        {"role": "user", "content": f"mail {EMAIL}"}])
    assert upstream.requests[-1].body["messages"][0]["content"] == f"mail {EMAIL}"
    assert completion.choices[0].message.content == f"echo: mail {EMAIL}"    # monitor: answers unscanned too
    [record] = gateway_records(gateway, tenant)
    assert record.redactions == 0
    assert events(gateway, tenant, "email") == 1


def test_a_plain_answer_is_redacted_and_counted(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, sdk = tenant_and_key(gateway)
    upstream.then(Behavior(text=f"Reach Bob at {EMAIL} or {PHONE}."))
    completion = sdk.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Bob?"}])
    assert completion.choices[0].message.content == "Reach Bob at [REDACTED-EMAIL] or [REDACTED-PHONE_US]."
    [record] = gateway_records(gateway, tenant)
    assert record.redactions == 2


def test_a_card_streamed_over_three_chunks_is_redacted_and_the_stream_stays_a_stream(
        gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, sdk = tenant_and_key(gateway)
    pieces = ["Your card 4111 11", "11 1111 1", "111 is on file."]
    upstream.then(Behavior(kind="slow_stream", chunk_delay=0.3, pieces=pieces))
    arrivals: list[tuple[float, Any]] = []
    started = time.monotonic()
    for chunk in sdk.chat.completions.create(model="gpt-4o-mini", stream=True,
                                             messages=[{"role": "user", "content": "my card?"}]):
        arrivals.append((time.monotonic() - started, chunk))
    chunks = [c for _, c in arrivals]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Your card [REDACTED-CREDIT_CARD] is on file."
    assert not any(d in (c.choices[0].delta.content or "") for c in chunks if c.choices for d in "14")
    # the finish comes last, after every piece of text; nothing is sent after it
    finishes = [i for i, c in enumerate(chunks) if c.choices and c.choices[0].finish_reason]
    assert finishes == [len(chunks) - 1] and chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].choices[0].delta.content is None
    # text that cannot be part of a number went out as it came, not at the end (upstream: >= 0.6 s)
    first_text = next(t for t, c in arrivals if c.choices and c.choices[0].delta.content)
    assert arrivals[-1][0] - first_text >= 0.4
    [record] = gateway_records(gateway, tenant)
    assert record.redactions == 1 and record.status == "ok"

    # what the cache kept is what the client got: the redacted answer
    again = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                         messages=[{"role": "user", "content": "my card?"}])
    assert again.headers["x-gateway-cache"] == "hit"
    assert again.parse().choices[0].message.content == "Your card [REDACTED-CREDIT_CARD] is on file."


def test_a_streamed_csv_with_ssns_is_redacted_chunk_by_chunk_as_the_plain_answer(
        gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    _, sdk = tenant_and_key(gateway)
    rows = [f"{i},Ann Lee,{ssn},{emp},98101" for i, (ssn, emp) in enumerate(
        [("123456789", "234567890"), ("345678901", "456789012"), ("078051120", "567890123"),
         ("219099999", "678901234"), ("457555462", "789012345")] * 4)]
    text = "Here is the export:\nid,name,ssn,employee_id,zip\n" + "\n".join(rows) + "\n"
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]  # token-sized deltas
    messages: Any = [{"role": "user", "content": "export?"}]
    upstream.then(Behavior(pieces=pieces))
    plain = sdk.chat.completions.create(model="gpt-4o-mini", messages=messages,
                                        extra_headers={"Cache-Control": "no-cache"})
    upstream.then(Behavior(pieces=pieces))
    deltas = [c.choices[0].delta.content or "" for c in sdk.chat.completions.create(
        model="gpt-4o-mini", messages=messages, stream=True, extra_headers={"Cache-Control": "no-cache"})
        if c.choices]
    streamed = "".join(deltas)
    assert streamed == plain.choices[0].message.content
    assert streamed.count("[REDACTED-SSN]") == 20 and "234567890" in streamed  # employee ids stay
    assert not any(ssn in streamed for ssn in ("123456789", "345678901", "078051120", "457555462"))
    assert len([d for d in deltas if d]) > 40  # rows went out as they came, not as one block at the end


def test_the_cache_key_is_taken_after_redaction(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    _, sdk = tenant_and_key(gateway)
    first = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "SSN 123-45-6789 on file?"}])
    second = sdk.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "SSN 234-56-7890 on file?"}])
    # two different numbers, one redacted request: the raw value never reached the key
    assert (first.headers["x-gateway-cache"], second.headers["x-gateway-cache"]) == ("miss", "hit")
    assert second.parse().choices[0].message.content == "echo: SSN [REDACTED-SSN] on file?"


def test_no_raw_value_in_logs_metrics_or_spans(gateway: RunningGateway, upstream: FakeOpenAI,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        for mode in ("redact", "monitor", "block"):
            _, sdk = tenant_and_key(gateway, mode)
            try:
                sdk.chat.completions.create(model="gpt-4o-mini", messages=tool_conversation())  # type: ignore[arg-type]
            except openai.BadRequestError:
                pass
        _, sdk = tenant_and_key(gateway)
        upstream.then(Behavior(kind="ok", pieces=[f"call {PHONE[:7]}", f"{PHONE[7:]} or mail {EMAIL}"]))
        list(sdk.chat.completions.create(model="gpt-4o-mini", stream=True,
                                         messages=[{"role": "user", "content": "contact?"}]))
        gateway.flush_usage()
    finally:
        tracing.use_provider(None)
        provider.shutdown()
    spans = exporter.get_finished_spans()
    assert spans
    span_text = json.dumps([{**dict(s.attributes or {}), "name": s.name,
                             "events": [dict(e.attributes or {}) for e in s.events]} for s in spans], default=str)
    # Label values only: sample values are numbers (timestamps among them) and can hold any digits.
    metrics_text = " ".join(re.findall(r"\{[^}]*\}", scrape(gateway.url).text))
    log_text = caplog.text + json.dumps([r.__dict__ for r in caplog.records], default=str)
    for value in RAW_VALUES:
        for where, text in (("spans", span_text), ("metrics", metrics_text), ("logs", log_text)):
            at = text.find(value)
            assert at < 0, f"{value!r} in {where}: ...{text[max(0, at - 300):at + 100]}..."
