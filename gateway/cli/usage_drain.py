"""`llm-gateway usage-drain`: the process that writes the usage stream to the database.

With Redis, a serving process only appends each usage record to a Redis Stream; this
process reads the stream as one consumer of its consumer group and writes PostgreSQL
(gateway.usage.stream_drain). Any number may run: they share the stream's entries, and
what one of them read and did not write before dying is claimed by another after
GATEWAY_USAGE_CLAIM_IDLE_SECONDS. `serve` starts one beside itself unless told
`--no-drain` (then run this command elsewhere: a Deployment of its own, say).

SIGTERM or SIGINT: stops reading, writes what it holds, exits 0. Started by `serve`, it
also stops when that process is gone (`--parent-pid`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from typing import Any

_PARENT_POLL_SECONDS = 1.0


def register(commands: Any) -> None:
    drain = commands.add_parser("usage-drain", help="write the usage stream (Redis) to the database",
                                description="Reads GATEWAY_REDIS_URL's usage stream and writes the records to "
                                            "GATEWAY_DATABASE_URL, until SIGTERM.")
    drain.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)   # set by `serve`
    drain.set_defaults(run=run_drain)


def run_drain(args: argparse.Namespace) -> int:
    from gateway.settings import Settings
    from gateway.telemetry.logging import configure as configure_logging

    settings = Settings()
    configure_logging(settings.log_level)
    if settings.redis_url is None:
        print("llm-gateway usage-drain: needs GATEWAY_REDIS_URL (without Redis, each gateway writes its "
              "own usage records)", file=sys.stderr)
        return 2
    try:
        import uvloop
        uvloop.run(drain(settings, args.parent_pid))
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(drain(settings, args.parent_pid))
    return 0


async def drain(settings: Any, parent_pid: int | None = None) -> None:
    from gateway.db import create_engine
    from gateway.redis_client import shared_client
    from gateway.telemetry.logging import lifecycle_log
    from gateway.usage.stream_drain import StreamDrain
    from gateway.usage.wiring import stream_config

    engine = create_engine(settings.database_url)
    redis = shared_client(settings)
    assert redis is not None
    config = stream_config(settings)
    consumer = StreamDrain(redis, engine, config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await consumer.start()
        lifecycle_log.info("usage drain started", extra={"stream": config.key, "group": config.group,
                                                         "consumer": config.consumer})
        print(f"llm-gateway usage-drain: draining {config.key} as {config.consumer}", flush=True)
        while not stop.is_set():
            if parent_pid is not None and os.getppid() != parent_pid:
                lifecycle_log.warning("usage drain: the gateway that started it is gone; stopping")
                break
            try:
                async with asyncio.timeout(_PARENT_POLL_SECONDS):
                    await stop.wait()
            except TimeoutError:
                pass
    finally:
        await consumer.close()
        await redis.aclose()
        await engine.dispose()
        lifecycle_log.info("usage drain stopped", extra={"written": consumer.written})
