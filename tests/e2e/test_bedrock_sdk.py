"""The official OpenAI SDK against the gateway serving Bedrock-backed models, with the fake
Bedrock server (SigV4-checked, event-stream framed) behind it: what an application sees."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import OpenAI

from tests.conftest import make_settings
from tests.fakes.bedrock_server import SECRET_KEY, FakeBedrock, Reply, StreamFault, use_fake_credentials
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

UPSTREAM = "us.anthropic.claude-sonnet-4-20250514-v1:0"
WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "description": "Weather now", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
CATALOG = """
providers:
  bedrock-use1: {{type: bedrock, region: us-east-1, endpoint_url: "{use1}",
                 timeouts: {{connect: 2, first_byte: 2, idle: 1, total: 30}}}}
  bedrock-usw2: {{type: bedrock, region: us-west-2, endpoint_url: "{usw2}",
                 timeouts: {{connect: 2, first_byte: 2, idle: 1, total: 30}}}}
models:
  claude-sonnet-4:
    price: {{input: 3.0, output: 15.0}}
    deployments: [{{provider: bedrock-use1, upstream: "{upstream}"}}]
  claude-two-regions:
    price: {{input: 3.0, output: 15.0}}
    deployments:
      - {{provider: bedrock-use1, upstream: "{upstream}"}}
      - {{provider: bedrock-usw2, upstream: "{upstream}"}}
  titan-embed:
    kind: embeddings
    price: {{input: 0.02, output: 0}}
    deployments: [{{provider: bedrock-use1, upstream: "amazon.titan-embed-text-v2:0"}}]
tiers:
  pro: {{rpm: 1000, tpm: 1000000}}
cache: {{mode: "off"}}
"""


@pytest.fixture
def fakes() -> Iterator[tuple[FakeBedrock, FakeBedrock]]:
    with FakeBedrock.in_thread("us-east-1") as use1, FakeBedrock.in_thread("us-west-2") as usw2:
        yield use1, usw2


@pytest.fixture
def use1(fakes: tuple[FakeBedrock, FakeBedrock]) -> FakeBedrock:
    return fakes[0]


@pytest.fixture
def gateway(fakes: tuple[FakeBedrock, FakeBedrock], sqlite_url: str, tmp_path: Path,
            monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    use_fake_credentials(monkeypatch, tmp_path)
    config = write_catalog(tmp_path, CATALOG.format(use1=fakes[0].url, usw2=fakes[1].url, upstream=UPSTREAM))
    with running_gateway(make_settings(sqlite_url, config)) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> OpenAI:
    return OpenAI(base_url=gateway.url + "/v1", api_key=gateway.create_key(), max_retries=0, timeout=30)


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_completion(client: OpenAI, use1: FakeBedrock) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude-sonnet-4", messages=[{"role": "system", "content": "be brief"}, *ask("hello there")],
        max_tokens=100, temperature=0.3)
    completion = raw.parse()
    assert completion.choices[0].message.content == "echo: hello there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (11, 3)
    assert raw.headers["x-gateway-provider"] == "bedrock-use1"
    seen = use1.received[-1]
    assert seen.model_id == UPSTREAM and seen.body["system"] == [{"text": "be brief"}]
    assert seen.body["inferenceConfig"] == {"maxTokens": 100, "temperature": 0.3}


def test_stream(client: OpenAI, use1: FakeBedrock) -> None:
    use1.write_size = 5
    chunks = list(client.chat.completions.create(model="claude-sonnet-4", messages=ask("one two three"),
                                                 stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == 4
    assert use1.received[-1].operation == "ConverseStream"


def test_stream_without_include_usage_gets_no_usage_chunk(client: OpenAI) -> None:
    chunks = list(client.chat.completions.create(model="claude-sonnet-4", messages=ask("a b"), stream=True))
    assert chunks and all(c.choices and c.usage is None for c in chunks)


@pytest.mark.parametrize("streamed", [False, True])
def test_tool_call_round_trip_with_two_parallel_calls(client: OpenAI, use1: FakeBedrock, streamed: bool) -> None:
    use1.replies.append(Reply(text="Let me check both.", tool_uses=[
        ("tooluse_paris01", "get_weather", {"city": "Paris"}), ("tooluse_oslo02", "get_weather", {"city": "Oslo"})]))
    messages = ask("Weather in Paris and Oslo?")
    if streamed:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in client.chat.completions.create(model="claude-sonnet-4", messages=messages, tools=[WEATHER],
                                                    stream=True):
            for delta in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                call = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                call["id"] = delta.id or call["id"]
                call["name"] = (delta.function.name if delta.function else None) or call["name"]
                call["arguments"] += (delta.function.arguments if delta.function else None) or ""
            finish = (chunk.choices[0].finish_reason if chunk.choices else None) or finish
        tool_calls: list[dict[str, Any]] = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for _, c in sorted(calls.items())]
    else:
        completion = client.chat.completions.create(model="claude-sonnet-4", messages=messages, tools=[WEATHER],
                                                    tool_choice="auto")
        finish = completion.choices[0].finish_reason
        assert completion.choices[0].message.tool_calls is not None
        tool_calls = [c.model_dump(include={"id", "type", "function"}) for c in completion.choices[0].message.tool_calls]
    assert finish == "tool_calls"
    assert [(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in tool_calls] == [
        ("tooluse_paris01", "get_weather", {"city": "Paris"}), ("tooluse_oslo02", "get_weather", {"city": "Oslo"})]

    messages += [{"role": "assistant", "content": "Let me check both.", "tool_calls": tool_calls},
                 {"role": "tool", "tool_call_id": "tooluse_paris01", "content": "18C, sunny"},
                 {"role": "tool", "tool_call_id": "tooluse_oslo02", "content": "4C, rain"}]
    answer = client.chat.completions.create(model="claude-sonnet-4", messages=messages, tools=[WEATHER])
    assert answer.choices[0].message.content == "tool results: tooluse_paris01=18C, sunny; tooluse_oslo02=4C, rain"
    sent = use1.received[-1].body
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert [next(iter(b)) for b in sent["messages"][2]["content"]] == ["toolResult", "toolResult"]
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"


def test_validation_exception_is_a_400_with_bedrocks_message(client: OpenAI, use1: FakeBedrock) -> None:
    use1.fail("ValidationException", "messages: roles must alternate between user and assistant")
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude-sonnet-4", messages=ask("x"))
    assert "roles must alternate" in caught.value.message


def test_unsupported_parameter_is_a_400_naming_it(client: OpenAI, use1: FakeBedrock) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude-sonnet-4", messages=ask("x"), n=2, logprobs=True)
    assert "logprobs, n" in caught.value.message and caught.value.param == "logprobs"
    assert use1.received == []


def test_access_denied_is_a_502_naming_the_iam_problem(client: OpenAI, use1: FakeBedrock) -> None:
    use1.fail("AccessDeniedException", "User: arn:aws:sts::123456789012:assumed-role/gateway/x is not "
              "authorized to perform: bedrock:InvokeModel")
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="claude-sonnet-4", messages=ask("x"))
    assert caught.value.status_code == 502
    assert "bedrock:InvokeModel" in caught.value.message and SECRET_KEY not in caught.value.message
    assert "123456789012" not in caught.value.message


@pytest.mark.parametrize(("error_type", "status"), [
    ("ThrottlingException", 503), ("ServiceUnavailableException", 503), ("ModelNotReadyException", 503),
    ("InternalServerException", 503), ("ModelTimeoutException", 504),
])
def test_retryable_errors_with_no_other_deployment(client: OpenAI, use1: FakeBedrock, error_type: str,
                                                   status: int) -> None:
    # Retryable, but the model has one deployment: the gateway reports that none could serve it.
    use1.fail(error_type)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="claude-sonnet-4", messages=ask("x"))
    assert caught.value.status_code == status


@pytest.mark.parametrize("error_type", ["ThrottlingException", "ServiceUnavailableException",
                                        "ModelNotReadyException", "InternalServerException"])
def test_retryable_errors_fail_over_to_the_other_region(client: OpenAI, fakes: tuple[FakeBedrock, FakeBedrock],
                                                        error_type: str) -> None:
    use1, usw2 = fakes
    use1.fail(error_type)
    raw = client.chat.completions.with_raw_response.create(model="claude-two-regions", messages=ask("hi there"))
    assert raw.parse().choices[0].message.content == "echo: hi there"
    assert raw.headers["x-gateway-provider"] == "bedrock-usw2"
    assert len(use1.received) == 1 and usw2.received[-1].model_id == UPSTREAM  # tried first, then failed over


def test_throttled_stream_before_first_chunk_fails_over(client: OpenAI, fakes: tuple[FakeBedrock, FakeBedrock]) -> None:
    use1, usw2 = fakes
    use1.stream_fault = StreamFault("exception", after=0, exception="throttlingException")
    chunks = list(client.chat.completions.create(model="claude-two-regions", messages=ask("a b"), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: a b"
    assert usw2.received[-1].operation == "ConverseStream"


@pytest.mark.parametrize("fault", [StreamFault("exception", after=3), StreamFault("cut", after=3),
                                   StreamFault("stall", after=3)])
def test_mid_stream_failure_ends_the_stream_with_an_error(client: OpenAI, fakes: tuple[FakeBedrock, FakeBedrock],
                                                          fault: StreamFault) -> None:
    use1, usw2 = fakes
    use1.stream_fault = fault
    text = ""
    with pytest.raises(openai.APIError):
        for chunk in client.chat.completions.create(model="claude-two-regions", messages=ask("one two three"),
                                                    stream=True):
            text += chunk.choices[0].delta.content or "" if chunk.choices else ""
    assert text == "echo: one "  # what arrived before the failure; no fallback after the first byte
    assert usw2.received == []


def test_embeddings_through_titan(client: OpenAI, use1: FakeBedrock) -> None:
    result = client.embeddings.create(model="titan-embed", input=["first text", "second text here"], dimensions=256)
    assert [d.index for d in result.data] == [0, 1]
    assert all(len(d.embedding) == 256 for d in result.data)
    assert result.usage.prompt_tokens == 5
    assert [r.body["inputText"] for r in sorted(use1.received, key=lambda r: r.body["inputText"])] == [
        "first text", "second text here"]
