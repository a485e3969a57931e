"""vLLM replica picking: round-robin against load-aware, through the gateway, in one run.

    python -m bench.picker                    # ~3 minutes; prints the table, writes bench/results/picker.json
    python -m bench.picker --seconds 20       # shorter phases
    python -m bench.picker --pick-cost-only   # only the CPU per pick (4 and 100 replicas); writes nothing

Starts 8 simulated vLLM replicas (tests/fakes/vllm_replica.py, one process: 4 for each
picker, so each phase starts with cold caches) and the gateway (SQLite, no Redis) with two
pools over them: `sim-rr` (picker: round-robin) and `sim-la` (picker: load-aware). The same
open-loop workload (same seed) then goes to each in turn: sessions with long shared prefixes
(a system prompt and a document) and short new turns, plus a few long generations, arriving
as a Poisson process. Every request streams; time to first token is measured at the client
(first content chunk); the prefix-cache hit rate is cached / prompt tokens from the usage the
replicas report. Bounded: arrivals stop after --seconds, stragglers are cut 60 s later.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.run import RESULTS
from bench.targets import ROOT, cli, free_port, start, wait_url

# Replica model: 4 running at most; prefill 0.2 ms per uncached prompt token (a 3,000-token
# prefix: 0.6 s), decode 10 ms per token (10% slower per other running request); a KV cache of
# 2,000 blocks of 16 tokens: one replica holds about a quarter of the sessions' prefixes.
SPEC = {"max_running": 4, "kv_blocks": 2000, "block_size": 16, "prefill_seconds_per_token": 0.0002,
        "decode_seconds_per_token": 0.01, "decode_slowdown": 0.1}

CATALOG = """
providers:
  pool-rr:
    type: vllm
    endpoints: [{rr}]
    picker: round-robin
    timeouts: {{connect: 2, first_byte: 120, idle: 60, total: 300}}
  pool-la:
    type: vllm
    endpoints: [{la}]
    picker: load-aware
    scrape: {{interval_seconds: 0.05, stale_seconds: 0.5, timeout_seconds: 0.5}}
    timeouts: {{connect: 2, first_byte: 120, idle: 60, total: 300}}
models:
  sim-rr: {{price: {{input: 0, output: 0}}, deployments: [{{provider: pool-rr, upstream: sim-model}}]}}
  sim-la: {{price: {{input: 0, output: 0}}, deployments: [{{provider: pool-la, upstream: sim-model}}]}}
tiers:
  bench: {{rpm: 100000000, tpm: 100000000000, daily_tokens: 100000000000}}
cache: {{mode: "off"}}
"""

WORDS = ("contract clause party obligation term notice payment delivery warranty liability "
         "termination schedule annex breach remedy indemnity confidentiality governing law").split()


# -- the CPU a pick costs ---------------------------------------------------------------

def pick_cost(replicas: int, picks: int = 20_000) -> dict[str, float]:
    """CPU microseconds per request for the whole placement (prompt hashing, prefix lookup,
    scoring, ranking, recording the prefix), on a warm index, with every replica fresh."""
    from providers.base import ChatRequest
    from providers.vllm.config import parse_options
    from providers.vllm.provider import VLLMProvider
    from providers.vllm.scrape import Figures

    pool = VLLMProvider("bench", parse_options("bench", {
        "endpoints": [f"http://10.0.{i // 250}.{i % 250}:8000" for i in range(replicas)]}))
    rng = random.Random(7)
    now = time.monotonic() + 3600          # figures stay fresh for the whole measurement
    for replica in pool.replicas:
        replica.figures = Figures(waiting=rng.randint(0, 4), running=rng.randint(0, 4),
                                  kv_cache=rng.random() * 0.7, block_size=16, at=now)
    prompts = [ChatRequest({"messages": [
        {"role": "system", "content": f"session {s} " + " ".join(rng.choice(WORDS) for _ in range(1500))},
        {"role": "user", "content": "turn " + " ".join(rng.choice(WORDS) for _ in range(30))}]})
        for s in range(64)]
    for request in prompts:                 # warm: every session's prefix is somewhere
        hashes = pool._hashes(request)
        pick = pool.place(hashes)
        pool.prefix.record(hashes, pick.order[0].key, pick.matches.get(pick.order[0].key, 0))
    hashed = [pool._hashes(r) for r in prompts]

    def measure(full: bool) -> float:
        started = time.process_time()
        for i in range(picks):
            if full:
                hashes = pool._hashes(prompts[i % len(prompts)])
            else:
                hashes = hashed[i % len(hashed)]
            pick = pool.place(hashes)
            first = pick.order[0]
            first.sent_since_scrape = 0     # keep the figures as scraped
            pool.prefix.record(hashes, first.key, pick.matches.get(first.key, 0))
        return (time.process_time() - started) / picks * 1e6

    return {"replicas": replicas, "prompt_chars": len(prompts[0].body["messages"][0]["content"]),
            "us_per_pick": round(measure(False), 1), "us_per_request_incl_hashing": round(measure(True), 1)}


# -- the workload -----------------------------------------------------------------------

@dataclass
class Session:
    prefix: str
    history: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Outcome:
    ttft: float | None = None
    seconds: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


def workload(seed: int, seconds: float, rate: float, sessions: int, long_share: float
             ) -> list[tuple[float, int, str, int]]:
    """(arrival offset, session, new turn, max_tokens) for every request, from the seed alone."""
    rng = random.Random(seed)
    arrivals: list[tuple[float, int, str, int]] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate)
        if t >= seconds:
            return arrivals
        turn = " ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 60)))
        max_tokens = rng.randint(150, 250) if rng.random() < long_share else rng.randint(8, 24)
        arrivals.append((t, rng.randrange(sessions), turn, max_tokens))


def session_prefixes(seed: int, sessions: int) -> list[str]:
    rng = random.Random(seed + 1)
    return [f"You are the assistant for case {s}. Answer from the document only.\n"
            + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1400, 2600)))   # ~9-17k chars
            for s in range(sessions)]


async def one_request(http: aiohttp.ClientSession, url: str, key: str, model: str, session: Session,
                      turn: str, max_tokens: int, deadline: float) -> Outcome:
    messages = [{"role": "system", "content": session.prefix}, *session.history, {"role": "user", "content": turn}]
    body = {"model": model, "messages": messages, "max_tokens": max_tokens, "stream": True,
            "stream_options": {"include_usage": True}}
    outcome = Outcome()
    started = time.perf_counter()
    answer: list[str] = []
    try:
        async with asyncio.timeout(max(1.0, deadline - time.monotonic())):
            async with http.post(url, data=orjson.dumps(body),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
                                 ) as response:
                if response.status != 200:
                    outcome.error = f"status {response.status}"
                    await response.read()
                    return outcome
                async for line in response.content:
                    if not line.startswith(b"data: ") or line.startswith(b"data: [DONE]"):
                        continue
                    event = orjson.loads(line[6:])
                    for choice in event.get("choices") or ():
                        content = (choice.get("delta") or {}).get("content")
                        if content:
                            if outcome.ttft is None:
                                outcome.ttft = time.perf_counter() - started
                            answer.append(content)
                    usage = event.get("usage")
                    if usage:
                        outcome.prompt_tokens = usage["prompt_tokens"]
                        outcome.completion_tokens = usage["completion_tokens"]
                        outcome.cached_tokens = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
    except (aiohttp.ClientError, TimeoutError) as exc:
        outcome.error = type(exc).__name__
        return outcome
    outcome.seconds = time.perf_counter() - started
    session.history += [{"role": "user", "content": turn}, {"role": "assistant", "content": "".join(answer)}]
    return outcome


async def run_phase(url: str, key: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
    arrivals = workload(args.seed, args.seconds, args.rate, args.sessions, args.long_share)
    sessions = [Session(p) for p in session_prefixes(args.seed, args.sessions)]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
        began = time.monotonic()
        deadline = began + args.seconds + 60
        tasks = []
        for offset, s, turn, max_tokens in arrivals:
            delay = began + offset - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(
                one_request(http, url, key, model, sessions[s], turn, max_tokens, deadline)))
        outcomes: list[Outcome] = await asyncio.gather(*tasks)
        elapsed = time.monotonic() - began
    done = [o for o in outcomes if o.error is None and o.ttft is not None]
    ttfts = sorted(o.ttft for o in done if o.ttft is not None)

    def pct(p: float) -> float:
        return round(ttfts[min(len(ttfts) - 1, int(p / 100 * len(ttfts)))] * 1000, 1) if ttfts else float("nan")

    prompt = sum(o.prompt_tokens for o in done)
    return {
        "model": model, "requests": len(outcomes), "completed": len(done),
        "errors": len(outcomes) - len(done),
        "ttft_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99),
                    "mean": round(statistics.fmean(ttfts) * 1000, 1) if ttfts else float("nan")},
        "requests_per_second": round(len(done) / elapsed, 2),
        "output_tokens_per_second": round(sum(o.completion_tokens for o in done) / elapsed, 1),
        "prefix_cache_hit_rate": round(sum(o.cached_tokens for o in done) / prompt, 3) if prompt else 0.0,
        "seconds": round(elapsed, 1),
    }


# -- the run ----------------------------------------------------------------------------

def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"pick_cost": [pick_cost(4), pick_cost(100)], "phases": [],
                              "config": {"rate": args.rate, "seconds": args.seconds, "sessions": args.sessions,
                                         "long_share": args.long_share, "seed": args.seed, "replica": SPEC}}
    if args.pick_cost_only:
        return report
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-picker-") as tmp:
        logs = Path(tmp)
        ports = [free_port() for _ in range(8)]
        start(stack, [sys.executable, "-m", "tests.fakes.vllm_replica", "--ports", ",".join(map(str, ports)),
                      "--spec", json.dumps({**SPEC, "seed": args.seed})], log=logs / "replicas.log")
        urls = [f"http://127.0.0.1:{p}" for p in ports]
        config = logs / "gateway.yaml"
        config.write_text(CATALOG.format(rr=", ".join(urls[:4]), la=", ".join(urls[4:])))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
        env.update(GATEWAY_DATABASE_URL=f"sqlite+aiosqlite:///{logs / 'gateway.db'}", GATEWAY_CONFIG=str(config),
                   GATEWAY_ADMIN_KEY="sk-admin-bench-" + uuid.uuid4().hex, GATEWAY_LOG_LEVEL="warning")
        cli(env, "migrate")
        cli(env, "tenants", "create", "bench", "--tier", "bench", "--models", "*")
        key = next(w for w in cli(env, "keys", "create", "--tenant", "bench").split() if w.startswith("sk-bench-"))
        gw_port = free_port()
        start(stack, [str(Path(sys.executable).parent / "llm-gateway"), "serve", "--port", str(gw_port)],
              env=env, log=logs / "gateway.log")
        for url in urls:
            wait_url(url + "/health")
        wait_url(f"http://127.0.0.1:{gw_port}/healthz")
        time.sleep(1.0)                       # the load-aware pool's first scrapes
        url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
        for model in ("sim-rr", "sim-la"):
            print(f"phase {model}: {args.seconds:g} s of arrivals at {args.rate:g}/s ...", file=sys.stderr)
            report["phases"].append(asyncio.run(run_phase(url, key, model, args)))
    return report


def print_table(report: dict[str, Any]) -> None:
    print("CPU per pick (placement of one request; warm prefix index, every replica fresh):")
    print("| replicas | us per pick | us per request incl. prompt hashing (~12k-char prompt) |")
    print("|---:|---:|---:|")
    for row in report["pick_cost"]:
        print(f"| {row['replicas']} | {row['us_per_pick']} | {row['us_per_request_incl_hashing']} |")
    if not report["phases"]:
        return
    print()
    print("| picker | requests | errors | TTFT p50 ms | p90 ms | p99 ms | req/s | output tok/s "
          "| prefix-cache hit rate |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for phase in report["phases"]:
        t = phase["ttft_ms"]
        name = "round-robin" if phase["model"] == "sim-rr" else "load-aware"
        print(f"| {name} | {phase['requests']} | {phase['errors']} | {t['p50']} | {t['p90']} | {t['p99']} | "
              f"{phase['requests_per_second']} | {phase['output_tokens_per_second']} | "
              f"{phase['prefix_cache_hit_rate']:.1%} |")
    rr, la = report["phases"]
    print(f"\nload-aware / round-robin TTFT: p50 {la['ttft_ms']['p50'] / rr['ttft_ms']['p50']:.2f}x, "
          f"p99 {la['ttft_ms']['p99'] / rr['ttft_ms']['p99']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=45.0, help="arrivals per phase (default 45)")
    parser.add_argument("--rate", type=float, default=10.0, help="requests per second, Poisson (default 10)")
    parser.add_argument("--sessions", type=int, default=24)
    parser.add_argument("--long-share", type=float, default=0.05, help="share of long generations (150-250 tokens)")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--pick-cost-only", action="store_true")
    args = parser.parse_args()
    report = run(args)
    report["date"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    report["cpus"] = os.cpu_count()
    if not args.pick_cost_only:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "picker.json").write_text(json.dumps(report, indent=2))
    print_table(report)


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
