"""Poisoned input and broken upstream answers (issue 24, items 3, 5 and 6). Before: a
`role` or `tool_calls` of the wrong type, or JSON nested past orjson's writing depth,
answered 500 and was recorded as 499 client_closed; an upstream 400 came back without
`param` and `code`; a truncated upstream body answered 503 no_provider_available; a client
that left mid-body was logged at error level as `unhandled error ClientDisconnect`."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.integration.routing.helpers import catalog, usage_record
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

OPENAI_FIELDS = {"message", "type", "param", "code"}
EMBED = "  embed: {kind: embeddings, price: {input: 1, output: 0}, deployments: [{provider: primary, upstream: e}]}\n"


@pytest.fixture
def setup(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str]]:
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        text = catalog(primary.url, secondary.url).replace("models:\n", "models:\n" + EMBED, 1)
        path = write_catalog(tmp_path, text)
        with running_gateway(make_settings(sqlite_url, path)) as gw:
            yield gw, primary, secondary, gw.create_key()


def post(gw: RunningGateway, key: str, body: Any, path: str = "/v1/chat/completions",
         request_id: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "x-api-key": key,
               "anthropic-version": "2023-06-01"}
    if request_id:
        headers["x-request-id"] = request_id
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(gw.url + path, content=content, headers=headers, timeout=30)


def nested(depth: int) -> bytes:
    """`depth` arrays around a string, as bytes: orjson cannot write it past ~254 levels."""
    return b"[" * depth + b'"x"' + b"]" * depth


def with_field(body: dict[str, Any], name: str, raw: bytes) -> bytes:
    return orjson.dumps(body)[:-1] + b', "' + name.encode() + b'": ' + raw + b"}"


def openai_error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= OPENAI_FIELDS, error
    return error


@pytest.mark.parametrize("role", [{}, [], [None]])
def test_a_role_that_is_not_a_string_is_a_400(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str],
                                              role: Any) -> None:
    gw, _, _, key = setup
    response = post(gw, key, {"model": "solo", "messages": [{"role": role, "content": "hi"}]})
    assert openai_error(response, 400)["param"] == "messages[0].role"


@pytest.mark.parametrize("calls", [5, True, 1.5, [5]])
def test_tool_calls_that_are_not_an_array_of_objects_are_a_400(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str], calls: Any) -> None:
    gw, _, _, key = setup
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": calls},
                {"role": "user", "content": "again"}]
    response = post(gw, key, {"model": "solo", "messages": messages})
    assert openai_error(response, 400)["param"] == "messages[1].tool_calls"


@pytest.mark.parametrize("field", ["metadata", "user", "tools", "response_format"])
def test_json_nested_past_the_limit_is_a_400_before_anything_reserialises_it(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str], field: str) -> None:
    gw, upstream, _, key = setup
    body = with_field({"model": "solo", "messages": [{"role": "user", "content": "hi"}]}, field, nested(300))
    error = openai_error(post(gw, key, body), 400)
    assert "64 levels" in error["message"]
    assert upstream.requests == []


def test_deep_json_on_the_messages_api_is_an_anthropic_400(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str]) -> None:
    gw, _, _, key = setup
    body = with_field({"model": "solo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
                      "metadata", nested(300))
    response = post(gw, key, body, "/v1/messages")
    assert response.status_code == 400, response.text
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_json_nested_within_the_limit_is_served(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str]) -> None:
    gw, _, _, key = setup
    body = with_field({"model": "solo", "messages": [{"role": "user", "content": "hi"}]}, "metadata",
                      b'{"x": ' + nested(60) + b"}")
    assert post(gw, key, body).status_code == 200


def test_an_unexpected_failure_is_recorded_as_a_500_error_not_client_closed(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str], monkeypatch: pytest.MonkeyPatch) -> None:
    gw, _, _, key = setup

    async def broken(ctx: object) -> None:
        raise TypeError("a bug in a stage")

    pipeline = gw.runtime.pipeline
    monkeypatch.setattr(pipeline, "stages", (*pipeline.stages[:-1], broken))
    response = post(gw, key, {"model": "solo", "messages": [{"role": "user", "content": "hi"}]},
                    request_id="req-internal-500")
    assert openai_error(response, 500)["code"] == "internal_error"
    record = usage_record(gw, "req-internal-500")
    assert (record["status"], record["http_status"]) == ("error", 500)


def test_an_upstream_400_without_param_and_code_gets_openais_four_fields(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str]) -> None:
    gw, upstream, _, key = setup
    upstream.then(Behavior("status", status=400, body={"error": {"message": "bad thing", "type": "invalid"}}))
    error = openai_error(post(gw, key, {"model": "solo", "messages": [{"role": "user", "content": "hi"}]}), 400)
    assert error == {"message": "bad thing", "type": "invalid", "param": None, "code": None}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings"])
def test_a_truncated_upstream_body_is_a_502(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str],
                                            path: str) -> None:
    gw, upstream, _, key = setup
    upstream.then(Behavior("short"))
    body: dict[str, Any] = ({"model": "solo", "messages": [{"role": "user", "content": "hi"}]}
                            if path.endswith("completions") else {"model": "embed", "input": "hi"})
    upstream.embeddings_cut_short = True
    error = openai_error(post(gw, key, body, path, request_id=f"req-short-{path[4:9]}"), 502)
    assert "cut short" in error["message"]


def test_a_client_that_leaves_mid_body_is_not_an_error_in_the_log(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI, str], caplog: pytest.LogCaptureFixture) -> None:
    gw, _, _, key = setup
    port = int(gw.url.rsplit(":", 1)[1])
    caplog.set_level(logging.INFO)
    for path in ("/v1/chat/completions", "/v1/messages"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n".encode()
                         + f"Authorization: Bearer {key}\r\nContent-Length: 1000\r\n\r\n".encode()
                         + b'{"model": "solo", "messages": [')
            time.sleep(0.2)
    time.sleep(0.5)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
