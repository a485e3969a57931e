"""Response validation end to end, through the official OpenAI SDK: a fake upstream answers
what each test scripts (JSON that fits the schema, JSON that does not, prose), under each
policy -- pass, retry, reject -- plain and streamed, on chat completions and the Responses
API. Checked: the header or the stream's last event, the 502's shape, how many calls the
upstream got, and the usage records in PostgreSQL (verdict, tokens and cost of every call)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import make_settings, unique
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.telemetry.scrape import scrape
from tests.integration.usage.conftest import gateway_records
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                          "required": ["name", "age"], "additionalProperties": False}
RESPONSE_FORMAT: Any = {"type": "json_schema", "json_schema": {"name": "person", "schema": SCHEMA, "strict": True}}
GOOD = '{"name": "Ada", "age": 36}'
WRONG_TYPE = '{"name": "Ada", "age": "thirty-six"}'
PROSE = "Sure! Ada is 36 years old."
PRICE_IN, PRICE_OUT = Decimal("0.15"), Decimal("0.60")


def catalog(upstream_url: str) -> str:
    return f"""
providers:
  primary: {{type: openai, base_url: "{upstream_url}", api_key: sk-upstream-secret,
            timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}
  native:  {{type: openai, base_url: "{upstream_url}", api_key: sk-upstream-secret, responses_api: true}}
models:
  gpt-4o-mini:
    price: {{input: {PRICE_IN}, output: {PRICE_OUT}}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
  gpt-native:
    price: {{input: {PRICE_IN}, output: {PRICE_OUT}}}
    deployments: [{{provider: native, upstream: gpt-native}}]
tiers:
  pro: {{rpm: 1000, tpm: 1000000}}
cache: {{mode: exact, ttl_seconds: 60, scope: tenant}}
validation: {{default: pass}}
routing: {{retry: {{min_retries: 1}}}}     # one retry per 10 s window on this quiet gateway
"""


@pytest.fixture
def gateway(upstream: FakeOpenAI, postgres_url: str, tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(make_settings(postgres_url, write_catalog(tmp_path, catalog(upstream.url)))) as gw:
        yield gw


def tenant_client(gw: RunningGateway, mode: str | None) -> tuple[str, OpenAI]:
    extra: dict[str, Any] = {"validation_mode": mode} if mode else {}
    tenant = gw.create_tenant(**extra)
    return tenant, OpenAI(base_url=gw.url + "/v1", api_key=gw.create_key(tenant), max_retries=0, timeout=30)


def ask(client: OpenAI, **extra: Any) -> Any:
    return client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Who is Ada? {unique()}"}],
        response_format=RESPONSE_FORMAT, **extra)


def cost(*texts: str) -> Decimal:
    """What the fake's calls cost: 11 prompt tokens each, a token per word answered."""
    prompt = 11 * len(texts)
    completion = sum(len(t.split()) for t in texts)
    return (prompt * PRICE_IN + completion * PRICE_OUT) / 1_000_000


def only_record(gw: RunningGateway, tenant: str) -> Any:
    rows = gateway_records(gw, tenant)
    assert len(rows) == 1
    return rows[0]


# -- pass ------------------------------------------------------------------------------------

def test_pass_marks_a_failed_answer_and_sends_it(gateway: RunningGateway, upstream: FakeOpenAI,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="gateway.request")
    tenant, client = tenant_client(gateway, "pass")
    before = scrape(gateway.url)
    upstream.then(Behavior(text=PROSE))
    raw = ask(client)
    assert raw.headers["x-gateway-validation"] == "failed"
    assert raw.parse().choices[0].message.content == PROSE
    upstream.then(Behavior(text=GOOD))
    assert ask(client).headers["x-gateway-validation"] == "passed"
    assert len(upstream.requests) == 2
    rows = gateway_records(gateway, tenant, at_least=2)
    assert [r.validation for r in rows] == ["failed", "passed"]
    assert [r.http_status for r in rows] == [200, 200]
    after = scrape(gateway.url)
    assert after.delta(before, "gateway_response_validations_total", verdict="failed") == 1
    assert after.delta(before, "gateway_response_validations_total", verdict="passed") == 1
    lines = [getattr(r, "fields", None) or r.__dict__ for r in caplog.records if r.name == "gateway.request"]
    assert [line.get("validation") for line in lines if line.get("tenant") == tenant] == ["failed", "passed"]


def test_a_request_without_a_schema_is_not_judged(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "reject")
    upstream.then(Behavior(text=PROSE))
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini",
                                                           messages=[{"role": "user", "content": "hi"}])
    assert "x-gateway-validation" not in raw.headers
    assert only_record(gateway, tenant).validation is None


def test_a_failed_answer_is_not_cached(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    _, client = tenant_client(gateway, "pass")
    messages: Any = [{"role": "user", "content": f"Who is Ada? {unique()}"}]
    upstream.then(Behavior(text=PROSE), Behavior(text=GOOD))
    first = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages,
                                                             response_format=RESPONSE_FORMAT)
    second = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages,
                                                              response_format=RESPONSE_FORMAT)
    assert (first.headers["x-gateway-cache"], first.headers["x-gateway-validation"]) == ("miss", "failed")
    assert (second.headers["x-gateway-cache"], second.headers["x-gateway-validation"]) == ("miss", "passed")
    third = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=messages,
                                                             response_format=RESPONSE_FORMAT)
    assert (third.headers["x-gateway-cache"], third.headers["x-gateway-validation"]) == ("hit", "passed")
    assert len(upstream.requests) == 2


# -- retry -----------------------------------------------------------------------------------

def test_retry_asks_once_more_and_charges_both_calls(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "retry")
    upstream.then(Behavior(text=WRONG_TYPE), Behavior(text=GOOD))
    raw = ask(client)
    assert raw.status_code == 200
    assert raw.headers["x-gateway-validation"] == "retried"
    assert raw.parse().choices[0].message.content == GOOD
    assert len(upstream.requests) == 2
    assert upstream.requests[0].body["messages"] == upstream.requests[1].body["messages"]
    record = only_record(gateway, tenant)
    assert record.validation == "retried"
    assert (record.prompt_tokens, record.completion_tokens) == (22, len(WRONG_TYPE.split()) + len(GOOD.split()))
    assert Decimal(record.cost_usd) == cost(WRONG_TYPE, GOOD)


def test_retry_that_fails_again_is_rejected_and_both_calls_charged(gateway: RunningGateway,
                                                                  upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "retry")
    upstream.then(Behavior(text=PROSE), Behavior(text=WRONG_TYPE))
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client)
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-gateway-validation"] == "rejected"
    error = caught.value.response.json()["error"]
    assert error["code"] == "response_validation_failed"
    assert '$.age: "thirty-six" is not of type "integer"' in error["message"]
    assert len(upstream.requests) == 2
    record = only_record(gateway, tenant)
    assert (record.validation, record.http_status, record.status) == ("rejected", 502, "error")
    assert record.prompt_tokens == 22
    assert Decimal(record.cost_usd) == cost(PROSE, WRONG_TYPE)


def test_retry_is_refused_once_the_retry_budget_is_spent(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "retry")
    upstream.then(Behavior(text=PROSE), Behavior(text=GOOD), Behavior(text=PROSE), Behavior(text=GOOD))
    assert ask(client).headers["x-gateway-validation"] == "retried"      # the window's one retry
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client)
    assert caught.value.status_code == 502
    assert len(upstream.requests) == 3                                  # no second retry
    assert [r.validation for r in gateway_records(gateway, tenant, at_least=2)] == ["retried", "rejected"]


# -- reject ----------------------------------------------------------------------------------

def test_reject_is_a_502_in_openais_shape_and_still_charged(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "reject")
    upstream.then(Behavior(text=PROSE))
    with pytest.raises(openai.APIStatusError) as caught:
        ask(client)
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["code"] == "response_validation_failed"
    assert body["error"]["param"] == "response_format"
    assert "the answer is not JSON" in body["error"]["message"]
    assert PROSE not in body["error"]["message"]         # where and why, never the answer
    assert len(upstream.requests) == 1
    record = only_record(gateway, tenant)
    assert (record.validation, record.http_status) == ("rejected", 502)
    assert (record.prompt_tokens, record.completion_tokens) == (11, len(PROSE.split()))
    assert Decimal(record.cost_usd) == cost(PROSE)


def test_an_answer_that_fits_passes_under_reject(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "reject")
    upstream.then(Behavior(text=GOOD))
    assert ask(client).headers["x-gateway-validation"] == "passed"
    assert only_record(gateway, tenant).validation == "passed"


def test_a_schema_that_is_not_one_is_a_400_before_any_call(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    _, client = tenant_client(gateway, "reject")
    bad: Any = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": 12}}}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                       response_format=bad)
    assert caught.value.code == "invalid_json_schema"
    assert upstream.requests == []


# -- streams ---------------------------------------------------------------------------------

def stream_ask(client: OpenAI) -> list[Any]:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Who is Ada? {unique()}"}],
        response_format=RESPONSE_FORMAT, stream=True)
    return list(stream)


def verdict_of(chunks: list[Any]) -> Any:
    last = chunks[-1]
    assert last.choices == []
    return last.model_extra["x_gateway_validation"]


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


@pytest.mark.parametrize(("answer", "verdict"), [(GOOD, "passed"), (PROSE, "failed")])
def test_a_stream_under_pass_ends_with_its_verdict(gateway: RunningGateway, upstream: FakeOpenAI,
                                                  answer: str, verdict: str) -> None:
    tenant, client = tenant_client(gateway, "pass")
    upstream.then(Behavior(text=answer))
    chunks = stream_ask(client)
    assert text_of(chunks) == answer
    mark = verdict_of(chunks)
    assert mark["verdict"] == verdict
    if verdict == "failed":
        assert mark["error"].startswith("the answer is not JSON")
    record = only_record(gateway, tenant)
    assert (record.validation, record.stream, record.http_status) == (verdict, True, 200)


@pytest.mark.parametrize("mode", ["reject", "retry"])
def test_a_failed_stream_under_reject_or_retry_ends_with_an_error(gateway: RunningGateway, upstream: FakeOpenAI,
                                                                 mode: str) -> None:
    tenant, client = tenant_client(gateway, mode)
    upstream.then(Behavior(text=WRONG_TYPE))
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": f"Who is Ada? {unique()}"}],
        response_format=RESPONSE_FORMAT, stream=True)
    seen: list[Any] = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            seen.append(chunk)
    assert text_of(seen) == WRONG_TYPE                  # sent before it could be judged
    assert "does not match the requested JSON Schema" in caught.value.message
    assert len(upstream.requests) == 1                   # what was sent cannot be sent again
    record = only_record(gateway, tenant)
    assert (record.validation, record.http_status) == ("rejected", 502)
    assert record.completion_tokens == len(WRONG_TYPE.split())   # charged


def test_a_stream_that_fits_passes_under_reject(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "reject")
    upstream.then(Behavior(pieces=['{"name": ', '"Ada", "a', 'ge": 36}']))
    chunks = stream_ask(client)
    assert verdict_of(chunks) == {"verdict": "passed"}
    assert only_record(gateway, tenant).validation == "passed"


# -- the Responses API (text.format) ---------------------------------------------------------

TEXT_FORMAT: Any = {"format": {"type": "json_schema", "name": "person", "schema": SCHEMA, "strict": True}}


def test_responses_reject_is_a_502(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "reject")
    upstream.then(Behavior(text=PROSE))
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(model="gpt-4o-mini", input=f"Who is Ada? {unique()}", text=TEXT_FORMAT)
    assert caught.value.status_code == 502
    assert caught.value.response.json()["error"]["code"] == "response_validation_failed"
    assert upstream.requests[0].body["response_format"]["json_schema"]["schema"] == SCHEMA
    record = only_record(gateway, tenant)
    assert (record.validation, record.api) == ("rejected", "responses")


def test_responses_pass_marks_header_and_metadata(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    _, client = tenant_client(gateway, "pass")
    upstream.then(Behavior(text=WRONG_TYPE))
    raw = client.responses.with_raw_response.create(model="gpt-4o-mini", input=f"Ada? {unique()}", text=TEXT_FORMAT)
    assert raw.headers["x-gateway-validation"] == "failed"
    assert raw.parse().metadata == {"gateway_validation": "failed"}


def test_responses_stream_carries_the_verdict_in_response_completed(gateway: RunningGateway,
                                                                    upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "retry")
    upstream.then(Behavior(text=GOOD))
    events = list(client.responses.create(model="gpt-4o-mini", input=f"Ada? {unique()}", text=TEXT_FORMAT,
                                          stream=True))
    completed = [e for e in events if e.type == "response.completed"]
    assert len(completed) == 1
    assert completed[0].response.metadata == {"gateway_validation": "passed"}
    assert completed[0].response.output_text == GOOD
    assert only_record(gateway, tenant).validation == "passed"


def test_responses_stream_rejected_ends_with_an_error_event(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    tenant, client = tenant_client(gateway, "reject")
    upstream.then(Behavior(text=PROSE))
    events: list[Any] = list(client.responses.create(model="gpt-4o-mini", input=f"Ada? {unique()}",
                                                     text=TEXT_FORMAT, stream=True))
    kinds = [e.type for e in events]
    assert kinds[-2:] == ["error", "response.failed"]
    assert "response.completed" not in kinds
    assert events[-2].code == "response_validation_failed"
    assert only_record(gateway, tenant).validation == "rejected"


def test_a_schema_keeps_responses_off_the_pass_through(gateway: RunningGateway, upstream: FakeOpenAI) -> None:
    """An upstream with its own Responses API gets the body as it came -- except when the
    answer must be judged: then it is translated, so the gateway reads a chat answer."""
    _, client = tenant_client(gateway, "reject")
    client.responses.create(model="gpt-native", input="plain")
    upstream.then(Behavior(text=GOOD))
    judged = client.responses.with_raw_response.create(model="gpt-native", input=f"Ada? {unique()}",
                                                       text=TEXT_FORMAT)
    assert [r.path for r in upstream.requests] == ["/v1/responses", "/v1/chat/completions"]
    assert judged.headers["x-gateway-validation"] == "passed"


# -- a stored prompt's schema and policy -------------------------------------------------------

def test_a_stored_prompts_schema_and_policy_apply_over_the_tenants(gateway: RunningGateway,
                                                                   upstream: FakeOpenAI) -> None:
    """The prompt registry (issue 20, part 1) and validation meet: the prompt's response schema
    becomes the request's, its `reject` overrides the tenant's `pass`, and the record names the
    prompt version that failed -- what `usage --group-by prompt,version` counts."""
    tenant, client = tenant_client(gateway, "pass")
    content = {"model": "gpt-4o-mini", "input": "Who is {{who}}?", "response_schema": SCHEMA, "validation": "reject"}
    created = gateway.admin("POST", "/admin/prompts", json={"id": "person", "content": content, "tenant": tenant})
    assert created.status_code == 201, created.text
    upstream.then(Behavior(text=PROSE))
    with pytest.raises(openai.APIStatusError) as caught:
        client.responses.create(prompt={"id": "person", "variables": {"who": "Ada"}})
    assert caught.value.status_code == 502
    assert caught.value.response.json()["error"]["code"] == "response_validation_failed"
    assert upstream.requests[-1].body["response_format"]["json_schema"]["schema"] == SCHEMA
    upstream.then(Behavior(text=GOOD))
    reply = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "now"}],
        extra_headers={"x-gateway-prompt": "person@1"}, extra_body={"prompt_variables": {"who": "Ada"}})
    assert reply.headers["x-gateway-validation"] == "passed"
    rows = gateway_records(gateway, tenant, at_least=2)
    assert [(r.prompt_id, r.prompt_version, r.validation, r.http_status) for r in rows] == [
        ("person", 1, "rejected", 502), ("person", 1, "passed", 200)]
