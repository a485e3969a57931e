"""A gateway (or drain) run as its own process in a test: is it answering, and stopping it as
its operator would (SIGTERM and its grace, then SIGKILL)."""

from __future__ import annotations

import signal
import subprocess

import httpx


def answers_health(url: str) -> bool:
    """`url`/healthz answers 200 now."""
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def stop_process(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM, `grace` seconds to finish, then SIGKILL; nothing when it has already exited."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)
