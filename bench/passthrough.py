"""The calibration proxy: a bare FastAPI pass-through to the upstream on the same HTTP
client (aiohttp) and server stack (uvicorn, uvloop, httptools) as the gateway, with none of
its work. The gateway's throughput is reported as a fraction of this one's.

    python -m bench.passthrough --port 9200 --upstream http://127.0.0.1:9100 [--server granian]

`--server granian` runs the same app on granian (ASGI, uvloop), to compare servers.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response, StreamingResponse


def build_app(upstream: str) -> FastAPI:
    session: dict[str, aiohttp.ClientSession] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        session["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
        yield
        await session["s"].close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.body()
        upstream_response = await session["s"].post(upstream + "/v1/chat/completions", data=body,
                                                    headers={"Content-Type": "application/json"})
        if upstream_response.headers.get("Content-Type", "").startswith("text/event-stream"):
            async def relay() -> AsyncIterator[bytes]:
                try:
                    async for line in upstream_response.content:
                        yield line
                finally:
                    upstream_response.release()
            return StreamingResponse(relay(), media_type="text/event-stream")
        payload = await upstream_response.read()
        upstream_response.release()
        return Response(payload, media_type="application/json")

    return app


def app_from_env() -> FastAPI:
    """The app factory another server imports (the upstream comes from BENCH_UPSTREAM)."""
    return build_app(os.environ["BENCH_UPSTREAM"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=9200)
    parser.add_argument("--upstream", default="http://127.0.0.1:9100")
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    args = parser.parse_args()
    if args.server == "granian":
        os.environ["BENCH_UPSTREAM"] = args.upstream
        granian = str(Path(sys.executable).parent / "granian")
        os.execv(granian, [granian, "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port",
                           str(args.port), "--loop", "uvloop", "--no-log", "bench.passthrough:app_from_env"])
    uvicorn.run(build_app(args.upstream), host="127.0.0.1", port=args.port, loop="uvloop", http="httptools",
                access_log=False, log_level="warning")


if __name__ == "__main__":
    main()
