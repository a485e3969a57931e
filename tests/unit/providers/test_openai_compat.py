"""The OpenAI-compatible base without a network: the body it builds, the URL and auth hooks,
and its reading of answers and errors, through a MockTransport (providers/http.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
import pytest

from providers.base import ChatRequest, ErrorKind, ProviderError
from providers.http import MockRequest, MockResponse, MockTransport
from providers.openai import OpenAIProvider
from providers.openai_compat import OpenAICompatibleProvider
from providers.vllm import VLLMProvider

BODY: dict[str, Any] = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.2,
                        "metadata": {"feature": "x"}}
COMPLETION = {"id": "c1", "object": "chat.completion", "choices": [
    {"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


def provider(answer: MockResponse, **options: Any) -> tuple[OpenAIProvider, MockTransport]:
    transport = MockTransport(lambda request: answer)
    return OpenAIProvider("up", ["http://up.test/v1"], transport=lambda timeouts: transport, **options), transport


def test_the_body_carries_the_upstream_model_and_everything_else_the_client_sent() -> None:
    p, _ = provider(MockResponse(json=COMPLETION))
    request = ChatRequest(dict(BODY))

    sent = orjson.loads(p.build_body(request, "gpt-4o-mini-2024-07-18"))
    assert sent == {**BODY, "model": "gpt-4o-mini-2024-07-18"}
    assert request.body["model"] == "gpt-4o-mini"                 # the client's request is not changed


def test_a_stream_always_asks_for_usage_and_keeps_the_clients_stream_options() -> None:

    p, _ = provider(MockResponse(json=COMPLETION))
    plain = orjson.loads(p.build_body(ChatRequest({**BODY, "stream": True}), "m"))
    assert plain["stream_options"] == {"include_usage": True}
    kept = orjson.loads(p.build_body(ChatRequest({**BODY, "stream": True,
                                                  "stream_options": {"include_usage": False, "x": 1}}), "m"))
    assert kept["stream_options"] == {"include_usage": True, "x": 1}
    assert "stream_options" not in orjson.loads(p.build_body(ChatRequest(BODY), "m"))


async def test_a_completion_is_forwarded_as_the_upstreams_bytes_with_its_usage() -> None:
    answer = MockResponse(json=COMPLETION)
    p, transport = provider(answer, api_key="sk-upstream")
    result = await p.chat(ChatRequest(BODY), "m")
    assert result.raw == await answer.read() and result.usage.total_tokens == 4
    (sent,) = transport.requests
    assert sent.url == "http://up.test/v1/chat/completions"
    assert sent.headers["Authorization"] == "Bearer sk-upstream" and sent.json()["model"] == "m"
    assert answer.released


async def test_no_key_sends_no_authorization() -> None:
    p, transport = provider(MockResponse(json=COMPLETION))
    await p.chat(ChatRequest(BODY), "m")
    assert "Authorization" not in transport.requests[0].headers


class Deployments(OpenAICompatibleProvider):
    """An upstream with its own paths and header (as Azure OpenAI has): only the hooks change."""

    type = "test-deployments"
    genai_system = "test"
    options = frozenset()

    @classmethod
    def from_config(cls, config: Any) -> Deployments:
        raise NotImplementedError

    def url(self, endpoint: str, route: str, upstream_model: str) -> str:
        return f"{endpoint}/deployments/{upstream_model}/{route}?api-version=1"

    async def auth_headers(self) -> Mapping[str, str]:
        return {"api-key": "k-1"}


async def test_the_url_and_auth_hooks_place_every_request() -> None:
    transport = MockTransport(lambda request: MockResponse(json={"data": [], "usage": {"prompt_tokens": 1}}))
    p = Deployments("az", ["https://az.test/openai"], transport=lambda timeouts: transport)
    await p.embeddings({"input": "x"}, "emb")
    (sent,) = transport.requests
    assert sent.url == "https://az.test/openai/deployments/emb/embeddings?api-version=1"
    assert sent.headers["api-key"] == "k-1" and "Authorization" not in sent.headers


@pytest.mark.parametrize(("status", "kind", "client_status"), [
    (400, ErrorKind.BAD_REQUEST, 400), (404, ErrorKind.BAD_REQUEST, 404), (401, ErrorKind.AUTH, 502),
    (429, ErrorKind.RATE_LIMITED, 429), (503, ErrorKind.SERVER, 503)])
async def test_error_answers_are_classified_once(status: int, kind: ErrorKind, client_status: int) -> None:
    error = {"error": {"message": "nope", "type": "invalid_request_error"}}
    p, _ = provider(MockResponse(status, json=error, headers={"Retry-After": "2"}))
    with pytest.raises(ProviderError) as raised:
        await p.chat(ChatRequest(BODY), "m")
    assert (raised.value.kind, raised.value.status) == (kind, client_status)
    if kind is ErrorKind.BAD_REQUEST:
        assert raised.value.body == error                       # passed through to the client as it came
    if kind is ErrorKind.RATE_LIMITED:
        assert raised.value.retry_after == 2.0
    assert "sk-" not in raised.value.message


async def test_a_stream_yields_each_event_and_ends_at_done() -> None:
    events = [b'data: {"choices":[{"index":0,"delta":{"content":"a"}}]}\n\n',
              b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1}}\n\n', b"data: [DONE]\n\n"]
    answer = MockResponse(chunks=events, headers={"Content-Type": "text/event-stream"})
    p, transport = provider(answer)
    chunks = [c async for c in p.chat_stream(ChatRequest({**BODY, "stream": True}), "m")]
    assert [c.data["choices"] for c in chunks] == [[{"index": 0, "delta": {"content": "a"}}], []]
    assert chunks[-1].is_usage_only and transport.requests[0].json()["stream_options"]["include_usage"]
    assert answer.released and not answer.closed


async def test_a_stream_cut_before_done_is_a_stream_error_and_the_connection_is_dropped() -> None:
    answer = MockResponse(chunks=[b'data: {"choices":[]}\n\n'], headers={"Content-Type": "text/event-stream"})
    p, _ = provider(answer)
    with pytest.raises(ProviderError) as raised:
        async for _ in p.chat_stream(ChatRequest({**BODY, "stream": True}), "m"):
            pass
    assert raised.value.kind is ErrorKind.STREAM and answer.closed


async def test_a_failure_before_the_first_byte_raises_from_the_first_read() -> None:
    p, _ = provider(MockResponse(500, json={"error": {"message": "down"}}))
    stream = p.chat_stream(ChatRequest({**BODY, "stream": True}), "m")    # nothing is sent yet
    with pytest.raises(ProviderError) as raised:
        await anext(stream)
    assert raised.value.kind is ErrorKind.SERVER and raised.value.retryable


def test_vllm_pool_declares_its_identity() -> None:
    assert ("endpoints" in VLLMProvider.identity_options, VLLMProvider.genai_system) == (True, "vllm")


async def test_a_handler_may_be_async_and_sees_the_request() -> None:
    async def handler(request: MockRequest) -> MockResponse:
        return MockResponse(json={**COMPLETION, "model": request.json()["model"]})

    transport = MockTransport(handler)
    p = OpenAIProvider("up", ["http://up.test/v1"], transport=lambda timeouts: transport)
    result = await p.chat(ChatRequest(BODY), "served-model")
    assert result.body["model"] == "served-model"
    await p.close()
    assert transport.closed
