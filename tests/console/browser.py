"""The pieces of the browser suite: the gateway as operators run it (two `llm-gateway serve`
processes on PostgreSQL: the API deployment and `--admin-only`), and headless Debian chromium
driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.support.threads import free_port

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
ARTIFACTS = Path(os.environ.get("CONSOLE_ARTIFACTS_DIR", Path(__file__).resolve().parents[2] / "test-artifacts" / "console"))


def chromium_path() -> str:
    for candidate in CHROMIUM_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    message = "Debian's chromium is not installed (apt-get install -y chromium)"
    if IN_CI:
        pytest.fail(f"{message}, and CI=true: .ci/run installs it")
    pytest.skip(message)


@dataclass(frozen=True)
class Deployment:
    api_url: str       # the API deployment: /v1 for applications
    admin_url: str     # the admin deployment: the console and the admin API
    admin_key: str
    log: Path


@contextmanager
def serve(args: list[str], env: dict[str, str], log: Path, ready: str) -> Iterator[subprocess.Popen[str]]:
    command = Path(sys.executable).parent / "llm-gateway"
    with log.open("w") as out:
        process = subprocess.Popen([str(command), "serve", *args], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True)
        try:
            assert process.stdout is not None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                line = process.stdout.readline()
                if not line and process.poll() is not None:
                    raise RuntimeError(f"`serve {' '.join(args)}` exited: see {log}")
                out.write(line)
                out.flush()
                if ready in line:
                    break
            else:
                raise RuntimeError(f"`serve {' '.join(args)}` did not start in 60 s: see {log}")
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                rest, _ = process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                rest, _ = process.communicate()
            out.write(rest or "")


@contextmanager
def deployment(env: dict[str, str], logs: Path) -> Iterator[Deployment]:
    api_port, admin_port = free_port(), free_port()
    with serve(["--port", str(api_port)], env, logs / "api.log", "listening on"), \
            serve(["--admin-only", "--port", str(admin_port)], env, logs / "admin.log", "admin console on"):
        yield Deployment(api_url=f"http://127.0.0.1:{api_port}", admin_url=f"http://127.0.0.1:{admin_port}",
                         admin_key=env["GATEWAY_ADMIN_KEY"], log=logs)
