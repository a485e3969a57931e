"""The official OpenAI SDK against the gateway on a real port: the application developer's view."""

from __future__ import annotations

import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from tests.fakes.openai_upstream import FakeOpenAI
from tests.support.gateway import RunningGateway


def client(gw: RunningGateway, key: str) -> OpenAI:
    return OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0, timeout=30)


def test_completion_from_an_openai_upstream(gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    key = gateway.create_key()
    raw = client(gateway, key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}])
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.usage is not None and completion.usage.prompt_tokens == 11
    assert raw.headers["x-gateway-provider"] == "primary"
    assert raw.headers["x-request-id"]
    # the upstream got the upstream model name and the gateway's credential, not the client's key
    seen = upstreams[0].requests[-1]
    assert seen.body["model"] == "gpt-4o-mini"
    assert seen.headers["Authorization"] == "Bearer sk-upstream-secret-primary"


def test_completion_from_the_mock_provider(gateway: RunningGateway) -> None:
    key = gateway.create_key()
    completion = client(gateway, key).chat.completions.create(
        model="mock-echo", messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "ping pong"}])
    assert completion.choices[0].message.content == "ping pong"
    assert completion.model == "mock/echo"


def test_stream_assembles_from_chunks(gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    key = gateway.create_key()
    stream = client(gateway, key).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "one two three"}], stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert chunks[-1].choices[0].finish_reason == "stop"
    # usage was asked for upstream (to charge it) but not forwarded: the client did not ask
    assert upstreams[0].requests[-1].body["stream_options"] == {"include_usage": True}
    assert all(c.usage is None for c in chunks)


def test_stream_usage_is_forwarded_when_asked(gateway: RunningGateway) -> None:
    key = gateway.create_key()
    chunks = list(client(gateway, key).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "a b"}], stream=True,
        stream_options={"include_usage": True}))
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


def test_tool_calls_pass_through(gateway: RunningGateway) -> None:
    key = gateway.create_key()
    completion = client(gateway, key).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "weather in Paris and Oslo?"}],
        tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {
            "type": "object", "properties": {"city": {"type": "string"}}}}}])
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert [c.function.arguments for c in calls if c.type == "function"] == ['{"city": "Paris"}', '{"city": "Oslo"}']
    assert completion.choices[0].finish_reason == "tool_calls"


def test_models_list_shows_only_what_the_tenant_may_use(gateway: RunningGateway) -> None:
    key = gateway.create_key(models=["gpt-4o*", "auto"])
    ids = {m.id for m in client(gateway, key).models.list()}
    # An alias needs no allowlist entry: it is callable when it reaches an allowed model (README,
    # issue 23); cheapest and fastest rank every model, gpt-4o-mini among them.
    assert ids == {"gpt-4o-mini", "auto", "cheapest", "fastest"}


def test_wrong_key_raises_authentication_error(gateway: RunningGateway) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(gateway, "sk-nobody-" + "x" * 43).chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])


def test_unknown_model_raises_not_found(gateway: RunningGateway) -> None:
    key = gateway.create_key()
    with pytest.raises(openai.NotFoundError):
        client(gateway, key).chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])


def test_model_outside_the_allowlist_is_forbidden(gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    key = gateway.create_key(models=["mock-echo"])
    with pytest.raises(openai.PermissionDeniedError):
        client(gateway, key).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert upstreams[0].requests == [] and upstreams[1].requests == []


def test_over_quota_raises_rate_limit_error(gateway: RunningGateway) -> None:
    key = gateway.create_key(tier="free")   # rpm: 2 in the test catalog
    c = client(gateway, key)
    for _ in range(2):
        c.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "hi"}])
    assert int(caught.value.response.headers["retry-after"]) >= 1


async def test_async_client_completion_and_stream(gateway: RunningGateway) -> None:
    key = gateway.create_key()
    async with AsyncOpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0) as c:
        completion = await c.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "async hi"}])
        assert completion.choices[0].message.content == "async hi"
        stream = await c.chat.completions.create(model="mock-echo", messages=[{"role": "user", "content": "x y z"}],
                                                 stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert text == "x y z"


def test_bad_input_is_a_clear_4xx(gateway: RunningGateway) -> None:
    import httpx

    key = gateway.create_key()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    url = gateway.url + "/v1/chat/completions"
    cases = [
        (b"{not json", 400), (b"[1, 2]", 400), (b'{"model": "mock-echo"}', 400),
        (b'{"model": "mock-echo", "messages": "hi"}', 400),
        (b'{"model": "mock-echo", "messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}', 400),
        (b'{"model": 5, "messages": [{"role": "user", "content": "x"}]}', 400),
        (b'{"model": "mock-echo", "messages": [{"role": "wizard", "content": "x"}]}', 400),
        (b'{"model": "mock-echo", "messages": [{"role": "user", "content": "' + b"x" * (5 * 1024 * 1024) + b'"}]}', 413),
    ]
    for body, status in cases:
        response = httpx.post(url, content=body, headers=headers, timeout=30)
        assert response.status_code == status, (body[:80], response.text)
        error = response.json()["error"]
        assert set(error) == {"message", "type", "param", "code"} and error["message"]
