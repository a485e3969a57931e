"""Upstreams that hang, drip, break or answer garbage: a timeout before the first byte
falls back within the configured bound; after it, the client's stream ends with an error
event; garbage is a 502 that says what was wrong and never leaks the upstream's key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.integration.routing.helpers import catalog, chat, sse_events, usage_record
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

FIRST_BYTE = 1.0
IDLE = 0.4
SLACK = 1.5      # the gateway's own work, the fallback call, and a busy 2-core machine


@pytest.fixture
def setup(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[RunningGateway, FakeOpenAI, FakeOpenAI]]:
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        path = write_catalog(tmp_path, catalog(primary.url, secondary.url, first_byte=FIRST_BYTE, idle=IDLE))
        with running_gateway(make_settings(sqlite_url, path)) as gw:
            yield gw, primary, secondary


@pytest.mark.parametrize("stream", [False, True])
def test_a_hang_before_headers_times_out_and_falls_back_within_the_bound(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI], stream: bool) -> None:
    gw, primary, _ = setup
    primary.then(Behavior("hang"))
    key = gw.create_key()
    started = time.monotonic()
    response = chat(gw, key, stream=stream, timeout=10)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.headers["x-gateway-provider"] == "secondary"
    assert FIRST_BYTE <= elapsed < FIRST_BYTE + SLACK
    assert len(primary.requests) == 1        # a timeout is not retried in place: the next deployment gets the time


def test_a_stream_whose_first_chunk_never_comes_falls_back(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, _ = setup
    primary.then(Behavior("silent_stream"))
    started = time.monotonic()
    response = chat(gw, gw.create_key(), stream=True, timeout=10)
    assert response.status_code == 200
    assert response.headers["x-gateway-provider"] == "secondary"
    assert time.monotonic() - started < FIRST_BYTE + SLACK
    assert sse_events(response.text)[-1] == "[DONE]"


def test_a_connection_reset_mid_stream_ends_the_stream_with_an_error_event_and_a_partial_record(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, secondary = setup
    primary.then(Behavior("slow_cut", chunk_delay=0.05))   # each chunk is relayed before the cut
    words = "one two three four five six seven eight"
    response = chat(gw, gw.create_key(), stream=True, text=words, request_id="req-cut", timeout=10)
    assert response.status_code == 200 and response.headers["x-gateway-provider"] == "primary"
    events = sse_events(response.text)
    assert events[-1] != "[DONE]"
    error = orjson.loads(events[-1])["error"]
    assert error["code"] == "upstream_error" and "stream" in error["message"]
    delivered = "".join(orjson.loads(e)["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert delivered and len(delivered) < len("echo: " + words)
    assert secondary.requests == []          # after the first byte there is no fallback
    record = usage_record(gw, "req-cut")
    assert record["status"] == "error" and record["http_status"] == 502
    assert 0 < record["completion_tokens"] < len(("echo: " + words).split())   # what was produced, not all


def test_a_slow_drip_trips_the_idle_timeout(setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI]) -> None:
    gw, primary, _ = setup
    primary.then(Behavior("drip"))            # a chunk a second, against a 0.4 s idle limit
    started = time.monotonic()
    response = chat(gw, gw.create_key(), stream=True, text="a b c d", request_id="req-drip", timeout=10)
    elapsed = time.monotonic() - started
    events = sse_events(response.text)
    error = orjson.loads(events[-1])["error"]
    assert error["code"] == "upstream_timeout" and "idle" in error["message"]
    assert elapsed < IDLE + SLACK
    assert primary.completed_streams == 0
    record = usage_record(gw, "req-drip")
    assert record["status"] == "error" and record["http_status"] == 504


@pytest.mark.parametrize(("kind", "said"), [("malformed", "malformed JSON"),
                                            ("wrong_type", "content type 'text/html")])
@pytest.mark.parametrize("stream", [False, True])
def test_garbage_from_upstream_is_a_502_that_says_why_and_leaks_no_secret(
        setup: tuple[RunningGateway, FakeOpenAI, FakeOpenAI], kind: str, said: str, stream: bool) -> None:
    gw, primary, _ = setup
    primary.then(Behavior(kind))
    response = chat(gw, gw.create_key(), model="solo", stream=stream, timeout=10)
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "upstream_error"
    assert error["message"].startswith("primary: ")
    if not (stream and kind == "malformed"):   # a stream is judged by its content type first
        assert said in error["message"]
    assert "sk-upstream-secret" not in response.text
    assert "Bearer" not in response.text
