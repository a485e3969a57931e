"""`llm-gateway serve`: the gateway on uvicorn (uvloop + httptools), optionally with the
admin API on its own port so that it stays off the public listener."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from gateway.app import create_app
from gateway.catalog import CatalogError, load_catalog
from gateway.runtime import open_runtime
from gateway.settings import Settings
from gateway.telemetry.logging import configure as configure_logging


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="gateway.yaml (default: $GATEWAY_CONFIG or the built-in catalog)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--admin-port", type=int, help="serve /admin on this port only (not on --port)")
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    if args.config is not None:
        os.environ["GATEWAY_CONFIG"] = str(args.config)
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        load_catalog(settings.config)   # fail before binding a port, with file and line
    except CatalogError as exc:
        print(exc, flush=True)
        return 2
    if args.workers > 1:
        raise SystemExit("--workers > 1 is not supported by this build; run one process per core instead")
    try:
        import uvloop
        uvloop.run(serve(settings, args.host, args.port, args.admin_port))
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(serve(settings, args.host, args.port, args.admin_port))
    return 0


class _Server(uvicorn.Server):
    """Signals are handled once for all servers of the process (see `serve`), not by each."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, host: str, port: int, grace: float) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, http="httptools", lifespan="on",
                            access_log=False, log_config=None, timeout_graceful_shutdown=round(grace))
    return _Server(config)


async def serve(settings: Settings, host: str, port: int, admin_port: int | None) -> None:
    runtime = await open_runtime(settings)
    try:
        public = create_app(settings, admin_api=admin_port is None)
        public.state.runtime = runtime
        grace = settings.shutdown_grace_seconds
        servers = [_server(public, host, port, grace)]
        if admin_port is not None:
            admin = create_app(settings, public=False)
            admin.state.runtime = runtime
            servers.append(_server(admin, host, admin_port, grace))

        def stop() -> None:
            runtime.draining = True        # /readyz turns 503 at once
            for server in servers:
                server.should_exit = True  # stop accepting; in-flight requests get `grace`

        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        print(f"llm-gateway listening on http://{host}:{port}"
              + (f" (admin on http://{host}:{admin_port})" if admin_port else ""), flush=True)
        await asyncio.gather(*(s.serve() for s in servers))
    finally:
        await runtime.close()
