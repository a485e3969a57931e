"""The official OpenAI SDK against the gateway serving Azure OpenAI deployments, with the fake
Azure resource (deployment routes, api-version, api-key or Entra ID bearer token checked) and
the fake Entra ID token endpoint behind it."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import openai
import pytest

from tests.e2e.providers.conftest import sdk_client, usage_rows
from tests.fakes import azure_openai_upstream as azure
from tests.fakes.azure_openai_upstream import FakeAzureOpenAI
from tests.fakes.openai_upstream import Behavior
from tests.support.gateway import RunningGateway

WEATHER: Any = {"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}}}}
Fakes = tuple[FakeAzureOpenAI, FakeAzureOpenAI]


def ask(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def test_api_key_completion_at_the_deployment_url(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    first, _ = azure_fakes
    tenant = azure_gateway.create_tenant()
    raw = sdk_client(azure_gateway, tenant).chat.completions.with_raw_response.create(
        model="gpt-4o", messages=ask("hello there"))
    assert raw.parse().choices[0].message.content == "echo: hello there"
    assert raw.headers["x-gateway-provider"] == "azure-key"
    assert [(c.path, c.api_version, c.auth) for c in first.calls] == [
        ("/openai/deployments/gpt-4o-prod/chat/completions", "2024-10-21", "api-key")]
    headers = {k.lower() for k in first.openai.requests[-1].headers}
    assert "authorization" not in headers
    [record] = usage_rows(azure_gateway, tenant, 1)
    assert (record.provider, record.upstream_model, record.prompt_tokens, record.completion_tokens) == (
        "azure-key", "gpt-4o-prod", 11, 3)
    assert Decimal(record.cost_usd) == (Decimal(11) * Decimal("2.5") + Decimal(3) * 10) / 1_000_000


def test_api_key_stream_with_usage(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    chunks = list(sdk_client(azure_gateway).chat.completions.create(
        model="gpt-4o", messages=ask("one two three"), stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: one two three"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
    assert azure_fakes[0].calls[-1].path == "/openai/deployments/gpt-4o-prod/chat/completions"


def test_entra_id_token_is_fetched_once_and_reused(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    _, second = azure_fakes
    tenant = azure_gateway.create_tenant()
    client = sdk_client(azure_gateway, tenant)
    assert client.chat.completions.create(model="gpt-4o-entra", messages=ask("a")).choices[0].message.content == "echo: a"
    chunks = list(client.chat.completions.create(model="gpt-4o-entra", messages=ask("b c"), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo: b c"
    assert [c.auth for c in second.calls] == ["bearer", "bearer"]
    assert [c.api_version for c in second.calls] == ["2025-01-01-preview"] * 2
    assert second.token_requests == 1
    assert "api-key" not in {k.lower() for k in second.openai.requests[-1].headers}
    assert len(usage_rows(azure_gateway, tenant, 2)) == 2


def test_entra_id_token_is_renewed_before_it_expires(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    _, second = azure_fakes
    second.token_lifetime = 1     # renewed at half its life when that is under the 5-minute margin
    client = sdk_client(azure_gateway)
    client.chat.completions.create(model="gpt-4o-entra", messages=ask("a"))
    time.sleep(0.6)
    client.chat.completions.create(model="gpt-4o-entra", messages=ask("b"))
    assert second.token_requests == 2 and [c.auth for c in second.calls] == ["bearer", "bearer"]


def test_embeddings_with_an_entra_id_token(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    result = sdk_client(azure_gateway).embeddings.create(model="embed", input=["first", "second one"])
    assert [d.embedding[-1] for d in result.data] == [5.0, 10.0]     # the fake's marker: len(text)
    assert azure_fakes[1].calls[-1].path == "/openai/deployments/embed-small/embeddings"


def test_v1_routes_carry_the_deployment_in_the_body(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    first, _ = azure_fakes
    completion = sdk_client(azure_gateway).chat.completions.create(model="gpt-4o-v1", messages=ask("hi"))
    assert completion.choices[0].message.content == "echo: hi"
    assert (first.calls[-1].path, first.calls[-1].api_version) == ("/openai/v1/chat/completions", None)
    assert first.openai.requests[-1].body["model"] == "gpt-4o-prod"


def test_tool_call_round_trip(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    first, _ = azure_fakes
    client = sdk_client(azure_gateway)
    messages = ask("Weather in Paris and Oslo?")
    completion = client.chat.completions.create(model="gpt-4o", messages=messages, tools=[WEATHER])
    assert completion.choices[0].finish_reason == "tool_calls"
    calls = completion.choices[0].message.tool_calls
    assert calls is not None
    assert [json.loads(c.function.arguments)["city"] for c in calls if c.type == "function"] == ["Paris", "Oslo"]
    messages += [{"role": "assistant", "content": None, "tool_calls": [c.model_dump(include={"id", "type", "function"})
                                                                       for c in calls]},
                 {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                 {"role": "tool", "tool_call_id": "call_2", "content": "4C"}]
    first.openai.then(Behavior(text="Paris 18C, Oslo 4C"))
    answer = client.chat.completions.create(model="gpt-4o", messages=messages)
    assert answer.choices[0].message.content == "Paris 18C, Oslo 4C"
    assert [m["role"] for m in first.openai.requests[-1].body["messages"]] == ["user", "assistant", "tool", "tool"]


def test_bad_request_stays_the_clients_400(azure_gateway: RunningGateway, azure_fakes: Fakes) -> None:
    first, second = azure_fakes
    first.openai.then(Behavior(kind="status", status=400, body={"error": {
        "message": "The response was filtered", "type": None, "param": "prompt", "code": "content_filter"}}))
    with pytest.raises(openai.BadRequestError) as caught:
        sdk_client(azure_gateway).chat.completions.create(model="gpt-4o-two", messages=ask("x"))
    assert caught.value.code == "content_filter" and "filtered" in caught.value.message
    assert second.calls == []


@pytest.mark.parametrize("behavior", [Behavior(kind="status", status=429, retry_after="30"),
                                      Behavior(kind="status", status=503)], ids=["429", "503"])
def test_retryable_errors_fail_over_from_api_key_to_entra_deployment(azure_gateway: RunningGateway,
                                                                     azure_fakes: Fakes, behavior: Behavior) -> None:
    first, second = azure_fakes
    first.openai.then(behavior)
    raw = sdk_client(azure_gateway).chat.completions.with_raw_response.create(model="gpt-4o-two", messages=ask("hi"))
    assert raw.parse().choices[0].message.content == "echo: hi"
    assert raw.headers["x-gateway-provider"] == "azure-entra"
    assert [c.auth for c in first.calls] == ["api-key"] and [c.auth for c in second.calls] == ["bearer"]


def test_one_deployment_rate_limited_is_a_503_with_retry_after(azure_gateway: RunningGateway,
                                                               azure_fakes: Fakes) -> None:
    azure_fakes[0].openai.then(Behavior(kind="status", status=429, retry_after="9"))
    with pytest.raises(openai.APIStatusError) as caught:
        sdk_client(azure_gateway).chat.completions.create(model="gpt-4o", messages=ask("x"))
    assert caught.value.status_code == 503 and caught.value.response.headers["retry-after"] == "9"


def test_rejected_api_key_is_a_502_without_the_key(azure_gateway: RunningGateway) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        sdk_client(azure_gateway).chat.completions.create(model="gpt-4o-wrong-key", messages=ask("x"))
    assert caught.value.status_code == 502 and "azure-wrong-key" in caught.value.message
    assert "azure-wrong-key-0123456789" not in caught.value.response.text


def test_rejected_client_secret_is_a_502_without_the_secret(azure_gateway: RunningGateway,
                                                            azure_fakes: Fakes) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        sdk_client(azure_gateway).chat.completions.create(model="gpt-4o-wrong-secret", messages=ask("x"))
    text = caught.value.response.text
    assert caught.value.status_code == 502 and "azure-wrong-secret" in text and "invalid_client" in text
    assert "wrong-secret-0123456789" not in text and azure.CLIENT_ID not in text
    assert azure_fakes[1].calls == [] and azure_fakes[1].token_requests == 1


def test_unknown_deployment_is_azures_404_as_the_openai_compatible_base_passes_it(azure_gateway: RunningGateway) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        sdk_client(azure_gateway).chat.completions.create(model="gpt-4o-missing", messages=ask("x"))
    assert caught.value.status_code == 404 and "deployment" in caught.value.message.lower()
