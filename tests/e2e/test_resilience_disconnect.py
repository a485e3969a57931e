"""A client that goes away cancels the upstream call at once -- streamed or not -- and its
usage record says client_closed."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.conftest import make_settings
from tests.fakes.openai_upstream import Behavior, FakeOpenAI, FakeOpenAIServer
from tests.integration.routing.helpers import catalog, usage_record
from tests.support.gateway import RunningGateway, running_gateway, write_catalog

# Long enough that only the client's leaving can end the upstream call within the test.
FIRST_BYTE = 20
IDLE = 20


@pytest.fixture
def setup(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[RunningGateway, FakeOpenAI]]:
    with FakeOpenAIServer() as primary, FakeOpenAIServer() as secondary:
        path = write_catalog(tmp_path, catalog(primary.url, secondary.url, first_byte=FIRST_BYTE, idle=IDLE))
        with running_gateway(make_settings(sqlite_url, path)) as gw:
            yield gw, primary


def open_request(gw: RunningGateway, key: str, request_id: str, *, stream: bool) -> socket.socket:
    body = orjson.dumps({"model": "solo", "stream": stream, "messages": [{"role": "user", "content": "a b c"}]})
    port = int(gw.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
                 + f"Authorization: Bearer {key}\r\nx-request-id: {request_id}\r\n".encode()
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return sock


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def test_leaving_during_a_long_upstream_wait_cancels_the_upstream_call(
        setup: tuple[RunningGateway, FakeOpenAI]) -> None:
    gw, upstream = setup
    upstream.then(Behavior("hang_until_closed"))
    key = gw.create_key()
    sock = open_request(gw, key, "req-leave-nonstream", stream=False)
    assert wait_for(lambda: len(upstream.requests) == 1, 5), "the request never reached the upstream"
    left = time.monotonic()
    sock.close()
    assert wait_for(lambda: upstream.closed_at, 3), "the upstream call went on after the client left"
    assert upstream.closed_at[0] - left < 1.0
    record = usage_record(gw, "req-leave-nonstream")
    assert record["status"] == "client_closed"
    assert record["http_status"] == 499
    assert record["completion_tokens"] == 0


def test_leaving_mid_stream_cancels_the_upstream_stream(setup: tuple[RunningGateway, FakeOpenAI]) -> None:
    gw, upstream = setup
    upstream.then(Behavior("stall_stream"))
    key = gw.create_key()
    sock = open_request(gw, key, "req-leave-stream", stream=True)
    received = b""
    while b'"content":"echo:"' not in received:   # the second chunk: the stream is flowing
        data = sock.recv(65536)
        assert data, received
        received += data
    left = time.monotonic()
    sock.close()
    assert wait_for(lambda: upstream.closed_at, 3), "the upstream stream went on after the client left"
    assert upstream.closed_at[0] - left < 1.0
    record = usage_record(gw, "req-leave-stream")
    assert record["status"] == "client_closed"
    assert record["provider"] == "primary"
    assert record["completion_tokens"] >= 1          # charged for what was produced
