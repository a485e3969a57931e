"""Redis's own CPU for the limiter's scripts: usec per call of the reserve and of the settle
script (INFO commandstats) on a redis-server of this run's own, with windows as full as a
steady load fills them (`--rate` requests a second for a minute before the measured ones,
on a simulated clock), for the bench tier's limits (rpm, tpm, daily_tokens) and for every
limit with a key's own.

    python -m bench.limiter_cost [--rate 300] [--requests 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from decimal import Decimal
from typing import Any

from gateway.limits.base import QuotaRequest, Reservation
from gateway.limits.redis import RedisLimiter
from gateway.redis_mux import MultiplexedRedis
from gateway.tenancy.models import Limits

BIG = 10**9
SHAPES = {
    "bench tier (rpm, tpm, daily_tokens)": (Limits(rpm=BIG, tpm=BIG, daily_tokens=BIG), None),
    "every limit + a key's rpm, tpm, monthly_usd": (
        Limits(rpm=BIG, rpd=BIG, tpm=BIG, daily_tokens=BIG, monthly_usd=Decimal(BIG)),
        Limits(rpm=BIG, tpm=BIG, monthly_usd=Decimal(BIG))),
}


def reset_stats(port: int) -> None:
    subprocess.run(["redis-cli", "-p", str(port), "CONFIG", "RESETSTAT"], check=True, capture_output=True)


def evalsha_usec(port: int) -> tuple[float, float]:
    """(usec per EVALSHA, redis calls inside per EVALSHA) since the last RESETSTAT."""
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "commandstats"], capture_output=True, text=True,
                         check=True).stdout
    stats: dict[str, dict[str, str]] = {}
    for line in out.splitlines():
        if line.startswith("cmdstat_"):
            name, _, fields = line.partition(":")
            stats[name[8:]] = dict(field.split("=") for field in fields.split(","))
    calls = int(stats["evalsha"]["calls"])
    inner = sum(int(s["calls"]) for name, s in stats.items() if name not in ("evalsha", "config"))
    return float(stats["evalsha"]["usec_per_call"]), inner / calls


async def run(port: int, rate: float, n: int) -> None:
    now = [time.time()]
    limiter = RedisLimiter(MultiplexedRedis("127.0.0.1", port), clock=lambda: now[0])
    step = 1 / rate
    for shape, (limits, key_limits) in SHAPES.items():
        request = QuotaRequest(scope=f"cost{shape[:5]}", limits=limits, tokens=300, usd=Decimal("0.0002"),
                               key_id="k1" if key_limits else None, key_limits=key_limits)

        async def one(request: QuotaRequest = request) -> Reservation:
            now[0] += step
            return await limiter.reserve(request)

        for _ in range(int(rate * 61)):            # a full minute of windows
            await limiter.settle(await one(), 120, Decimal("0.0001"))
        reservations: list[Reservation] = []
        await asyncio.to_thread(reset_stats, port)
        for _ in range(n):
            reservations.append(await one())
        reserve: Any = await asyncio.to_thread(evalsha_usec, port)
        await asyncio.to_thread(reset_stats, port)
        for reservation in reservations:
            await limiter.settle(reservation, 120, Decimal("0.0001"))
        settle: Any = await asyncio.to_thread(evalsha_usec, port)
        print(f"{shape:<46} reserve {reserve[0]:6.1f} us ({reserve[1]:4.1f} calls)   "
              f"settle {settle[0]:6.1f} us ({settle[1]:4.1f} calls)", flush=True)
    await limiter.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    port = 36379 + int(time.time()) % 1000
    server = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode != 0:
            time.sleep(0.05)
        asyncio.run(run(port, args.rate, args.requests))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
