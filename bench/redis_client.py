"""CPU per Redis command: redis-py's asyncio client (pooled, as the gateway used it on the
request path) against gateway.redis_mux (one pipelined connection), 50 concurrent callers.

    python -m bench.redis_client [--commands 20000] [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable

import uvloop
from redis.asyncio import ConnectionPool, Redis

from gateway.redis_mux import MultiplexedRedis

CALLERS = 50


async def cpu_per_call(call: Callable[[], Awaitable[object]], commands: int) -> float:
    async def caller() -> None:
        for _ in range(commands // CALLERS):
            await call()
    await caller()   # connect and warm up
    started = time.process_time()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return (time.process_time() - started) / commands * 1e6


async def main(url: str, commands: int) -> None:
    pooled = Redis(connection_pool=ConnectionPool.from_url(url, max_connections=2000))
    mux = MultiplexedRedis.from_url(url, connect_timeout=2, read_timeout=2)
    await pooled.set("gw:bench:redis-client", b"x" * 100)
    try:
        for name, client in (("redis-py", pooled), ("redis_mux", mux)):
            get_us = await cpu_per_call(lambda c=client: c.get("gw:bench:redis-client"), commands)  # type: ignore[misc]
            xadd_us = await cpu_per_call(lambda c=client: c.xadd(  # type: ignore[misc]
                "gw:bench:redis-client:stream", {b"r": b"y" * 300}, maxlen=1000), commands)
            print(f"{name:<10} GET {get_us:6.1f} us CPU/command   XADD {xadd_us:6.1f} us CPU/command")
    finally:
        await pooled.delete("gw:bench:redis-client", "gw:bench:redis-client:stream")
        await pooled.aclose()
        await mux.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--commands", type=int, default=20000)
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    uvloop.run(main(args.url, args.commands))
