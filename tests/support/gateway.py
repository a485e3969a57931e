"""The gateway served by uvicorn on a real port, in a background thread, for tests.

    with running_gateway(settings) as gw:
        key = gw.create_key("acme", models=["*"])
        OpenAI(base_url=gw.url + "/v1", api_key=key)...
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gateway.app import create_app
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings, UsageDrain
from tests.support.threads import LoopThread, free_port

ADMIN_KEY = "sk-admin-test-0123456789abcdef0123456789abcdef"


@dataclass
class RunningGateway:
    url: str
    admin_url: str
    admin_key: str
    runtime: Runtime
    thread: LoopThread

    def admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return httpx.request(method, self.admin_url + path, headers={"Authorization": f"Bearer {self.admin_key}"},
                             timeout=30, **kwargs)

    def create_tenant(self, name: str | None = None, *, models: list[str] | None = None, tier: str = "pro",
                      **extra: Any) -> str:
        name = name or f"t{uuid.uuid4().hex[:10]}"
        body = {"name": name, "tier": tier, "models": models if models is not None else ["*"], **extra}
        response = self.admin("POST", "/admin/tenants", json=body)
        assert response.status_code == 201, response.text
        return name

    def create_key(self, tenant: str | None = None, **tenant_options: Any) -> str:
        """A new key for `tenant` (created first, with `tenant_options`, when not given)."""
        if tenant is None:
            tenant = self.create_tenant(**tenant_options)
        response = self.admin("POST", f"/admin/tenants/{tenant}/keys", json={"label": "test"})
        assert response.status_code == 201, response.text
        key: str = response.json()["key"]
        return key

    def run(self, coro_factory: Any, timeout: float = 30) -> Any:
        """Runs a coroutine on the gateway's own loop (for reaching into the runtime)."""
        return self.thread.call(coro_factory, timeout)

    def flush_usage(self) -> None:
        flush = getattr(self.runtime.outbox, "flush", None)
        if flush is not None:
            self.run(flush)


def write_catalog(directory: Path, text: str) -> Path:
    path = directory / "gateway.yaml"
    path.write_text(text)
    return path


@contextmanager
def running_gateway(settings: Settings, *, separate_admin: bool = False) -> Iterator[RunningGateway]:
    if settings.admin_key is None:
        settings = settings.model_copy(update={"admin_key": _secret(ADMIN_KEY)})
    if settings.usage_drain is UsageDrain.PROCESS:
        # No `serve` here to start the drain process beside the server: it drains in process.
        settings = settings.model_copy(update={"usage_drain": UsageDrain.INLINE})
    thread = LoopThread("gateway")
    runtime: Runtime = thread.call(lambda: open_runtime(settings), timeout=60)
    port = free_port()
    public = create_app(settings, admin_api=not separate_admin)
    public.state.runtime = runtime
    apps = [(public, port)]
    admin_port = port
    if separate_admin:
        admin_port = free_port()
        admin = create_app(settings, public=False)
        admin.state.runtime = runtime
        apps.append((admin, admin_port))
    servers = [uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=p, lifespan="on", log_config=None,
                                             access_log=False, http="httptools")) for app, p in apps]
    running = []
    for server in servers:
        server.capture_signals = _no_signals  # type: ignore[method-assign]
        running.append(asyncio.run_coroutine_threadsafe(server.serve(), thread.loop))
    deadline = time.monotonic() + 30
    while not all(s.started for s in servers):
        if time.monotonic() > deadline:
            raise RuntimeError("gateway did not start")
        time.sleep(0.02)
    try:
        yield RunningGateway(url=f"http://127.0.0.1:{port}", admin_url=f"http://127.0.0.1:{admin_port}",
                             admin_key=settings.admin_key.get_secret_value() if settings.admin_key else ADMIN_KEY,
                             runtime=runtime, thread=thread)
    finally:
        for server in servers:
            server.should_exit = True
        for future in running:
            future.result(timeout=60)
        thread.call(runtime.close, timeout=60)
        thread.stop()


@contextmanager
def _no_signals() -> Iterator[None]:
    yield


def _secret(value: str) -> Any:
    from pydantic import SecretStr
    return SecretStr(value)
