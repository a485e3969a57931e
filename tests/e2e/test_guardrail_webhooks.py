"""Guardrail webhooks end to end: a real hook server on loopback (tests/fakes/guardrail_hook.py)
that allows, blocks, modifies, hangs past its timeout and answers garbage, each handled as
its `on_error` says (fail open, fail closed), at the request and the response phase, plain
and streamed, through the OpenAI and Anthropic SDKs. What a hook receives never holds the
PII the gateway detects: an e-mail address and an SSN in the messages, and in the answer,
reach it as the redaction placeholders."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from openai import OpenAI

from tests.conftest import make_settings, unique
from tests.fakes.guardrail_hook import MODIFIED_ANSWER, MODIFIED_PROMPT, FakeHooks, FakeHooksServer
from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.integration.telemetry.scrape import Samples, scrape
from tests.integration.usage.conftest import gateway_records
from tests.support.gateway import RunningGateway, running_gateway, write_catalog
from tests.support.threads import free_port

EMAIL, SSN = "alice@example.com", "123-45-6789"
CALLS = "gateway_guardrail_webhook_calls_total"


def catalog(upstream_url: str, hooks: str) -> str:
    return f"""
providers:
  primary: {{type: openai, base_url: "{upstream_url}", api_key: sk-upstream-secret,
            timeouts: {{connect: 2, first_byte: 5, idle: 5, total: 30}}}}
models:
  gpt-4o-mini:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: primary, upstream: gpt-4o-mini}}]
tiers:
  pro: {{rpm: 1000, tpm: 1000000}}
guardrails:
  pii: {{mode: redact, types: [ssn, credit_card, email, phone_us]}}
  webhooks:
{hooks}
cache: {{mode: "off"}}
"""


@pytest.fixture
def hooks() -> Iterator[FakeHooks]:
    with FakeHooksServer() as server:
        yield server


Start = Callable[..., RunningGateway]


@pytest.fixture
def start(upstream: FakeOpenAI, hooks: FakeHooks, sqlite_url: str, tmp_path: Path) -> Iterator[Start]:
    """start((name, phase, on_error, timeout_ms[, url]), ...) -> a gateway with those hooks
    (at the fake hook server unless a url is given)."""
    with ExitStack() as stack:
        def started(*specs: tuple[Any, ...]) -> RunningGateway:
            entries = "\n".join(f"    - {{name: {spec[0]}, url: \"{spec[4] if len(spec) > 4 else hooks.url(spec[0])}\", "
                                f"phase: {spec[1]}, on_error: {spec[2]}, timeout_ms: {spec[3]}}}"
                                for spec in specs)
            config = write_catalog(tmp_path, catalog(upstream.url, entries))
            return stack.enter_context(running_gateway(make_settings(sqlite_url, config)))
        yield started


def client_for(gw: RunningGateway, **tenant: Any) -> tuple[str, OpenAI]:
    name = gw.create_tenant(**tenant)
    return name, OpenAI(base_url=gw.url + "/v1", api_key=gw.create_key(name), max_retries=0, timeout=30)


def ask(client: OpenAI, text: str = "hello", **extra: Any) -> Any:
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": text}], **extra)


def count(gw: RunningGateway, before: Samples, hook: str, phase: str, outcome: str) -> float:
    return scrape(gw.url).delta(before, CALLS, hook=hook, phase=phase, outcome=outcome)


# -- allow, and what a hook receives ---------------------------------------------------------

def test_allow_at_both_phases_and_the_hooks_never_see_unredacted_pii(start: Start, hooks: FakeHooks,
                                                                     upstream: FakeOpenAI) -> None:
    gw = start(("inbound", "request", "block", 2000), ("outbound", "response", "block", 2000))
    tenant, client = client_for(gw)
    before = scrape(gw.url)
    upstream.then(Behavior(text=f"Write to {EMAIL}, SSN {SSN}."))
    answer = ask(client, f"My e-mail is {EMAIL} and my SSN is {SSN}")
    assert answer.choices[0].message.content == f"Write to {EMAIL}, SSN {SSN}."   # responses redaction is off
    [inbound] = hooks.received["inbound"]
    assert inbound["phase"] == "request"
    assert (inbound["tenant"], inbound["model"]) == (tenant, "gpt-4o-mini")
    assert inbound["request_id"]
    assert inbound["messages"] == [{"role": "user",
                                    "content": "My e-mail is [REDACTED-EMAIL] and my SSN is [REDACTED-SSN]"}]
    [outbound] = hooks.received["outbound"]
    assert (outbound["phase"], outbound["choice"]) == ("response", 0)
    assert outbound["content"] == "Write to [REDACTED-EMAIL], SSN [REDACTED-SSN]."
    assert inbound["request_id"] == outbound["request_id"]
    for payload in (inbound, outbound):
        assert EMAIL not in str(payload) and SSN not in str(payload)
    assert count(gw, before, "inbound", "request", "allow") == 1
    assert count(gw, before, "outbound", "response", "allow") == 1


def test_a_monitor_tenants_messages_reach_the_hook_redacted(start: Start, hooks: FakeHooks,
                                                            upstream: FakeOpenAI) -> None:
    gw = start(("inbound", "request", "block", 2000))
    _, client = client_for(gw, pii_mode="monitor")
    ask(client, f"mail {EMAIL}")
    assert upstream.requests[-1].body["messages"][0]["content"] == f"mail {EMAIL}"   # monitor: as sent
    assert hooks.received["inbound"][0]["messages"][0]["content"] == "mail [REDACTED-EMAIL]"


# -- block -----------------------------------------------------------------------------------

def test_a_request_hook_that_blocks_is_a_400_and_no_model_is_called(start: Start, hooks: FakeHooks,
                                                                      upstream: FakeOpenAI) -> None:
    gw = start(("inbound", "request", "allow", 2000))
    hooks.modes["inbound"] = "block"
    tenant, client = client_for(gw)
    before = scrape(gw.url)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client)
    assert caught.value.code == "blocked_by_guardrail"
    assert "inbound says no" in caught.value.message
    assert upstream.requests == []
    assert count(gw, before, "inbound", "request", "block") == 1
    [record] = gateway_records(gw, tenant)
    assert (record.http_status, record.status) == (400, "rejected")


def test_a_response_hook_that_blocks_is_a_400_and_the_call_is_charged(start: Start, hooks: FakeHooks,
                                                                       upstream: FakeOpenAI) -> None:
    gw = start(("outbound", "response", "allow", 2000))
    hooks.modes["outbound"] = "block"
    tenant, client = client_for(gw)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client)
    assert caught.value.code == "blocked_by_guardrail"
    assert len(upstream.requests) == 1
    [record] = gateway_records(gw, tenant)
    assert (record.http_status, record.status) == (400, "rejected")
    assert record.completion_tokens > 0 and record.cost_usd > 0


def test_a_block_on_messages_is_in_anthropics_shape(start: Start, hooks: FakeHooks) -> None:
    gw = start(("inbound", "request", "allow", 2000))
    hooks.modes["inbound"] = "block"
    tenant = gw.create_tenant()
    client = anthropic.Anthropic(base_url=gw.url, api_key=gw.create_key(tenant), max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    body: Any = caught.value.body
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert "inbound says no" in body["error"]["message"]


# -- modify ----------------------------------------------------------------------------------

def test_modify_replaces_the_messages_and_the_answer(start: Start, hooks: FakeHooks, upstream: FakeOpenAI) -> None:
    gw = start(("inbound", "request", "block", 2000), ("outbound", "response", "block", 2000))
    hooks.modes.update(inbound="modify", outbound="modify")
    _, client = client_for(gw)
    answer = ask(client, "the original prompt")
    assert upstream.requests[0].body["messages"] == [{"role": "user", "content": MODIFIED_PROMPT}]
    assert hooks.received["outbound"][0]["content"] == f"echo: {MODIFIED_PROMPT}"
    assert answer.choices[0].message.content == MODIFIED_ANSWER


def test_a_stream_is_judged_whole_before_it_is_sent(start: Start, hooks: FakeHooks, upstream: FakeOpenAI) -> None:
    gw = start(("outbound", "response", "block", 2000))
    hooks.modes["outbound"] = "modify"
    tenant, client = client_for(gw)
    chunks = list(ask(client, "stream me", stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == MODIFIED_ANSWER
    assert hooks.received["outbound"][0]["content"] == "echo: stream me"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    hooks.modes["outbound"] = "block"
    with pytest.raises(openai.BadRequestError):          # blocked before the first byte
        ask(client, "stream me again", stream=True)
    records = gateway_records(gw, tenant, at_least=2)
    assert [(r.stream, r.http_status) for r in records] == [(True, 200), (True, 400)]


def test_responses_and_messages_streams_are_judged_whole_too(start: Start, hooks: FakeHooks) -> None:
    gw = start(("outbound", "response", "block", 2000))
    hooks.modes["outbound"] = "modify"
    tenant, client = client_for(gw)
    events: list[Any] = list(client.responses.create(model="gpt-4o-mini", input="stream me", stream=True))
    completed = [e for e in events if e.type == "response.completed"]
    assert completed[0].response.output_text == MODIFIED_ANSWER
    claude = anthropic.Anthropic(base_url=gw.url, api_key=gw.create_key(tenant), max_retries=0)
    with claude.messages.stream(model="gpt-4o-mini", max_tokens=50,
                                messages=[{"role": "user", "content": "stream me"}]) as stream:
        assert "".join(stream.text_stream) == MODIFIED_ANSWER
    assert [p["content"] for p in hooks.received["outbound"]] == ["echo: stream me", "echo: stream me"]


# -- failing hooks: on_error -----------------------------------------------------------------

@pytest.mark.parametrize(("mode", "outcome"), [("hang", "timeout"), ("garbage", "invalid"),
                                                ("unknown", "invalid"), ("status", "error")])
def test_a_failing_hook_fails_open_or_closed(start: Start, hooks: FakeHooks, upstream: FakeOpenAI,
                                             mode: str, outcome: str) -> None:
    gw = start(("open", "request", "allow", 300), ("closed", "response", "block", 300))
    hooks.modes.update(open=mode, closed=mode)
    _, client = client_for(gw)
    before = scrape(gw.url)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client, f"hello {unique()}")
    assert caught.value.code == "blocked_by_guardrail"
    assert "`closed` failed" in caught.value.message and "fails closed" in caught.value.message
    assert len(upstream.requests) == 1                   # the open one let the request through
    assert count(gw, before, "open", "request", outcome) == 1
    assert count(gw, before, "closed", "response", outcome) == 1


def test_a_hook_that_fails_open_lets_everything_through(start: Start, hooks: FakeHooks) -> None:
    gw = start(("inbound", "request", "allow", 200), ("outbound", "response", "allow", 200))
    hooks.modes.update(inbound="hang", outbound="garbage")
    _, client = client_for(gw)
    assert ask(client, "still there?").choices[0].message.content == "echo: still there?"


def test_an_unreachable_hook_fails_closed(start: Start, upstream: FakeOpenAI) -> None:
    gw = start(("inbound", "request", "block", 500, f"http://127.0.0.1:{free_port()}/hooks/gone"))
    _, client = client_for(gw)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(client)
    assert "could not be reached" in caught.value.message
    assert upstream.requests == []
