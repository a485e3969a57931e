"""The gateway's overhead and throughput, side by side with a direct call, in one command:

    python -m bench.run                 # ~4 minutes; writes bench/results/latest.json
    python -m bench.run --quick         # shorter phases, for a smoke check
    python -m bench.run --soak 1000000  # RSS every 50k requests over a long closed-loop run

It starts a near-instant fake OpenAI upstream, a bare FastAPI pass-through proxy (the
calibration: same server stack and upstream client, no gateway work), and the gateway in
production mode (PostgreSQL, Redis, the full pipeline, usage records on), then drives each
with a load generator in its own process. Needs PostgreSQL at 127.0.0.1:5432 (user
postgres) and Redis at 127.0.0.1:6379.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/{db}"
REDIS = "redis://127.0.0.1:6379/0"

CATALOG = """
providers:
  upstream: {{type: openai, base_url: "http://127.0.0.1:{port}/v1", api_key: sk-bench-upstream}}
models:
  bench-model:
    price: {{input: 0.15, output: 0.60}}
    deployments: [{{provider: upstream, upstream: bench-model}}]
tiers:
  bench: {{rpm: 100000000, tpm: 100000000000, daily_tokens: 100000000000}}
"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def start(stack: ExitStack, args: list[str], env: dict[str, str] | None = None,
          log: Path | None = None) -> subprocess.Popen[bytes]:
    out = open(log, "wb") if log else subprocess.DEVNULL  # closed when the process is
    process = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    stack.callback(stop)
    return process


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def loadgen(*args: str) -> dict[str, Any]:
    output = subprocess.run([sys.executable, "-m", "bench.loadgen", *args], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def psql(sql: str) -> None:
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-q", "-c", sql], check=True,
                   capture_output=True)


def gateway_env(db_url: str, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DATABASE_URL=db_url, GATEWAY_REDIS_URL=REDIS, GATEWAY_CONFIG=str(config),
               GATEWAY_ADMIN_KEY="sk-admin-bench-" + uuid.uuid4().hex, GATEWAY_LOG_LEVEL="warning")
    return env


def cli(env: dict[str, str], *args: str) -> str:
    command = [str(Path(sys.executable).parent / "llm-gateway"), *args]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True, cwd=ROOT).stdout


def ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


@dataclass
class Servers:
    urls: dict[str, str]      # direct, passthrough, gateway
    key: str
    gateway: subprocess.Popen[bytes]


def start_servers(stack: ExitStack, database: str, logs: Path, gateway_env_extra: dict[str, str] | None = None
                  ) -> Servers:
    """The fake upstream, the pass-through and the gateway (on a new PostgreSQL database), up and answering."""
    psql(f'CREATE DATABASE "{database}"')
    up_port, pass_port, gw_port = free_port(), free_port(), free_port()
    start(stack, [sys.executable, "-m", "bench.fake_upstream", "--port", str(up_port)], log=logs / "up.log")
    start(stack, [sys.executable, "-m", "bench.passthrough", "--port", str(pass_port), "--upstream",
                  f"http://127.0.0.1:{up_port}"], log=logs / "pass.log")
    config = logs / "gateway.yaml"
    config.write_text(CATALOG.format(port=up_port))
    env = gateway_env(PG.format(db=database), config)
    env.update(gateway_env_extra or {})
    cli(env, "migrate")
    cli(env, "tenants", "create", "bench", "--tier", "bench", "--models", "*")
    key = re.search(r"(sk-bench-\S+)", cli(env, "keys", "create", "--tenant", "bench")).group(1)  # type: ignore[union-attr]
    gateway = start(stack, [str(Path(sys.executable).parent / "llm-gateway"), "serve", "--port",
                            str(gw_port)], env=env, log=logs / "gateway.log")
    for port in (up_port, pass_port, gw_port):
        wait_http(f"http://127.0.0.1:{port}/v1/models" if port != gw_port
                  else f"http://127.0.0.1:{port}/healthz")
    urls = {"direct": f"http://127.0.0.1:{up_port}/v1/chat/completions",
            "passthrough": f"http://127.0.0.1:{pass_port}/v1/chat/completions",
            "gateway": f"http://127.0.0.1:{gw_port}/v1/chat/completions"}
    return Servers(urls, key, gateway)


CLOSED_ROUNDS = 3


def _median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median throughput."""
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def run(quick: bool, soak: int) -> dict[str, Any]:
    phase = 4.0 if quick else 10.0
    rates = [100, 200, 500] if quick else [100, 200, 500, 1000]
    database = f"gw_bench_{uuid.uuid4().hex[:8]}"
    report: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "python": platform.python_version(),
                                          "platform": platform.platform()},
                              "when": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    logs = Path(tempfile.mkdtemp(prefix="gw-bench-"))
    try:
        with ExitStack() as stack:
            servers = start_servers(stack, database, logs)
            urls, key, gateway = servers.urls, servers.key, servers.gateway
            # warm up every path (connection pools, caches of the key directory)
            for url in urls.values():
                loadgen("closed", "--url", url, "--connections", "10", "--seconds", "2", "--key", key)
            report["rss_mb_at_rest"] = round(rss_mb(gateway.pid), 1)
            cpu_before = cpu_seconds(gateway.pid)
            served_before = 0

            # Rounds taking turns, medians reported: runs on a shared machine vary by +-30%, and
            # one run of each, one after the other, can put a slow spell on either side.
            rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in urls}
            for _ in range(CLOSED_ROUNDS):
                for name, url in urls.items():
                    rounds[name].append(loadgen("closed", "--url", url, "--connections", "50", "--seconds",
                                                str(phase / 2), "--key", key))
            served_before += sum(r["ok"] for r in rounds["gateway"])
            closed = {name: _median_run(runs) for name, runs in rounds.items()}
            report["closed_loop_50"] = {name: {"rps": round(r["rps"]), "errors": sum(x["errors"] for x in rounds[name]),
                                               "p50_ms": ms(r["latency"]["p50"]), "p99_ms": ms(r["latency"]["p99"]),
                                               "rps_each_round": [round(x["rps"]) for x in rounds[name]]}
                                        for name, r in closed.items()}
            report["throughput_vs_passthrough"] = round(closed["gateway"]["rps"] / closed["passthrough"]["rps"], 3)

            report["open_loop"] = []
            for rate in rates:
                direct = loadgen("open", "--url", urls["direct"], "--rate", str(rate), "--seconds", str(phase),
                                 "--key", key)
                via = loadgen("open", "--url", urls["gateway"], "--rate", str(rate), "--seconds", str(phase),
                              "--key", key)
                served_before += via["ok"]
                report["open_loop"].append({
                    "rate": rate, "gateway_errors": via["errors"], "achieved_rps": round(via["achieved_rps"]),
                    "direct_ms": {k: ms(v) for k, v in direct["latency"].items()},
                    "gateway_ms": {k: ms(v) for k, v in via["latency"].items()},
                    "overhead_ms": {k: ms(via["latency"][k] - direct["latency"][k]) for k in ("p50", "p95", "p99")},
                })

            report["streaming"] = []
            for rate in rates[:3]:
                direct = loadgen("open", "--url", urls["direct"], "--rate", str(rate), "--seconds", str(phase),
                                 "--stream", "--key", key)
                via = loadgen("open", "--url", urls["gateway"], "--rate", str(rate), "--seconds", str(phase),
                              "--stream", "--key", key)
                served_before += via["ok"]
                report["streaming"].append({
                    "rate": rate, "gateway_errors": via["errors"],
                    "direct_ttft_ms": {k: ms(v) for k, v in direct["ttft"].items()},
                    "gateway_ttft_ms": {k: ms(v) for k, v in via["ttft"].items()},
                    "ttft_overhead_ms": {k: ms(via["ttft"][k] - direct["ttft"][k]) for k in ("p50", "p95", "p99")},
                })

            sustained = 0
            for rate in ([200, 400, 600] if quick else [200, 400, 600, 800, 1000, 1200, 1500]):
                via = loadgen("open", "--url", urls["gateway"], "--rate", str(rate), "--seconds", str(phase),
                              "--key", key)
                served_before += via["ok"]
                if via["errors"] == 0 and via["achieved_rps"] >= 0.97 * rate and via["latency"]["p99"] < 0.5:
                    sustained = rate
                else:
                    break
            report["max_sustained_rps"] = sustained
            report["max_sustained_rule"] = "zero errors, achieved >= 97% of offered, p99 < 500 ms"
            report["cpu_ms_per_request"] = round((cpu_seconds(gateway.pid) - cpu_before) * 1000 / served_before, 3)
            report["rss_mb_after_run"] = round(rss_mb(gateway.pid), 1)
            report["requests_served"] = served_before

            if soak:
                samples = []
                done = 0
                while done < soak:
                    r = loadgen("closed", "--url", urls["gateway"], "--connections", "50", "--seconds", "30",
                                "--key", key)
                    done += r["ok"]
                    samples.append({"requests": done, "rss_mb": round(rss_mb(gateway.pid), 1)})
                    print(f"soak: {done} requests, RSS {samples[-1]['rss_mb']} MB", flush=True)
                report["soak"] = samples
    finally:
        psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return report


def print_table(report: dict[str, Any]) -> None:
    print(f"\nmachine: {report['machine']}")
    print(f"\nclosed loop, 50 connections (median of {CLOSED_ROUNDS} rounds taking turns)")
    for name, r in report["closed_loop_50"].items():
        print(f"  {name:<12} {r['rps']:>6} req/s  p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms"
              f"  errors {r['errors']}  (rounds: {', '.join(str(x) for x in r['rps_each_round'])} req/s)")
    print(f"  gateway / pass-through throughput: {report['throughput_vs_passthrough']:.0%}")
    print("\nopen loop overhead (gateway minus direct, same rate)")
    print("  rate   p50 ms   p95 ms   p99 ms   errors  achieved")
    for r in report["open_loop"]:
        o = r["overhead_ms"]
        print(f"  {r['rate']:>4} {o['p50']:>8} {o['p95']:>8} {o['p99']:>8} {r['gateway_errors']:>8}"
              f" {r['achieved_rps']:>9}")
    print("\nstreaming: time-to-first-token overhead")
    for r in report["streaming"]:
        o = r["ttft_overhead_ms"]
        print(f"  {r['rate']:>4} {o['p50']:>8} {o['p95']:>8} {o['p99']:>8} {r['gateway_errors']:>8}")
    print(f"\nmax sustained: {report['max_sustained_rps']} req/s ({report['max_sustained_rule']})")
    print(f"RSS: {report['rss_mb_at_rest']} MB at rest, {report['rss_mb_after_run']} MB after "
          f"{report['requests_served']} requests")
    print(f"CPU per request: {report['cpu_ms_per_request']} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--soak", type=int, default=0, help="requests for the memory soak (e.g. 1000000)")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()
    report = run(args.quick, args.soak)
    print_table(report)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {args.output}")


if __name__ == "__main__":
    main()
