"""SIGTERM to a real `llm-gateway serve` while ten streams are open: new connections are
refused at once, all ten streams finish, all ten are recorded, then the process exits."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson

from tests.fakes.openai_upstream import Behavior, FakeOpenAIServer
from tests.integration.routing.helpers import catalog
from tests.support.threads import free_port

STREAMS = 10
WORDS = "one two three four five six seven eight"       # 11 chunks, 0.25 s apart: ~2.5 s a stream
ADMIN_KEY = "sk-admin-shutdown-test-0123456789abcdef012345"


def start_gateway(tmp_path: Path, upstream_url: str, port: int) -> subprocess.Popen[str]:
    config = tmp_path / "gateway.yaml"
    config.write_text(catalog(upstream_url, upstream_url))
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_CONFIG=str(config), GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'gw.db'}",
               GATEWAY_ADMIN_KEY=ADMIN_KEY, GATEWAY_SHUTDOWN_GRACE_SECONDS="20")
    command = Path(sys.executable).parent / "llm-gateway"
    return subprocess.Popen([str(command), "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_listening(process: subprocess.Popen[str]) -> str:
    output = ""
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        output += line
        if "listening on" in line:
            return output
    raise AssertionError("the gateway did not start:\n" + output)


def create_key(base: str) -> str:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    response = httpx.post(base + "/admin/tenants", headers=admin, json={"name": "drain", "tier": "pro",
                                                                        "models": ["*"]}, timeout=30)
    assert response.status_code == 201, response.text
    response = httpx.post(base + "/admin/tenants/drain/keys", headers=admin, json={"label": "t"}, timeout=30)
    assert response.status_code == 201, response.text
    key: str = response.json()["key"]
    return key


class OpenStream(threading.Thread):
    def __init__(self, base: str, key: str, index: int) -> None:
        super().__init__(daemon=True)
        self.base, self.key, self.index = base, key, index
        self.first_chunk = threading.Event()
        self.events: list[str] = []
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with httpx.stream("POST", self.base + "/v1/chat/completions", timeout=30,
                              headers={"Authorization": f"Bearer {self.key}", "x-request-id": f"drain-{self.index}"},
                              json={"model": "gpt-4o-mini", "stream": True,
                                    "messages": [{"role": "user", "content": WORDS}]}) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(line[6:])
                        self.first_chunk.set()
        except BaseException as exc:
            self.error = exc
            self.first_chunk.set()

    def text(self) -> str:
        chunks = [orjson.loads(e) for e in self.events if e != "[DONE]"]
        return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c.get("choices"))


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_sigterm_lets_ten_open_streams_finish_and_records_them(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FakeOpenAIServer() as upstream:
        upstream.default = Behavior("slow_stream", chunk_delay=0.25)
        process = start_gateway(tmp_path, upstream.url, port)
        output = ""
        try:
            output = wait_listening(process)
            key = create_key(base)
            streams = [OpenStream(base, key, i) for i in range(STREAMS)]
            for stream in streams:
                stream.start()
            for stream in streams:
                assert stream.first_chunk.wait(20) and stream.error is None, stream.error
            assert httpx.get(base + "/readyz", timeout=5).status_code == 200

            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            deadline = signalled + 2
            while not refused(port):                       # the listener closes at once
                assert time.monotonic() < deadline, "new connections still accepted after SIGTERM"
                time.sleep(0.05)
            assert sum(s.is_alive() for s in streams) >= STREAMS - 1, "streams were cut, not drained"

            for stream in streams:
                stream.join(20)
                assert stream.error is None, stream.error
                assert stream.events[-1] == "[DONE]"
                assert stream.text() == "echo: " + WORDS
            process.wait(20)
            output += process.stdout.read() if process.stdout else ""
        finally:
            if process.poll() is None:
                process.kill()
                process.wait(10)
    assert process.returncode == 0, output
    with sqlite3.connect(tmp_path / "gw.db") as db:
        rows = db.execute("SELECT client_request_id, status, http_status, completion_tokens FROM usage_records "
                          "WHERE client_request_id LIKE 'drain-%'").fetchall()
    assert sorted(r[0] for r in rows) == sorted(f"drain-{i}" for i in range(STREAMS))
    assert {(r[1], r[2]) for r in rows} == {("ok", 200)}
    assert all(r[3] == len(("echo: " + WORDS).split()) for r in rows)
