"""Helpers for tenancy tests: `llm-gateway serve` and CLI subprocesses on a shared database,
and scans of logs and database contents for key material."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import sqlalchemy as sa

from gateway.db import create_engine
from tests.support.threads import free_port

LLM_GATEWAY = str(Path(sys.executable).parent / "llm-gateway")   # the console script a user runs
ADMIN_KEY = "sk-admin-tenancy-tests-0123456789abcdef0123456789"
KEY_LINE = re.compile(r"key id: (key_[0-9a-f]+).*?api key \(shown once, store it now\): (sk-[a-z0-9_]+-\S+)", re.S)

CATALOG = """
providers:
  mock: {type: mock}
models:
  mock-echo:
    price: {input: 0.15, output: 0.60}
    deployments: [{provider: mock, upstream: echo}]
  mock-echo-large:
    price: {input: 3.0, output: 15.0}
    deployments: [{provider: mock, upstream: echo}]
  mock-embed:
    kind: embeddings
    price: {input: 0.02, output: 0}
    deployments: [{provider: mock, upstream: embed}]
aliases:
  auto: {models: [mock-echo, mock-echo-large]}
  cheapest: {rank: price}
tiers:
  free: {rpm: 2}
  pro: {rpm: 1000}
"""


def gateway_env(database_url: str, tmp_path: Path, *, redis_url: str | None = None,
                admin_key: str | None = ADMIN_KEY, **settings: str) -> dict[str, str]:
    """The environment of a gateway or CLI process: nothing GATEWAY_* inherited."""
    config = tmp_path / "gateway.yaml"
    if not config.exists():
        config.write_text(CATALOG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DATABASE_URL=database_url, GATEWAY_CONFIG=str(config), GATEWAY_BOOTSTRAP_DEMO_TENANT="false",
               GATEWAY_LOG_LEVEL="debug")
    if redis_url:
        env["GATEWAY_REDIS_URL"] = redis_url
    if admin_key:
        env["GATEWAY_ADMIN_KEY"] = admin_key
    env.update({f"GATEWAY_{name.upper()}": value for name, value in settings.items()})
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([LLM_GATEWAY, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    if check:
        assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def issued_key(output: str) -> tuple[str, str]:
    """(key id, key) from the output of `keys create` or `keys rotate`."""
    found = KEY_LINE.search(output)
    assert found, output
    return found.group(1), found.group(2)


class GatewayProcess:
    """`llm-gateway serve` in a subprocess; its output (stdout and stderr) is kept in `lines`."""

    def __init__(self, env: dict[str, str], cwd: Path, *, admin_port: bool = False) -> None:
        self.port = free_port()
        self.admin_port = free_port() if admin_port else None
        command = [LLM_GATEWAY, "serve", "--port", str(self.port)]
        if self.admin_port:
            command += ["--admin-port", str(self.admin_port)]
        self.lines: list[str] = []
        self._process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                                         stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port or self.port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise AssertionError(f"gateway exited with {self._process.returncode}:\n{self.output}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"gateway not ready in {timeout}s:\n{self.output}")

    def admin(self, method: str, path: str, admin_key: str = ADMIN_KEY, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.admin_url + path, headers={"Authorization": f"Bearer {admin_key}"},
                             timeout=30, **kwargs)

    def stop(self) -> int:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._reader.join(10)
        return self._process.returncode

    def __enter__(self) -> GatewayProcess:
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


# One pooled client: a new httpx client per call costs ~0.1 s on a busy machine (TLS context
# set-up), which would swamp the latencies these tests measure. Idle connections are dropped
# before uvicorn's 5 s keep-alive closes them under us.
_client = httpx.Client(timeout=30, limits=httpx.Limits(keepalive_expiry=2))


def chat(url: str, key: str | None, model: str = "mock-echo", **headers: str) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return _client.post(url + "/v1/chat/completions", headers=headers,
                        json={"model": model, "messages": [{"role": "user", "content": "hello"}]})


def models(url: str, key: str) -> httpx.Response:
    return _client.get(url + "/v1/models", headers={"Authorization": f"Bearer {key}"})


def wait_for_status(probe: Any, status: int, timeout: float = 5.0, interval: float = 0.005) -> float:
    """Polls `probe()` (an httpx call) until it answers `status`; returns the seconds it took.
    Bounded in time; fails with the last answer if it never does."""
    started = time.monotonic()
    last = None
    while time.monotonic() - started < timeout:
        last = probe()
        if last.status_code == status:
            return time.monotonic() - started
        time.sleep(interval)
    raise AssertionError(f"no {status} within {timeout}s; last: {last.status_code if last else None} "
                         f"{last.text if last else ''}")


async def database_text_async(url: str) -> str:
    """Every row of every table, as text: what a scan for leaked secrets reads."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                query = "SELECT name FROM sqlite_master WHERE type='table'"
            else:
                query = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            names = list((await conn.execute(sa.text(query))).scalars())
            parts = []
            for name in names:
                rows = (await conn.execute(sa.text(f'SELECT * FROM "{name}"'))).all()
                parts.append(f"== {name}\n" + "\n".join(repr(tuple(r)) for r in rows))
            return "\n".join(parts)
    finally:
        await engine.dispose()


def database_text(url: str) -> str:
    return asyncio.run(database_text_async(url))


def assert_no_key_material(text: str, keys: list[str], where: str) -> None:
    """Neither a key, nor its random part, nor more of it than the 4-character display prefix."""
    assert keys
    for key in keys:
        random_part = key.split("-", 2)[2]
        assert key not in text, f"a full key appears in {where}"
        assert random_part not in text, f"a key's random part appears in {where}"
        assert random_part[:8] not in text, f"more than a key's display prefix appears in {where}"
