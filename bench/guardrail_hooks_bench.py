"""What one guardrail webhook call costs the gateway (gateway/guardrails/webhook.py): the
CPU time of the calling thread (the gateway's event loop: build and send the POST, read and
check the reply) per call, and the wall time per call, against a hook on loopback that
allows at once (tests/fakes/guardrail_hook.py, in a thread of its own: its CPU is not
counted). The payload is a chat request's messages of about --kib KiB.

Bounded: --calls calls (default 2,000) or --seconds (default 20), whichever ends first;
the median of --repeats runs.

Run: python bench/guardrail_hooks_bench.py [--calls 2000] [--kib 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.catalog import GuardrailWebhook
from gateway.guardrails.webhook import Outcome, WebhookClient
from tests.fakes.guardrail_hook import FakeHooksServer


async def run(url: str, calls: int, seconds: float, kib: float) -> tuple[float, float, int]:
    """(CPU us per call, wall us per call, calls made)."""
    hook = GuardrailWebhook(name="bench", url=url, phase="request", timeout_ms=2000, on_error="block")
    client = WebhookClient([hook])
    text = ("The quarterly numbers look fine; please summarise them for the board. " * 200)[:int(kib * 1024)]
    payload = {"phase": "request", "request_id": "gw-bench", "tenant": "acme", "model": "gpt-4o-mini",
               "messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]}
    try:
        assert (await client.call(hook, payload)).outcome is Outcome.ALLOW    # the connection opened
        cpu_started, wall_started = time.thread_time(), time.perf_counter()
        made = 0
        while made < calls and time.perf_counter() - wall_started < seconds:
            reply = await client.call(hook, payload)
            assert reply.outcome is Outcome.ALLOW, reply
            made += 1
        cpu, wall = time.thread_time() - cpu_started, time.perf_counter() - wall_started
    finally:
        await client.close()
    return cpu / made * 1e6, wall / made * 1e6, made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kib", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with FakeHooksServer() as hooks:
        runs = [asyncio.run(run(hooks.url("bench"), args.calls, args.seconds, args.kib)) for _ in range(args.repeats)]
    cpu = statistics.median(r[0] for r in runs)
    wall = statistics.median(r[1] for r in runs)
    print(f"one request-phase hook call, {args.kib:g} KiB of messages, {runs[0][2]} calls a run, "
          f"median of {args.repeats} runs:")
    print(f"  gateway thread CPU per call: {cpu:7.1f} us")
    print(f"  wall time per call:          {wall:7.1f} us   (loopback; the hook's own time included)")
    print("  without guardrails.webhooks the hook steps are not in the pipeline: 0 us")


if __name__ == "__main__":
    main()
