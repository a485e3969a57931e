"""Load generation: open loop at a fixed rate (latency measured from the scheduled send
time, so a slow response never slows the offered load -- no coordinated omission), and
closed loop with N connections for peak throughput.

Runs in its own process; prints one JSON object.

    python -m bench.loadgen open --url URL --rate 500 --seconds 10 [--stream] [--key K]
    python -m bench.loadgen closed --url URL --connections 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import orjson

# Distinct prompts by default so the cache never answers: the benchmark measures the full path.
# The run's own tag keeps them distinct across runs too (each phase is a new loadgen process, and
# a counter alone would repeat the previous phase's prompts, which the cache then answers).
RUN = uuid.uuid4().hex


def payload(stream: bool, unique: bool, i: int) -> bytes:
    content = f"Benchmark request {RUN}-{i} asking a short question." if unique else "Benchmark request."
    return orjson.dumps({"model": "bench-model", "stream": stream, "max_tokens": 64,
                         "messages": [{"role": "user", "content": content}]})


async def one(session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str],
              stream: bool) -> tuple[int, float | None]:
    """Status and, for streams, seconds from send to the first data event."""
    started = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        first: float | None = None
        if stream:
            async for line in response.content:
                if first is None and line.startswith(b"data:"):
                    first = time.perf_counter() - started
        else:
            await response.read()
        return response.status, first


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


async def open_loop(url: str, rate: float, seconds: float, stream: bool, key: str, unique: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    total = int(rate * seconds)
    latencies: list[float] = []
    ttfts: list[float] = []
    statuses: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        start = time.perf_counter() + 0.05
        tasks = []

        async def fire(i: int, scheduled: float) -> None:
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            try:
                status, first = await one(session, url, payload(stream, unique, i), headers, stream)
            except (aiohttp.ClientError, TimeoutError) as exc:
                statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                return
            done = time.perf_counter()
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            latencies.append(done - scheduled)
            if first is not None:
                ttfts.append(sent - scheduled + first)   # from the scheduled time, like latency

        for i in range(total):
            tasks.append(asyncio.create_task(fire(i, start + i / rate)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ok = statuses.get("200", 0)
    return {"mode": "open", "rate": rate, "seconds": seconds, "sent": total, "ok": ok,
            "errors": total - ok, "statuses": statuses, "achieved_rps": ok / elapsed,
            "latency": percentiles(latencies), "ttft": percentiles(ttfts) if stream else None}


async def closed_loop(url: str, connections: int, seconds: float, stream: bool, key: str,
                      unique: bool) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                try:
                    status, _ = await one(session, url, payload(stream, unique, next(counter)), headers, stream)
                except (aiohttp.ClientError, TimeoutError) as exc:
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                    continue
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                latencies.append(time.perf_counter() - t0)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    ok = statuses.get("200", 0)
    return {"mode": "closed", "connections": connections, "seconds": seconds, "ok": ok,
            "errors": sum(statuses.values()) - ok, "statuses": statuses, "rps": ok / elapsed,
            "latency": percentiles(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["open", "closed"])
    parser.add_argument("--url", required=True)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--key", default="none")
    parser.add_argument("--same-prompt", action="store_true")
    args = parser.parse_args()
    try:
        import uvloop
        uvloop.install()
    except ImportError:
        pass
    if args.mode == "open":
        result = asyncio.run(open_loop(args.url, args.rate, args.seconds, args.stream, args.key, not args.same_prompt))
    else:
        result = asyncio.run(closed_loop(args.url, args.connections, args.seconds, args.stream, args.key,
                                         not args.same_prompt))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
