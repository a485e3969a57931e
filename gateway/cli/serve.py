"""`llm-gateway serve`: the gateway on uvicorn (uvloop + httptools), optionally with the
admin API on its own port so that it stays off the public listener, and optionally as
several worker processes (`--workers N`) whose metrics are merged at every scrape."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from gateway.app import create_app
from gateway.catalog import CatalogError, load_catalog
from gateway.cli.drain_process import DrainProcess
from gateway.runtime import open_runtime
from gateway.settings import Settings, UsageDrain
from gateway.telemetry.logging import configure as configure_logging
from gateway.telemetry.logging import lifecycle_log
from gateway.telemetry.multiprocess import ENV as METRICS_DIR_ENV
from gateway.telemetry.multiprocess import MetricsSupervisor, metrics_directory
from gateway.tenancy.admin_key import WeakAdminKey, check_admin_key_strength


def run_serve(args: argparse.Namespace) -> int:
    if args.config is not None:
        os.environ["GATEWAY_CONFIG"] = str(args.config)
    if args.no_drain:
        os.environ["GATEWAY_USAGE_DRAIN"] = UsageDrain.OFF.value   # workers read it too
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        load_catalog(settings.config)   # fail before binding a port, with file and line
        if settings.admin_key is not None:
            check_admin_key_strength(settings.admin_key.get_secret_value())
    except (CatalogError, WeakAdminKey) as exc:
        print(exc, flush=True)
        return 2
    admin_only = bool(getattr(args, "admin_only", False))
    if admin_only and (args.workers > 1 or args.admin_port is not None):
        print("--admin-only serves the console and the admin API on --port in one process: "
              "drop --workers and --admin-port", flush=True)
        return 2
    if args.workers > 1:
        return serve_workers(settings, args)
    main = serve(settings, args.host, args.port, args.admin_port, admin_only=admin_only)
    try:
        import uvloop
        uvloop.run(main)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(main)
    return 0


class _Server(uvicorn.Server):
    """Signals are handled once for all servers of the process (see `serve`), not by each."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _server(app: Any, host: str, port: int, grace: float) -> uvicorn.Server:
    config = uvicorn.Config(app, host=host, port=port, http="httptools", lifespan="on",
                            access_log=False, log_config=None, timeout_graceful_shutdown=math.ceil(grace))
    return _Server(config)


def start_drain(settings: Settings) -> DrainProcess | None:
    """The usage drain beside the server, unless there is nothing to drain (no Redis: the
    in-process queue is drained in process) or the operator runs it elsewhere."""
    if settings.redis_url is None or settings.usage_drain is not UsageDrain.PROCESS:
        if settings.redis_url is not None and settings.usage_drain is UsageDrain.OFF:
            lifecycle_log.info("usage drain not started here (--no-drain): `llm-gateway usage-drain` must run "
                               "elsewhere")
        return None
    drain = DrainProcess()
    drain.start()
    return drain


async def serve(settings: Settings, host: str, port: int, admin_port: int | None, *,
                admin_only: bool = False) -> None:
    """`admin_only`: the admin deployment, one app with the console and the admin API and no
    public routes; it never migrates (the API deployment's `llm-gateway migrate` does) and
    drains no usage (it produces none: the API deployment's drains do)."""
    runtime = await open_runtime(settings, migrate_database=not admin_only)
    drain: DrainProcess | None = None
    try:
        if not admin_only:
            drain = start_drain(settings)
        public = (create_app(settings, public=False) if admin_only
                  else create_app(settings, admin_api=admin_port is None))
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
        async def announce() -> None:
            # Only once every listener is bound: scripts wait for this line before calling.
            while not all(s.started for s in servers):
                if any(s.should_exit for s in servers):
                    return
                await asyncio.sleep(0.01)
            if admin_only:
                print(f"llm-gateway admin console on http://{host}:{port}/admin/ui/ (admin only)", flush=True)
                return
            print(f"llm-gateway listening on http://{host}:{port}"
                  + (f" (admin on http://{host}:{admin_port})" if admin_port else ""), flush=True)

        await asyncio.gather(announce(), *(s.serve() for s in servers))
    finally:
        await runtime.close()   # the last records are appended (or handed over) first
        if drain is not None:
            await asyncio.to_thread(drain.stop, settings.shutdown_grace_seconds)


# -- several workers --------------------------------------------------------------------

_WORKER_ADMIN_ENV = "LLM_GATEWAY_WORKER_ADMIN_LISTEN"   # host:port each worker serves /admin on


def serve_workers(settings: Settings, args: argparse.Namespace) -> int:
    """uvicorn's supervisor runs `args.workers` processes on one public socket, each building
    its app from the environment (`worker_app`); every worker writes its metrics under one
    PROMETHEUS_MULTIPROC_DIR, and a worker that exits is marked dead there."""
    if settings.redis_url is None:
        lifecycle_log.warning("several workers without GATEWAY_REDIS_URL: each keeps its own rate limits "
                              "and cache", extra={"workers": args.workers})
    asyncio.run(_prepare_once(settings))   # migrations, admin key, demo tenant: not raced by N workers
    os.environ["GATEWAY_BOOTSTRAP_DEMO_TENANT"] = "false"
    if args.admin_port is not None:
        _reuseport_socket(args.host, args.admin_port).close()   # taken? fail here, not in every worker
        os.environ[_WORKER_ADMIN_ENV] = f"{args.host}:{args.admin_port}"
    with metrics_directory(os.environ.get(METRICS_DIR_ENV)):
        config = uvicorn.Config("gateway.cli.serve:worker_app", factory=True, host=args.host, port=args.port,
                                workers=args.workers, http="httptools", lifespan="on", access_log=False,
                                log_config=None, timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds))
        sock = config.bind_socket()
        print(f"llm-gateway listening on http://{args.host}:{args.port} with {args.workers} workers"
              + (f" (admin on http://{args.host}:{args.admin_port})" if args.admin_port else ""), flush=True)
        drain = start_drain(settings)
        try:
            MetricsSupervisor(config, sockets=[sock]).run()
        finally:
            if drain is not None:
                drain.stop(settings.shutdown_grace_seconds)
    return 0


async def _prepare_once(settings: Settings) -> None:
    runtime = await open_runtime(settings)
    await runtime.close()


def worker_app() -> FastAPI:
    """One worker's app (uvicorn's app factory). With --admin-port each worker also serves the
    admin API on that port, bound with SO_REUSEPORT so the kernel spreads admin connections."""
    settings = Settings()
    configure_logging(settings.log_level)
    admin_listen = os.environ.get(_WORKER_ADMIN_ENV)
    app = create_app(settings, admin_api=admin_listen is None)
    opened = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with opened(app):
            runtime = app.state.runtime
            servers: list[uvicorn.Server] = []
            if admin_listen is not None:
                host, _, port = admin_listen.rpartition(":")
                admin = create_app(settings, public=False)
                admin.state.runtime = runtime
                servers.append(_server(admin, host, int(port), settings.shutdown_grace_seconds))
            admin_tasks = [asyncio.create_task(s.serve(sockets=[_reuseport_socket(s.config.host, s.config.port)]))
                           for s in servers]

            def stop() -> None:
                runtime.draining = True        # /readyz turns 503 at once
                for server in servers:
                    server.should_exit = True

            _also_on_stop_signals(stop)
            try:
                yield
            finally:
                stop()
                await asyncio.gather(*admin_tasks)

    app.router.lifespan_context = lifespan
    return app


def _also_on_stop_signals(callback: Callable[[], None]) -> None:
    """Runs `callback` on SIGTERM/SIGINT, then the handler uvicorn installed for the worker."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous = signal.getsignal(signum)

        def handler(sig: int, frame: Any, previous: Any = previous) -> None:
            callback()
            if callable(previous):
                previous(sig, frame)

        signal.signal(signum, handler)


def _reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock
