"""`llm-gateway serve` as a newcomer runs it: no configuration, a demo key printed once."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.threads import free_port


def test_serve_prints_a_demo_key_that_works(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    # The console script as installed next to this interpreter: what a user runs.
    command = Path(sys.executable).parent / "llm-gateway"
    process = subprocess.Popen([str(command), "serve", "--port", str(port)],
                               cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ""
    try:
        key = None
        deadline = time.monotonic() + 60
        assert process.stdout is not None
        while time.monotonic() < deadline and process.poll() is None:
            line = process.stdout.readline()
            output += line
            found = re.search(r"(sk-demo-[A-Za-z0-9_-]{32,})", line)
            if found:
                key = found.group(1)
            if "listening on" in line:
                break
        assert key, output
        assert "setup plugin" not in output        # alembic's plugin chatter is not what a newcomer should read
        assert "Warning" not in output             # nor a library's deprecation warning
        response = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                              headers={"Authorization": f"Bearer {key}"},
                              json={"model": "mock-echo", "messages": [{"role": "user", "content": "hello gateway"}]},
                              timeout=30)
        assert response.status_code == 200, response.text
        assert response.json()["choices"][0]["message"]["content"] == "hello gateway"
        assert (tmp_path / "gateway.db").exists()
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
    assert process.returncode == 0, output
