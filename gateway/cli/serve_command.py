"""`llm-gateway serve`'s arguments. The server itself (gateway.cli.serve: uvicorn, the app,
every store) is imported only when the command runs, so that the tenant, key and usage
commands start without loading the web stack."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", type=Path, help="gateway.yaml (default: $GATEWAY_CONFIG or the built-in catalog)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=int, default=8080, help="port of the OpenAI-compatible API (default 8080)")
    serve.add_argument("--admin-port", type=int,
                       help="serve /admin and /metrics on this port only (not on --port)")
    serve.add_argument("--workers", type=int, default=1,
                       help="worker processes (default 1); with several and no Redis, limits and cache are per worker")
    serve.add_argument("--admin-only", action="store_true",
                       help="the admin deployment: the console (/admin/ui/) and the admin API on --port, "
                            "no public routes, never runs migrations")
    serve.add_argument("--no-drain", action="store_true",
                       help="with Redis: do not start the usage drain beside the server (run "
                            "`llm-gateway usage-drain` elsewhere, or records wait in Redis)")
    serve.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    from gateway.cli.serve import run_serve

    return run_serve(args)
