"""Response scanning (`guardrails.pii.responses: redact`): a whole answer and a streamed one,
choice by choice. In a stream only what a match can span is held back, and what a choice
holds goes out before the chunk that carries its finish_reason."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from prometheus_client import REGISTRY

from gateway.catalog import PiiPolicy
from gateway.pipeline.guardrails import ResponseRedactor, ScanForPii
from gateway.request import CacheStatus, RequestContext
from gateway.tenancy.models import ApiKey, Principal, Tenant
from providers.base import ChatRequest, ChatResult, Usage
from tests.conftest import unique

HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
USAGE_CHUNK = {**HEAD, "choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}}


def context(pii_mode: str | None = None) -> RequestContext:
    tenant = unique()
    ctx = RequestContext(request_id="req-1", api_key="sk-x",
                         request=ChatRequest({"model": "gpt-4o-mini", "messages": [], "stream": True}))
    ctx.principal = Principal(tenant=Tenant(id=tenant, name=tenant, tier="pro", models=("*",), pii_mode=pii_mode),
                              key=ApiKey(id="k1", tenant_id=tenant, prefix="sk-x", label=None, expires_at=None,
                                         revoked_at=None))
    return ctx


def scanner(responses: str = "redact", mode: str = "redact") -> ScanForPii:
    return ScanForPii(PiiPolicy.model_validate({"mode": mode, "responses": responses}))


def chunk(index: int = 0, finish: str | None = None, **delta: Any) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def run(redactor: ResponseRedactor, chunks: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The chunks sent for each chunk received, and at the end."""
    sent = [redactor.chunk(copy.deepcopy(c)) for c in chunks]
    return [*sent, redactor.end()]


def texts(sent: list[list[dict[str, Any]]], index: int = 0) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for group in sent for c in group
                   if c["choices"] and c["choices"][0]["index"] == index)


def sdk_content(chunks: list[dict[str, Any]]) -> list[str | None]:
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for data in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(data))
    return [choice.message.content for choice in state.get_final_completion().choices]


def events(ctx: RequestContext, pii_type: str) -> float:
    labels = {"tenant": ctx.tenant_name, "type": pii_type}
    return REGISTRY.get_sample_value("gateway_guardrail_events_total", labels) or 0.0


@pytest.mark.parametrize(("responses", "mode", "scanned"), [
    ("redact", "redact", True), ("redact", "block", True), ("redact", "monitor", False),
    ("redact", "off", False), ("off", "redact", False),
])
def test_which_requests_have_their_answers_scanned(responses: str, mode: str, scanned: bool) -> None:
    ctx = context()
    assert scanner(responses, mode).scans_responses(ctx) is scanned
    assert (scanner(responses, "redact").stream_redactor(context(pii_mode=mode)) is not None) is scanned


def test_a_cache_hit_is_not_scanned_again() -> None:
    ctx = context()
    ctx.cache_status = CacheStatus.HIT
    assert scanner().stream_redactor(ctx) is None


def test_a_whole_answer_has_its_content_and_refusal_redacted_and_tool_arguments_kept() -> None:
    ctx = context()
    body = {"id": "c", "object": "chat.completion", "choices": [
        {"index": 0, "finish_reason": "stop", "logprobs": {"content": [{"token": "4111", "logprob": 0.0}]},
         "message": {"role": "assistant", "content": "Your card 4111 1111 1111 1111 is on file, bob@example.com."}},
        {"index": 1, "finish_reason": "tool_calls", "logprobs": None,
         "message": {"role": "assistant", "content": None, "refusal": "Not for 123-45-6789.",
                     "tool_calls": [{"id": "call_1", "type": "function", "function": {
                         "name": "send_email", "arguments": '{"to": "bob@example.com"}'}}]}}]}
    ctx.result = ChatResult(body=body, usage=Usage(), raw=b"upstream bytes")
    scanner().redact_result(ctx)
    choices = ctx.result.body["choices"]
    assert choices[0]["message"]["content"] == "Your card [REDACTED-CREDIT_CARD] is on file, [REDACTED-EMAIL]."
    assert choices[0]["logprobs"] is None          # its tokens would spell the number out
    assert choices[1]["message"]["refusal"] == "Not for [REDACTED-SSN]."
    assert choices[1]["message"]["tool_calls"][0]["function"]["arguments"] == '{"to": "bob@example.com"}'
    assert ctx.result.raw is None and b"4111" not in ctx.result.to_bytes()
    assert ctx.redactions == {"credit_card": 1, "email": 1, "ssn": 1}
    assert events(ctx, "credit_card") == 1


def test_a_clean_whole_answer_keeps_the_upstream_bytes() -> None:
    ctx = context()
    ctx.result = ChatResult(body={"choices": [{"index": 0, "message": {"content": "Order 12 ships today."},
                                               "logprobs": None, "finish_reason": "stop"}]},
                            usage=Usage(), raw=b"upstream bytes")
    scanner().redact_result(ctx)
    assert ctx.result.raw == b"upstream bytes" and not ctx.redactions


def test_a_card_split_over_three_chunks_is_redacted_and_the_rest_is_not_delayed() -> None:
    ctx = context()
    redactor = scanner().stream_redactor(ctx)
    assert redactor is not None
    stream = [chunk(role="assistant", content=""), chunk(content="Your card 4111 11"), chunk(content="11 1111 1"),
              chunk(content="111 is on file."), chunk(finish="stop"), USAGE_CHUNK]
    sent = run(redactor, stream)
    assert texts(sent) == "Your card [REDACTED-CREDIT_CARD] is on file."
    assert sent[1][0]["choices"][0]["delta"]["content"] == "Your card "       # at once, not held
    assert all("4" not in texts([group]) and "1" not in texts([group]) for group in sent)
    assert ctx.redactions == {"credit_card": 1} and events(ctx, "credit_card") == 1
    # one chunk in, one out, except the finish: the held text in a chunk of its own, then the finish
    assert [len(group) for group in sent] == [1, 1, 1, 1, 2, 1, 0]
    held, finish = sent[4]
    assert held["choices"][0]["finish_reason"] is None and held["choices"][0]["delta"]["content"]
    assert finish["choices"][0]["finish_reason"] == "stop" and "content" not in finish["choices"][0]["delta"]
    assert sent[5] == [USAGE_CHUNK]
    assert sdk_content([c for group in sent for c in group]) == ["Your card [REDACTED-CREDIT_CARD] is on file."]


def test_text_in_the_finishing_chunk_is_sent_ahead_of_the_finish() -> None:
    redactor = scanner().stream_redactor(context())
    assert redactor is not None
    sent = run(redactor, [chunk(role="assistant", content="mail bob@exa"), chunk(content="mple.com", finish="stop")])
    held, finish = sent[1]
    assert held["choices"][0]["delta"] == {"content": "[REDACTED-EMAIL]"}
    assert finish["choices"][0]["finish_reason"] == "stop" and finish["choices"][0]["delta"] == {}


def test_choices_are_redacted_each_on_its_own() -> None:
    redactor = scanner().stream_redactor(context())
    assert redactor is not None
    stream = [chunk(0, role="assistant", content="SSN 123-4"), chunk(1, role="assistant", content="card 5555 5555"),
              chunk(0, content="5-6789 ok"), chunk(1, content=" 5555 4444 ok"), chunk(0, finish="stop"),
              chunk(1, finish="stop")]
    sent = run(redactor, stream)
    assert texts(sent, 0) == "SSN [REDACTED-SSN] ok"
    assert texts(sent, 1) == "card [REDACTED-CREDIT_CARD] ok"
    assert sdk_content([c for group in sent for c in group]) == ["SSN [REDACTED-SSN] ok",
                                                                  "card [REDACTED-CREDIT_CARD] ok"]


def test_a_stream_that_ends_without_finishing_releases_what_was_held() -> None:
    redactor = scanner().stream_redactor(context())
    assert redactor is not None
    sent = run(redactor, [chunk(role="assistant", content="call 212-555-01"), chunk(content="99")])
    assert texts(sent) == "call [REDACTED-PHONE_US]"
    assert sent[-1] and sent[-1][0]["choices"][0]["finish_reason"] is None


def test_refusals_are_redacted_in_a_stream_and_logprobs_dropped() -> None:
    redactor = scanner().stream_redactor(context())
    assert redactor is not None
    first = chunk(role="assistant", refusal="No, 123-45-")
    first["choices"][0]["logprobs"] = {"refusal": [{"token": "123", "logprob": 0.0}]}
    sent = run(redactor, [first, chunk(refusal="6789.", finish="stop")])
    refusal = "".join(c["choices"][0]["delta"].get("refusal") or "" for group in sent for c in group)
    assert refusal == "No, [REDACTED-SSN]."
    assert all(c["choices"][0]["logprobs"] is None for group in sent for c in group)


def test_tool_call_fragments_pass_unchanged() -> None:
    redactor = scanner().stream_redactor(context())
    assert redactor is not None
    call = chunk(tool_calls=[{"index": 0, "id": "c1", "type": "function",
                              "function": {"name": "send_email", "arguments": '{"to": "bob@example.com"}'}}])
    assert redactor.chunk(copy.deepcopy(call)) == [call]
