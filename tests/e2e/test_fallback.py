"""Fallback walks the deployments of one model on retryable errors only, and never swaps
in another model."""

from __future__ import annotations

import httpx

from tests.fakes.openai_upstream import Behavior, FakeOpenAI
from tests.support.gateway import RunningGateway


def post(gw: RunningGateway, key: str, model: str = "gpt-4o-mini", stream: bool = False) -> httpx.Response:
    return httpx.post(gw.url + "/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json={"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": stream},
                      timeout=30)


def test_503_on_the_first_deployment_falls_back_to_the_second(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, secondary = upstreams
    primary.then(Behavior("status", 503))
    response = post(gateway, gateway.create_key())
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "secondary"
    assert response.json()["model"] == "gpt-4o-mini"
    assert len(primary.requests) == 1 and len(secondary.requests) == 1


def test_stream_falls_back_before_the_first_byte(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, _ = upstreams
    primary.then(Behavior("status", 502))
    response = post(gateway, gateway.create_key(), stream=True)
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "secondary"
    assert response.text.endswith("data: [DONE]\n\n")


def test_429_falls_back(gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, _ = upstreams
    primary.then(Behavior("status", 429, retry_after="1"))
    response = post(gateway, gateway.create_key())
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "secondary"


def test_400_from_the_first_is_returned_as_is_without_fallback(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, secondary = upstreams
    upstream_error = {"error": {"message": "Invalid 'messages[0].content'", "type": "invalid_request_error",
                                "param": "messages", "code": "invalid_value"}}
    primary.then(Behavior("status", 400, body=upstream_error))
    response = post(gateway, gateway.create_key())
    assert response.status_code == 400
    assert response.json() == upstream_error
    assert secondary.requests == []


def test_every_deployment_down_is_503_never_another_model(
        gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, secondary = upstreams
    primary.then(Behavior("status", 500))
    secondary.then(Behavior("status", 503))
    response = post(gateway, gateway.create_key())
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "no_provider_available"
    assert int(response.headers["retry-after"]) >= 1      # every 503 says when to come back (issue 23)
    # `other-model` lives on `secondary` too, and must not have been asked
    assert [r.body["model"] for r in secondary.requests] == ["gpt-4o-mini"]
    assert "sk-upstream-secret" not in response.text


def test_alias_walks_to_its_next_model(gateway: RunningGateway, upstreams: tuple[FakeOpenAI, FakeOpenAI]) -> None:
    primary, secondary = upstreams
    primary.then(Behavior("status", 500))
    secondary.then(Behavior("status", 500))
    response = post(gateway, gateway.create_key(), model="auto")
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "mock"
    assert response.json()["model"] == "mock/echo"
