"""The semantic cache, measured: quality on the labelled pairs, speed at 50 req/s, and the
index's lookup cost as a tenant's entries grow.

    python -m bench.semantic_cache                # all three sections, ~6 minutes
    python -m bench.semantic_cache quality        # recall / false hits: defaults, threshold sweep, guards
    python -m bench.semantic_cache speed          # miss overhead and hit latency at 50 req/s
    python -m bench.semantic_cache index          # lookup cost at 1k, 10k, 100k entries per tenant

quality: every pair of tests/data/semantic_pairs.tsv through a real `llm-gateway serve`
(embedded mode, the `local` all-MiniLM-L6-v2 model, the mock provider): once with the
default threshold and guards (the embedding budget raised to 5 s: quality is what is
measured here, and an embedding timing out on a loaded machine is a miss for another
reason), once at threshold 0 (the sweep: a pair hits at threshold t if it hit at 0 with
similarity >= t; each pair is its own partition, so there is one candidate), once at
threshold 0 without guards (the similarity of every pair; what each guard catches).
speed: the fake upstream answers after 100 ms; an exact-mode and a semantic-mode gateway
(PostgreSQL, Redis) each take 50 req/s of distinct prompts (all misses) in alternating
rounds; the difference of their latencies is what a semantic miss adds, and the difference of
their serving processes' CPU time per request (read from /proc; less disturbed than latency
when other work shares the machine) what it costs. Then semantic hits (paraphrases of
seeded questions) at 50 req/s. Needs PostgreSQL and Redis on 127.0.0.1.
index: RedisSemanticIndex and MemorySemanticIndex filled with N random unit vectors in ONE
partition of one tenant (the worst case), then 300 lookups each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np

from bench.loadgen import percentiles
from bench.run import loadgen, ms
from bench.targets import REDIS, cli, cpu_seconds, free_port, psql, start, wait_url
from gateway.cache.semantic.guards import GUARDS, disagreements
from gateway.cache.semantic.index import MemorySemanticIndex, SemanticIndex
from gateway.cache.semantic.redis_index import RedisSemanticIndex
from gateway.cache.semantic.vectors import normalized
from gateway.cache.store import cache_client
from tests.support.semantic_pairs import Outcome, load_pairs, quality, run_pairs

ROOT = Path(__file__).resolve().parent.parent
LLM_GATEWAY = str(Path(sys.executable).parent / "llm-gateway")
DEFAULT_THRESHOLD = 0.75
SWEEP = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)

QUALITY_CATALOG = """
providers:
  mock: {{type: mock}}
  local: {{type: local}}
models:
  mock-echo: {{price: {{input: 0, output: 0}}, deployments: [{{provider: mock, upstream: echo}}]}}
  all-minilm-l6-v2: {{kind: embeddings, price: {{input: 0, output: 0}},
                     deployments: [{{provider: local, upstream: all-MiniLM-L6-v2}}]}}
tiers:
  pro: {{rpm: 1000000}}
cache:
  mode: semantic
  semantic: {{embedding_model: all-minilm-l6-v2, timeout_ms: 5000{knobs}}}
"""

SPEED_CATALOG = """
providers:
  upstream: {{type: openai, base_url: "http://127.0.0.1:{port}/v1", api_key: sk-bench-upstream}}
  local: {{type: local}}
models:
  bench-model:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: upstream, upstream: bench-model}}]
  all-minilm-l6-v2: {{kind: embeddings, price: {{input: 0, output: 0}},
                     deployments: [{{provider: local, upstream: all-MiniLM-L6-v2}}]}}
tiers:
  bench: {{rpm: 100000000, tpm: 100000000000, daily_tokens: 100000000000}}
cache:
  mode: {mode}
  semantic: {{embedding_model: all-minilm-l6-v2}}
"""


def env_for(database_url: str, config: Path, redis: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DATABASE_URL=database_url, GATEWAY_CONFIG=str(config), GATEWAY_LOG_LEVEL="warning",
               GATEWAY_ADMIN_KEY="sk-admin-bench-" + uuid.uuid4().hex, GATEWAY_BOOTSTRAP_DEMO_TENANT="false")
    if redis:
        env.update(GATEWAY_REDIS_URL=REDIS, GATEWAY_USAGE_STREAM_KEY=f"gw:usage:bench:{uuid.uuid4().hex[:8]}")
    return env


def new_key(env: dict[str, str], tier: str) -> str:
    tenant = f"bench{uuid.uuid4().hex[:8]}"
    cli(env, "tenants", "create", tenant, "--tier", tier, "--models", "*")
    found = re.search(r"(sk-\S+)", cli(env, "keys", "create", "--tenant", tenant))
    assert found is not None
    return found.group(1)


def serve(stack: ExitStack, env: dict[str, str], logs: Path, name: str) -> str:
    return serve_process(stack, env, logs, name)[0]


def serve_process(stack: ExitStack, env: dict[str, str], logs: Path, name: str) -> tuple[str, int]:
    """The gateway's URL and the pid of its serving process (for its CPU time)."""
    port = free_port()
    process = start(stack, [LLM_GATEWAY, "serve", "--port", str(port)], env=env, log=logs / f"{name}.log")
    wait_url(f"http://127.0.0.1:{port}/healthz", timeout=120)
    return f"http://127.0.0.1:{port}", process.pid


# -- quality --------------------------------------------------------------------------------

def quality_run(logs: Path, name: str, knobs: str) -> list[Outcome]:
    directory = logs / name
    directory.mkdir()
    config = directory / "gateway.yaml"
    config.write_text(QUALITY_CATALOG.format(knobs=knobs))
    env = env_for(f"sqlite+aiosqlite:///{directory}/gateway.db", config, redis=False)
    cli(env, "migrate")
    key = new_key(env, "pro")
    with ExitStack() as stack:
        url = serve(stack, env, directory, "gateway")
        started = time.perf_counter()
        outcomes = run_pairs(url, key, load_pairs(), model="mock-echo", tag=name)
        print(f"  {name}: {len(outcomes)} pairs in {time.perf_counter() - started:.1f} s", flush=True)
    return outcomes


def quality_section(logs: Path) -> dict[str, Any]:
    defaults = quality(quality_run(logs, "defaults", ""))
    print(f"defaults (threshold {DEFAULT_THRESHOLD}, guards on): {defaults.line()}")
    guarded = quality_run(logs, "threshold-0", ", threshold: 0")
    unguarded = quality_run(logs, "no-guards", ", threshold: 0, guards: false")
    sweep = []
    for threshold in SWEEP:
        with_guards, without = quality(guarded, threshold), quality(unguarded, threshold)
        sweep.append({"threshold": threshold, "recall": round(with_guards.recall, 3),
                      "false_hits": round(with_guards.false_hit_rate, 3),
                      "recall_without_guards": round(without.recall, 3),
                      "false_hits_without_guards": round(without.false_hit_rate, 3)})
    print("\nthreshold  recall  false hits | without guards: recall  false hits")
    for row in sweep:
        print(f"  {row['threshold']:.2f}     {row['recall']:6.1%}  {row['false_hits']:6.1%}    |"
              f"                 {row['recall_without_guards']:6.1%}  {row['false_hits_without_guards']:6.1%}")
    guards = guard_table(unguarded)
    print(f"\nwhat each guard buys (negatives and paraphrases at similarity >= {DEFAULT_THRESHOLD}):")
    print("  guard       catches  alone  paraphrases it rejects")
    for name, counts in guards.items():
        caught, alone, rejected = counts["negatives_caught"], counts["caught_alone"], counts["paraphrases_rejected"]
        print(f"  {name:10}  {caught:7}  {alone:5}  {rejected:5}")
    similarities = {label: [o.similarity or 0 for o in unguarded if o.pair.same == same]
                    for label, same in (("paraphrases", True), ("negatives", False))}
    medians = {k: round(float(np.median(v)), 3) for k, v in similarities.items()}
    print(f"\nmedian cosine similarity: {medians}")
    return {"pairs": defaults.paraphrases + defaults.negatives, "defaults": {
        "recall": round(defaults.recall, 3), "false_hits": round(defaults.false_hit_rate, 3),
        "by_kind": defaults.by_kind}, "sweep": sweep, "guards": guards, "median_similarity": medians}


def guard_table(unguarded: list[Outcome]) -> dict[str, dict[str, int]]:
    """Over the pairs that reach the default threshold: the negatives each guard catches,
    those it alone catches (a false hit without it), and the paraphrases it turns away."""
    table = {name: {"negatives_caught": 0, "caught_alone": 0, "paraphrases_rejected": 0} for name in GUARDS}
    for o in unguarded:
        if (o.similarity or 0) < DEFAULT_THRESHOLD:
            continue
        failed = disagreements(o.pair.a, o.pair.b)
        for name in failed:
            table[name]["paraphrases_rejected" if o.pair.same else "negatives_caught"] += 1
        if not o.pair.same and len(failed) == 1:
            table[failed[0]]["caught_alone"] += 1
    return table


# -- speed ----------------------------------------------------------------------------------

PARAPHRASES = [
    ("What is the capital of France?", "Could you please tell me the capital of France?"),
    ("How do I reverse a list in Python?", "In Python, how do I reverse a list?"),
    ("Why is the sky blue?", "Can you explain why the sky is blue?"),
    ("How do I cancel my subscription?", "Could you please tell me how to cancel my subscription?"),
    ("What are the symptoms of dehydration?", "Can you list the symptoms of dehydration please?"),
]


async def paced(url: str, key: str, prompts: list[str], rate: float, *, store: bool = True) -> dict[str, Any]:
    """Sends `prompts` at `rate` per second (open loop); latency from each scheduled send.
    `store=False` sends `Cache-Control: no-store`: a miss leaves no exact entry behind, so a
    repeated paraphrase stays a semantic lookup."""
    latencies: list[float] = []
    statuses: dict[str, int] = {}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    if not store:
        headers["Cache-Control"] = "no-store"
    async with aiohttp.ClientSession() as session:
        begin = time.perf_counter()

        async def fire(i: int, prompt: str) -> None:
            scheduled = begin + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            body = {"model": "bench-model", "messages": [{"role": "user", "content": prompt}]}
            async with session.post(url + "/v1/chat/completions", json=body, headers=headers) as response:
                await response.read()
                status = response.headers.get("x-gateway-cache-match", response.headers.get("x-gateway-cache", "?"))
                statuses[status] = statuses.get(status, 0) + 1
            latencies.append(time.perf_counter() - scheduled)

        await asyncio.gather(*(fire(i, p) for i, p in enumerate(prompts)))
    return {"latency": percentiles(latencies), "statuses": statuses}


def speed_section(logs: Path, seconds: float, rounds: int, rate: float = 50) -> dict[str, Any]:
    database = f"gw_bench_sem_{uuid.uuid4().hex[:8]}"
    psql(f'CREATE DATABASE "{database}"')
    report: dict[str, Any] = {"rate": rate, "upstream_delay_ms": 100, "seconds_per_round": seconds, "rounds": rounds}
    try:
        with ExitStack() as stack:
            up_port = free_port()
            start(stack, [sys.executable, "-m", "bench.fake_upstream", "--port", str(up_port), "--delay-ms", "100"],
                  log=logs / "upstream.log")
            wait_url(f"http://127.0.0.1:{up_port}/v1/models")
            urls, envs, pids = {}, {}, {}
            for mode in ("exact", "semantic"):
                config = logs / f"{mode}.yaml"
                config.write_text(SPEED_CATALOG.format(port=up_port, mode=mode))
                envs[mode] = env_for(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{database}", config, redis=True)
                if mode == "exact":
                    cli(envs[mode], "migrate")
                urls[mode], pids[mode] = serve_process(stack, envs[mode], logs, mode)
            for mode, url in urls.items():           # warm up: connections, the model
                loadgen("open", "--url", url + "/v1/chat/completions", "--rate", "20", "--seconds", "2",
                        "--key", new_key(envs[mode], "bench"))
            runs: dict[str, list[dict[str, Any]]] = {"exact": [], "semantic": []}
            cpu: dict[str, list[float]] = {"exact": [], "semantic": []}
            for _ in range(rounds):
                for mode, url in urls.items():       # a new tenant each round: every prompt a miss
                    key = new_key(envs[mode], "bench")
                    before = cpu_seconds(pids[mode])
                    run = loadgen("open", "--url", url + "/v1/chat/completions", "--rate", str(rate),
                                  "--seconds", str(seconds), "--key", key)
                    time.sleep(0.5)                   # the last answers' finishers
                    runs[mode].append(run)
                    cpu[mode].append((cpu_seconds(pids[mode]) - before) / max(1, int(seconds * rate)))
            for mode in runs:
                report[f"{mode}_miss_ms"] = {q: ms(float(np.median([r["latency"][q] for r in runs[mode]])))
                                             for q in ("p50", "p95", "p99")}
                report[f"{mode}_errors"] = sum(r["errors"] for r in runs[mode])
                report[f"{mode}_cpu_ms_per_request"] = ms(float(np.median(cpu[mode])))
            report["semantic_miss_adds_ms"] = {q: round(report["semantic_miss_ms"][q] - report["exact_miss_ms"][q], 3)
                                               for q in ("p50", "p95", "p99")}
            report["embeddings_during_misses"] = embedding_stats(urls["semantic"])
            key = new_key(envs["semantic"], "bench")
            asyncio.run(paced(urls["semantic"], key, [a for a, _ in PARAPHRASES], 10))      # seed
            count = int(seconds * rate)
            hits = asyncio.run(paced(urls["semantic"], key, [PARAPHRASES[i % 5][1] for i in range(count)], rate,
                                     store=False))
            exact = asyncio.run(paced(urls["semantic"], key, [PARAPHRASES[i % 5][0] for i in range(count)], rate))
            report["semantic_hit_ms"] = {q: ms(v) for q, v in hits["latency"].items()}
            report["semantic_hit_statuses"] = hits["statuses"]
            report["exact_hit_ms"] = {q: ms(v) for q, v in exact["latency"].items()}
    finally:
        psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(f"\nat {rate:g} req/s, upstream answering in 100 ms ({rounds} rounds of {seconds:.0f} s, medians):")
    print(f"  exact-mode miss    {report['exact_miss_ms']}  errors {report['exact_errors']}")
    print(f"  semantic-mode miss {report['semantic_miss_ms']}  errors {report['semantic_errors']}")
    print(f"  a semantic miss adds {report['semantic_miss_adds_ms']} ms")
    print(f"  serving-process CPU per request: exact {report['exact_cpu_ms_per_request']} ms, "
          f"semantic {report['semantic_cpu_ms_per_request']} ms (medians of the rounds)")
    print(f"  embedding calls: {report['embeddings_during_misses']}")
    print(f"  semantic hit       {report['semantic_hit_ms']}  {report['semantic_hit_statuses']}")
    print(f"  exact hit          {report['exact_hit_ms']}")
    return report


def embedding_stats(url: str) -> dict[str, dict[str, float]]:
    """From the gateway's /metrics: embedding calls by outcome, and their mean time."""
    import httpx

    sums: dict[str, dict[str, float]] = {}
    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        found = re.match(r'gateway_cache_embedding_seconds_(sum|count)\{.*outcome="(\w+)".*\} (\S+)', line)
        if found:
            sums.setdefault(found.group(2), {})[found.group(1)] = float(found.group(3))
    return {outcome: {"calls": v.get("count", 0), "mean_ms": ms(v.get("sum", 0) / max(1, v.get("count", 0)))}
            for outcome, v in sums.items()}


# -- index ----------------------------------------------------------------------------------

async def index_cost(index: SemanticIndex, sizes: tuple[int, ...], lookups: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    scope = f"bench{uuid.uuid4().hex[:8]}"
    rows, filled = [], 0
    try:
        for size in sizes:
            while filled < size:
                batch = min(500, size - filled)
                vectors = rng.standard_normal((batch, 384)).astype(np.float32)
                await asyncio.gather(*(index.add(scope, "one-partition", "m", normalized(v), f"prompt {filled + i}",
                                                 f"key{filled + i}", 3600) for i, v in enumerate(vectors)))
                filled += batch
            times, read = [], []
            for _ in range(lookups):
                query = normalized(rng.standard_normal(384).astype(np.float32))
                started = time.perf_counter()
                found = await index.nearest(scope, "one-partition", query, 10_000)
                times.append(time.perf_counter() - started)
                read.append(len(found))
            stats = percentiles(times)
            rows.append({"entries": size, "lookup_p50_ms": ms(stats["p50"]), "lookup_p99_ms": ms(stats["p99"]),
                         "entries_compared_max": max(read)})
            print(f"  {type(index).__name__:20} {size:>7} entries: lookup p50 {rows[-1]['lookup_p50_ms']} ms, "
                  f"p99 {rows[-1]['lookup_p99_ms']} ms, compares <= {max(read)}", flush=True)
    finally:
        await index.clear(scope)
    return rows


def index_section(sizes: tuple[int, ...]) -> dict[str, Any]:
    from redis.asyncio import Redis

    async def both() -> dict[str, Any]:
        admin = Redis.from_url(REDIS)
        redis_index = RedisSemanticIndex(cache_client(REDIS), admin, max_entries=max(sizes), owns_client=True)
        try:
            in_redis = await index_cost(redis_index, sizes, 300)
        finally:
            await redis_index.close()
            await admin.aclose()
        in_process = await index_cost(MemorySemanticIndex(max_entries=max(sizes)), sizes, 300)
        return {"redis": in_redis, "memory": in_process}

    print("\nindex lookup cost, one tenant, all entries in one partition (the worst case):")
    return asyncio.run(both())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("section", nargs="?", choices=["all", "quality", "speed", "index"], default="all")
    parser.add_argument("--seconds", type=float, default=15.0, help="speed: seconds per round")
    parser.add_argument("--rounds", type=int, default=3, help="speed: rounds per mode")
    parser.add_argument("--rate", type=float, default=50, help="speed: requests per second")
    parser.add_argument("--sizes", default="1000,10000,100000", help="index: entries per tenant")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "semantic_cache.json")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="gw-semantic-bench-"))
    report: dict[str, Any] = {"when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cores": os.cpu_count()}
    if args.section in ("all", "quality"):
        report["quality"] = quality_section(logs)
    if args.section in ("all", "speed"):
        report["speed"] = speed_section(logs, args.seconds, args.rounds, args.rate)
    if args.section in ("all", "index"):
        report["index"] = index_section(tuple(int(s) for s in args.sizes.split(",")))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.out} (logs in {logs})")


if __name__ == "__main__":
    main()
