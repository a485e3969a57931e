"""The gateway's own time per request for each client API, side by side: chat completions,
the Responses API and the Anthropic Messages API (both translated to chat), and legacy
completions, against the near-instant fake upstream in production mode (PostgreSQL, Redis,
usage records on). Sequential requests, so the figures are the per-request work, not
throughput.

    python -m bench.apis [--requests 300]

Prints, per API, the median and p95 of `x-gateway-overhead-ms` (non-streamed answers: the
time spent in the gateway, upstream wait excluded) and of the client-side latency, plain
and streamed. Needs PostgreSQL at 127.0.0.1:5432 (user postgres) and Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench.targets import Bench

BODIES: dict[str, tuple[str, Callable[[int, bool], dict[str, Any]]]] = {
    "chat": ("/v1/chat/completions", lambda i, s: {"model": "bench-model", "max_tokens": 64, "stream": s,
                                                   "messages": [{"role": "user", "content": f"Question {i}?"}]}),
    "responses": ("/v1/responses", lambda i, s: {"model": "bench-model", "max_output_tokens": 64, "stream": s,
                                                 "store": False, "input": f"Question {i}?"}),
    "messages": ("/v1/messages", lambda i, s: {"model": "bench-model", "max_tokens": 64, "stream": s,
                                               "messages": [{"role": "user", "content": f"Question {i}?"}]}),
    "completions": ("/v1/completions", lambda i, s: {"model": "bench-model", "max_tokens": 64, "stream": s,
                                                     "prompt": f"Question {i}?"}),
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def one(client: httpx.Client, url: str, body: dict[str, Any]) -> tuple[float, float | None]:
    """Client latency and the gateway's overhead header (None for a stream), in ms."""
    started = time.perf_counter()
    response = client.post(url, json=body)
    response.read()
    latency = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    overhead = response.headers.get("x-gateway-overhead-ms")
    return latency, float(overhead) if overhead is not None else None


def measure(client: httpx.Client, base: str, requests: int, deadline: float) -> dict[tuple[str, bool], list[Any]]:
    """Round-robin over every (API, streamed) pair, so that a noisy moment on a shared machine
    hits them all alike."""
    samples: dict[tuple[str, bool], list[Any]] = {(name, s): [] for name in BODIES for s in (False, True)}
    for i in range(requests):
        if time.monotonic() > deadline:
            break
        for (name, stream), found in samples.items():
            path, body = BODIES[name]
            found.append(one(client, base + path, body(i + (1_000_000 if stream else 0), stream)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--max-seconds", type=float, default=300)
    args = parser.parse_args()
    deadline = time.monotonic() + args.max_seconds
    with ExitStack() as stack, tempfile.TemporaryDirectory() as logs:
        bench = Bench(stack, Path(logs), database=f"gw_bench_apis_{uuid.uuid4().hex[:8]}")
        bench.start_upstream()
        bench.prepare_gateway()
        gateway = bench.start_gateway("gateway")
        base = gateway.url.removesuffix("/v1/chat/completions")
        headers = {"Authorization": f"Bearer {bench.key}", "x-api-key": bench.key}
        with httpx.Client(headers=headers, timeout=30) as client:
            measure(client, base, 20, deadline)   # warm-up
            samples = measure(client, base, args.requests, deadline)
        print(f"{'api':<12} {'mode':<7} {'n':>5} {'overhead p50':>13} {'p95':>7} {'latency p50':>12} {'p95':>7}")
        for (name, stream), found in samples.items():
            latency = [f[0] for f in found]
            overhead = [f[1] for f in found if f[1] is not None]
            cells = (f"{percentile(overhead, 0.5):>13} {percentile(overhead, 0.95):>7}" if overhead
                     else f"{'-':>13} {'-':>7}")
            print(f"{name:<12} {'stream' if stream else 'plain':<7} {len(found):>5} {cells} "
                  f"{percentile(latency, 0.5):>12} {percentile(latency, 0.95):>7}", flush=True)

if __name__ == "__main__":
    main()
