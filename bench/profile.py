"""Profile the gateway's hot path under load: the same servers as `bench.run`, a closed-loop
load, and py-spy sampling the gateway process. Prints where the CPU goes and CPU per request.

    python -m bench.profile                      # 15 s at 50 connections
    python -m bench.profile --seconds 20 --stream
    python -m bench.profile --runs 3 --no-sampling   # CPU per request only, for A/B comparisons
    python -m bench.profile --rate 200 --no-sampling # open loop at 200 req/s (no batching across requests)
    python -m bench.profile --against /tmp/base --runs 5  # A/B: this tree against another checkout
    python -m bench.profile --against /tmp/base --own-redis --no-sampling   # + redis-server CPU per request

`--against DIR` starts a second gateway from DIR's sources (`git archive <commit> | tar -x -C
DIR`) on the same upstream, database and Redis, runs the load against each in turn (`--runs`
rounds, A then B, so a slow spell of a shared machine falls on both) and prints the median CPU
per request of each; no sampling. `--against passthrough` compares with the bare pass-through
(bench/passthrough.py); with `--rate` both see the same offered load, so the same batching.

`--own-redis` gives each gateway a redis-server of its own (the machine's is shared with
whatever else runs): its CPU per request is reported as `redis`, and per run its commands per
request and usec per call (INFO commandstats, reset before each run).

py-spy needs ptrace (root here). The table lists, for the functions under the gateway's own
packages and the libraries on the path, the share of samples in which they are on the stack
(inclusive) and at its top (self).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.run import loadgen
from bench.targets import Bench, Target, cpu_split


def summarise(collapsed: Path, top: int) -> None:
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        print("no samples")
        return
    print(f"\n{total} samples; top {top} by inclusive share")
    for frame, count in inclusive.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")
    print(f"\ntop {top} by self share")
    for frame, count in own.most_common(top):
        print(f"  {100 * count / total:5.1f}%  {frame}")


def redis_cli(gateway: Target, *command: str) -> str:
    port = gateway.notes["redis_port"]
    return subprocess.run(["redis-cli", "-p", port, *command], capture_output=True, text=True, check=True).stdout


def commandstats(gateway: Target, requests: int) -> str:
    """`cmd calls/request usec/call` for each command of the run, most costly first."""
    rows = []
    for line in redis_cli(gateway, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line.partition(":")
            values = dict(field.split("=") for field in fields.split(","))
            rows.append((float(values["usec"]), name[8:], int(values["calls"]), float(values["usec_per_call"])))
    rows.sort(reverse=True)
    return ", ".join(f"{name} {calls / requests:.2f}/req {per:.1f} us" for _, name, calls, per in rows[:6])


def measure(gateway: Target, key: str, args: argparse.Namespace) -> dict[str, float]:
    """One load run against `gateway`: its CPU per request (ms), serving process and whole tree,
    and its own redis-server's (with `--own-redis`)."""
    if gateway.redis_pid is not None:
        redis_cli(gateway, "CONFIG", "RESETSTAT")
    redis_before = gateway.redis_cpu()
    serving_before, tree_before = gateway.serving_cpu(), gateway.cpu()
    user_before, system_before = cpu_split(gateway.process.pid)
    load = (["open", "--rate", str(args.rate)] if args.rate else ["closed", "--connections", str(args.connections)])
    result = loadgen(*load, "--url", gateway.url, "--seconds", str(args.seconds), "--key", key,
                     *(["--stream"] if args.stream else []))
    serving, tree = gateway.serving_cpu() - serving_before, gateway.cpu() - tree_before
    user_after, system_after = cpu_split(gateway.process.pid)
    ok = max(int(result["ok"]), 1)
    redis = gateway.redis_cpu() - redis_before
    if gateway.redis_pid is not None:
        print(f"  {gateway.name} redis commands: {commandstats(gateway, ok)}", flush=True)
    return {"ok": ok, "errors": float(result["errors"]), "redis": 1000 * redis / ok,
            "rps": float(result["rps"] if "rps" in result else result["achieved_rps"]),
            "serving": 1000 * serving / ok, "user": 1000 * (user_after - user_before) / ok,
            "system": 1000 * (system_after - system_before) / ok, "tree": 1000 * tree / ok}


def describe(run: dict[str, float]) -> str:
    return (f"{run['ok']:.0f} requests, {run['errors']:.0f} errors, {run['rps']:.0f} req/s, CPU {run['serving']:.3f} "
            f"ms/request in the serving process (user {run['user']:.3f}, system {run['system']:.3f}), "
            f"{run['tree']:.3f} with the usage drain, redis-server {run['redis']:.3f}")


def compare(args: argparse.Namespace) -> None:
    logs = Path(tempfile.mkdtemp(prefix="gw-ab-"))
    with ExitStack() as stack:
        bench = Bench(stack, logs)
        bench.start_upstream()
        bench.prepare_gateway()
        gateways = {"A (this tree)": bench.start_gateway("gateway-a", log_level=args.log_level, drain=args.drain,
                                                         own_redis=args.own_redis)}
        if str(args.against) == "passthrough":
            gateways["B (the bare pass-through)"] = bench.start_passthrough()
        else:
            gateways[f"B ({args.against})"] = bench.start_gateway("gateway-b", log_level=args.log_level,
                                                                  drain=args.drain, source=args.against,
                                                                  own_redis=args.own_redis)
        for gateway in gateways.values():
            loadgen("closed", "--url", gateway.url, "--connections", "10", "--seconds", "2", "--key", bench.key)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in gateways}
        for _ in range(args.runs):
            for name, gateway in gateways.items():
                run = measure(gateway, bench.key, args)
                runs[name].append(run)
                print(f"{name}: {describe(run)}", flush=True)
        print(f"\nmedians of {args.runs} runs, CPU ms per request: serving process (user + system) / whole tree"
              " / redis-server (with --own-redis)")
        for name, each in runs.items():
            print(f"  {name:<40} {statistics.median(r['serving'] for r in each):.3f} "
                  f"({statistics.median(r['user'] for r in each):.3f} + "
                  f"{statistics.median(r['system'] for r in each):.3f}) / "
                  f"{statistics.median(r['tree'] for r in each):.3f} / "
                  f"{statistics.median(r['redis'] for r in each):.3f}   "
                  f"{statistics.median(r['rps'] for r in each):.0f} req/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--rate", type=float, default=0,
                        help="open loop at this rate (req/s) instead of the closed loop")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sample-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--gil", action="store_true",
                        help="py-spy --gil: only the thread holding the GIL (Python's own CPU, no waits)")
    parser.add_argument("--runs", type=int, default=1, help="load runs (the profile samples the first)")
    parser.add_argument("--no-sampling", action="store_true", help="no py-spy: CPU per request only")
    parser.add_argument("--log-level", default="info",
                        help="the gateway's GATEWAY_LOG_LEVEL (default info, as users run it)")
    parser.add_argument("--drain", choices=["process", "inline"], default="process",
                        help="GATEWAY_USAGE_DRAIN (process: the default, the drain's CPU is not sampled)")
    parser.add_argument("--own-redis", action="store_true",
                        help="each gateway on a redis-server of its own: its CPU and commandstats per request")
    parser.add_argument("--against", type=Path,
                        help="A/B: also a gateway from this checkout's sources, or `passthrough`")
    args = parser.parse_args()
    if args.against is not None:
        compare(args)
        return
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    logs = Path(tempfile.mkdtemp(prefix="gw-prof-"))
    with ExitStack() as stack:
        bench = Bench(stack, logs)
        bench.start_upstream()
        bench.prepare_gateway()
        gateway = bench.start_gateway("gateway", log_level=args.log_level, drain=args.drain,
                                      own_redis=args.own_redis)
        url, key = gateway.url, bench.key
        loadgen("closed", "--url", url, "--connections", "10", "--seconds", "2", "--key", key)
        collapsed = logs / "profile.txt"
        for run in range(args.runs):
            sampler = None
            if run == 0 and not args.no_sampling:
                sampler = subprocess.Popen([py_spy, "record", "--pid", str(gateway.process.pid), "--format",
                                            "raw", "--rate", str(args.sample_rate), "--duration",
                                            str(int(args.seconds)),
                                            "--output", str(collapsed), *(["--gil"] if args.gil else [])],
                                           stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
            run_figures = measure(gateway, key, args)
            if sampler is not None:
                sampler.wait(60)
            print(describe(run_figures) + (" (sampled)" if sampler else ""), flush=True)
        if not args.no_sampling:
            summarise(collapsed, args.top)
            print(f"\nraw stacks (for speedscope or flamegraph.pl): {collapsed}")


if __name__ == "__main__":
    main()
