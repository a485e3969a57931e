"""Usage records: sustained ingest into PostgreSQL, and report query time at scale.

Prints
  * ingest through the writer (idempotent batch insert + daily rollup, one transaction per
    batch), with several concurrent writers as several replicas' drain tasks would be;
  * ingest through the production path: records already in the Redis Stream, drained into
    PostgreSQL by two RedisStreamOutbox consumers of one group;
  * the 30-day report `--group-by tenant,feature,day` (and one tenant's 30-day report by
    model) at each scale asked for, three ways: the rollup (what the gateway does), the
    rollup plus partial-day edges from the records (an explicit mid-day range), and the
    records alone with their (ts) / (tenant, ts) indexes (the index-only design).

The bulk of the records is generated inside PostgreSQL (generate_series), spread evenly
over the last 30 days across 50 tenants, 10 features, 5 models and 3 providers; the rollup
is then rebuilt from them as migration 0002 would.

Run: python bench/usage_bench.py [--scales 1000000,10000000] [--ingest 200000] [--keep]
Needs PostgreSQL at 127.0.0.1:5432 (user postgres, database `test` to create a scratch
database from) and, for the Redis figure, Redis at 127.0.0.1:6379. Uses its own database
and stream key, and drops both at the end unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.db import create_engine, migrate
from gateway.usage.record import UsageRecord
from gateway.usage.redis_outbox import FIELD, RedisStreamOutbox, StreamConfig
from gateway.usage.reports import UsageQuery, _from_records, run_report
from gateway.usage.writer import insert_records

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/0"
PRICES = {f"model-{i}": (Decimal(p_in), Decimal(p_out))
          for i, (p_in, p_out) in enumerate([("0.15", "0.60"), ("2.5", "10"), ("3", "15"), ("0.05", "0.4"),
                                             ("1.1", "4.4")])}
BULK_CHUNK = 1_000_000

BULK_INSERT = """
INSERT INTO usage_records (request_id, ts, tenant, key_id, feature, end_user, requested_model, model, provider,
    upstream_model, status, http_status, prompt_tokens, completion_tokens, cached_tokens, cost_usd, latency_ms,
    ttft_ms, fallback_count, stream, cache_hit, redactions)
SELECT 'bulk-' || g, now() - ((g * 7919) % 2592000) * interval '1 second', 'tenant-' || (g % 50), 'key-' || (g % 200),
    CASE WHEN g % 10 = 0 THEN NULL ELSE 'feature-' || (g % 9) END, 'user-' || (g % 1000),
    'model-' || (g % 5), 'model-' || (g % 5), 'provider-' || (g % 3), 'upstream-' || (g % 5),
    CASE WHEN g % 50 = 0 THEN 'error' ELSE 'ok' END, 200, 100 + g % 900, 10 + g % 400, 0,
    CASE WHEN g % 20 = 0 THEN 0 ELSE ((100 + g % 900) * 0.15 + (10 + g % 400) * 0.6) / 1000000 END,
    200 + g % 800, 50, 0, g % 2 = 0, g % 20 = 0, 0
FROM generate_series($1::bigint, $2::bigint) AS g
"""

REBUILD_ROLLUP = """
INSERT INTO usage_daily (day, tenant, feature, model, provider, requests, errors, prompt_tokens,
                         completion_tokens, cached_tokens, cache_hits, saved_tokens, cost_usd)
SELECT CAST(ts AT TIME ZONE 'UTC' AS DATE), tenant, COALESCE(feature, ''), COALESCE(model, ''),
       COALESCE(provider, ''), COUNT(*),
       SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE prompt_tokens END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE completion_tokens END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE cached_tokens END),
       SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END),
       SUM(CASE WHEN cache_hit THEN prompt_tokens + completion_tokens ELSE 0 END),
       SUM(cost_usd)
FROM usage_records
GROUP BY 1, 2, 3, 4, 5
"""


# The same 30-day report as SQL, to time PostgreSQL's own execution apart from Python's.
SERVER_ROLLUP = """
SELECT tenant, feature, day, SUM(requests), SUM(errors), SUM(prompt_tokens), SUM(completion_tokens),
       SUM(cached_tokens), SUM(cache_hits), SUM(saved_tokens), SUM(cost_usd)
FROM usage_daily WHERE day >= $1 GROUP BY tenant, feature, day
"""
SERVER_RECORDS = """
SELECT tenant, feature, CAST(timezone('UTC', ts) AS DATE), COUNT(*),
       SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE prompt_tokens END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE completion_tokens END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE cached_tokens END),
       SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END),
       SUM(CASE WHEN cache_hit THEN prompt_tokens + completion_tokens ELSE 0 END),
       SUM(cost_usd)
FROM usage_records WHERE ts >= $1 GROUP BY 1, 2, 3
"""


def synthetic(n: int, prefix: str) -> list[UsageRecord]:
    rng = random.Random(n)
    now = datetime.now(UTC)
    out = []
    for i in range(n):
        model = f"model-{i % 5}"
        prompt, completion = rng.randint(20, 4000), rng.randint(1, 1500)
        price_in, price_out = PRICES[model]
        out.append(UsageRecord(
            request_id=f"{prefix}-{i}", ts=now - timedelta(seconds=rng.randint(0, 30 * 86400)),
            tenant=f"tenant-{i % 50}", key_id=f"key-{i % 200}", feature=f"feature-{i % 9}", end_user=f"user-{i % 1000}",
            requested_model=model, model=model, provider=f"provider-{i % 3}", upstream_model=model, status="ok",
            http_status=200, prompt_tokens=prompt, completion_tokens=completion,
            cost_usd=(prompt * price_in + completion * price_out) / 1_000_000, latency_ms=rng.randint(100, 3000),
            ttft_ms=rng.randint(50, 500), stream=bool(i % 2)))
    return out


async def ingest_via_writer(engine: AsyncEngine, records: list[UsageRecord], writers: int, batch: int) -> float:
    batches = [records[i:i + batch] for i in range(0, len(records), batch)]
    queue: asyncio.Queue[list[UsageRecord]] = asyncio.Queue()
    for b in batches:
        queue.put_nowait(b)

    async def writer() -> None:
        while not queue.empty():
            await insert_records(engine, queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return len(records) / (time.perf_counter() - started)


async def ingest_via_redis(engine: AsyncEngine, records: list[UsageRecord], consumers: int) -> float | None:
    redis = Redis.from_url(REDIS_URL, socket_timeout=5)
    key = f"gw:usage:bench:{uuid.uuid4().hex[:8]}"
    try:
        await redis.ping()
    except Exception as exc:
        print(f"  (Redis not reachable: {type(exc).__name__}; skipping the stream figure)")
        await redis.aclose()
        return None
    try:
        import orjson
        for i in range(0, len(records), 5000):
            async with redis.pipeline(transaction=False) as pipe:
                for record in records[i:i + 5000]:
                    pipe.xadd(key, {FIELD: orjson.dumps(record.to_json())})
                await pipe.execute()
        outboxes = [RedisStreamOutbox(redis, engine, StreamConfig(key=key, group="bench", consumer=f"c{i}",
                                                                  batch_size=500, interval=0.05))
                    for i in range(consumers)]
        started = time.perf_counter()
        for outbox in outboxes:
            await outbox.start()
        deadline = started + 600
        while True:   # bounded: gives up after ten minutes
            if int(await redis.xlen(key)) == 0 or time.perf_counter() > deadline:
                break
            await asyncio.sleep(0.02)
        rate = len(records) / (time.perf_counter() - started)
        for outbox in outboxes:
            await outbox.close()
        return rate
    finally:
        await redis.delete(key, f"{key}:dead")
        await redis.aclose()


async def timed(run: Callable[[], Awaitable[Any]], repeats: int = 3) -> float:
    await run()   # warm the cache: reports are run against a live, warm database
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def report_figures(engine: AsyncEngine, conn: asyncpg.Connection, scale: int) -> None:
    now = datetime.now(UTC)
    month = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=29)
    edges_since, edges_until = now - timedelta(days=30), now - timedelta(hours=1)
    group = ("tenant", "feature", "day")

    async def raw_only(tenant: str | None, group_by: tuple[str, ...]) -> None:
        query = UsageQuery(since=month, tenant=tenant, group_by=group_by)
        async with engine.connect() as conn:
            await _from_records(conn, query, month, None)

    cases = [
        ("30 days by tenant,feature - rollup",
         lambda: run_report(engine, UsageQuery(since=month, group_by=("tenant", "feature")))),
        ("30 days by tenant,feature - records only (index design)", lambda: raw_only(None, ("tenant", "feature"))),
        ("30 days by tenant,feature,day - rollup", lambda: run_report(engine, UsageQuery(since=month, group_by=group))),
        ("30 days by tenant,feature,day - rollup + partial-day edges",
         lambda: run_report(engine, UsageQuery(since=edges_since, until=edges_until, group_by=group))),
        ("30 days by tenant,feature,day - records only (index design)", lambda: raw_only(None, group)),
        ("one tenant, 30 days by model - rollup",
         lambda: run_report(engine, UsageQuery(since=month, tenant="tenant-7", group_by=("model",)))),
        ("one tenant, 30 days by model - records only (index design)", lambda: raw_only("tenant-7", ("model",))),
    ]
    print(f"report time at {scale:,} records, end to end through run_report (median of 3, warm):")
    for label, run in cases:
        print(f"  {label:<62} {await timed(run) * 1000:10.1f} ms")
    print("  PostgreSQL execution alone (EXPLAIN ANALYZE), 30 days by tenant,feature,day:")
    for label, sql, arg in (("rollup", SERVER_ROLLUP, month.date()), ("records only", SERVER_RECORDS, month)):
        print(f"    {label:<60} {await server_ms(conn, sql, arg):10.1f} ms")


async def server_ms(conn: asyncpg.Connection, sql: str, arg: object) -> float:
    times = []
    for _ in range(3):
        plan = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, arg))
        times.append(float(plan[0]["Execution Time"]))
    return statistics.median(times)


async def fill_to(conn: asyncpg.Connection, have: int, want: int) -> None:
    started = time.perf_counter()
    for start in range(have + 1, want + 1, BULK_CHUNK):
        await conn.execute(BULK_INSERT, start, min(start + BULK_CHUNK - 1, want))
    filled = time.perf_counter() - started
    started = time.perf_counter()
    await conn.execute("DELETE FROM usage_daily")
    await conn.execute(REBUILD_ROLLUP)
    await conn.execute("VACUUM ANALYZE usage_records")
    await conn.execute("VACUUM ANALYZE usage_daily")
    rollup_rows = await conn.fetchval("SELECT count(*) FROM usage_daily")
    print(f"filled to {want:,} records in {filled:.0f} s (generate_series); rollup rebuilt "
          f"({rollup_rows:,} rows) and analyzed in {time.perf_counter() - started:.0f} s")


async def main(args: argparse.Namespace) -> None:
    name = f"gw_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(database="test", **PG)  # type: ignore[arg-type]
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    engine = create_engine(url)
    try:
        await migrate(url)
        records = synthetic(args.ingest, "writer")
        rate = await ingest_via_writer(engine, records, writers=args.writers, batch=500)
        print(f"ingest via writer ({args.writers} concurrent writers, batches of 500, records + rollup): "
              f"{rate:,.0f} records/s over {len(records):,} records")
        again = await ingest_via_writer(engine, records[:50_000], writers=args.writers, batch=500)
        print(f"re-ingest of 50,000 already-written records (all skipped as duplicates): {again:,.0f} records/s")
        stream_records = synthetic(args.stream_ingest, "stream")
        stream_rate = await ingest_via_redis(engine, stream_records, consumers=2)
        if stream_rate is not None:
            print(f"ingest via Redis Stream (2 consumers, XREADGROUP -> insert -> XACK+XDEL): "
                  f"{stream_rate:,.0f} records/s over {len(stream_records):,} records")

        conn = await asyncpg.connect(database=name, **PG)  # type: ignore[arg-type]
        try:
            await conn.execute("DELETE FROM usage_records")
            have = 0
            for scale in args.scales:
                await fill_to(conn, have, scale)
                have = scale
                await report_figures(engine, conn, scale)
                size = await conn.fetchval("SELECT pg_size_pretty(pg_total_relation_size('usage_records'))")
                print(f"  usage_records with indexes: {size}")
        finally:
            await conn.close()
    finally:
        await engine.dispose()
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            print(f"kept database {name}")
        await admin.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scales", default="1000000",
                        type=lambda s: sorted(int(x) for x in s.split(",")),
                        help="record counts to measure reports at, e.g. 1000000,10000000")
    parser.add_argument("--ingest", type=int, default=200_000, help="records written through the writer")
    parser.add_argument("--stream-ingest", type=int, default=100_000, help="records drained from Redis")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
