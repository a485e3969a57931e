"""Profile the gateway's hot path under load: the same servers as `bench.run`, a closed-loop
load, and py-spy sampling the gateway process. Prints where the CPU goes and CPU per request.

    python -m bench.profile                      # 15 s at 50 connections
    python -m bench.profile --seconds 20 --stream
    python -m bench.profile --runs 3 --no-sampling   # CPU per request only, for A/B comparisons

py-spy needs ptrace (root here). The table lists, for the functions under the gateway's own
packages and the libraries on the path, the share of samples in which they are on the stack
(inclusive) and at its top (self).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.run import loadgen
from bench.targets import Bench


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--runs", type=int, default=1, help="load runs (the profile samples the first)")
    parser.add_argument("--no-sampling", action="store_true", help="no py-spy: CPU per request only")
    parser.add_argument("--log-level", default="info",
                        help="the gateway's GATEWAY_LOG_LEVEL (default info, as users run it)")
    parser.add_argument("--drain", choices=["process", "inline"], default="process",
                        help="GATEWAY_USAGE_DRAIN (process: the default, the drain's CPU is not sampled)")
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    logs = Path(tempfile.mkdtemp(prefix="gw-prof-"))
    with ExitStack() as stack:
        bench = Bench(stack, logs)
        bench.start_upstream()
        bench.prepare_gateway()
        gateway = bench.start_gateway("gateway", log_level=args.log_level, drain=args.drain)
        url, key = gateway.url, bench.key
        loadgen("closed", "--url", url, "--connections", "10", "--seconds", "2", "--key", key)
        collapsed = logs / "profile.txt"
        for run in range(args.runs):
            sampler = None
            if run == 0 and not args.no_sampling:
                sampler = subprocess.Popen([py_spy, "record", "--pid", str(gateway.process.pid), "--format",
                                            "raw", "--rate", "200", "--duration", str(int(args.seconds)),
                                            "--output", str(collapsed)], stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL)
            serving_before, tree_before = gateway.serving_cpu(), gateway.cpu()
            result = loadgen("closed", "--url", url, "--connections", str(args.connections), "--seconds",
                             str(args.seconds), "--key", key, *(["--stream"] if args.stream else []))
            serving, tree = gateway.serving_cpu() - serving_before, gateway.cpu() - tree_before
            if sampler is not None:
                sampler.wait(60)
            ok = max(int(result["ok"]), 1)
            print(f"{result['ok']} requests, {result['errors']} errors, {float(result['rps']):.0f} req/s, "
                  f"CPU {1000 * serving / ok:.3f} ms/request in the serving process, {1000 * tree / ok:.3f} with "
                  "the usage drain" + (" (sampled)" if sampler else ""), flush=True)
        if not args.no_sampling:
            summarise(collapsed, args.top)
            print(f"\nraw stacks (for speedscope or flamegraph.pl): {collapsed}")


if __name__ == "__main__":
    main()
