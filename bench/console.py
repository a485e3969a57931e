"""The admin console at scale: server time and queries per page with a year of usage.

Prints, for each console page (overview over 24 h / 7 d / 30 d, usage over 30 d and 365 d,
usage filtered to one tenant, tenants, one tenant, audit, providers): the median and p95
server time over --runs requests and the number of SQL statements the page issued
(counted on the engine, session lookup included).

The records are generated inside PostgreSQL (generate_series) in time order, as the gateway
writes them (so a time range is a contiguous stretch of the table), over the last 365 days across
50 tenants (each with three of 11 features, and untagged requests) and 6 models (2 providers),
skewed so that some tenants and models dominate as in real use; the `usage_daily` rollup is
built from them as migration 0002 would, `usage_monthly` and `usage_daily_tenant` from it as
migration 0010 does (a reused database is migrated to the head, which backfills them).
The pages are served by the real app (create_app + open_runtime on that database) through an
in-process ASGI transport, so the time measured is the gateway's own: routing, session
lookup, queries, template rendering.

Run: python -m bench.console [--records 10000000] [--runs 20] [--keep] [--reuse]
Needs PostgreSQL at 127.0.0.1:5432 (user postgres; database `test` to create a scratch
database from). The scratch database is dropped at the end unless --keep; --reuse keeps
using an existing one of the same size (generating 10 million records takes minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import asyncpg
import httpx
import sqlalchemy as sa

from gateway.app import create_app
from gateway.db import migrate
from gateway.identity.roles import Role
from gateway.identity.sessions import COOKIE, SessionStore
from gateway.runtime import Runtime, open_runtime
from gateway.settings import Settings

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
DATABASE = "gw_bench_console"
CHUNK = 1_000_000
TENANTS = 50
ADMIN_KEY = "sk-admin-bench-console-0123456789abcdef01234567"

# Skewed: tenant and model picked as floor(N * r^2) of a per-row pseudo-random r in [0, 1).
GENERATE = """
INSERT INTO usage_records (request_id, ts, tenant, key_id, feature, requested_model, model, provider,
    upstream_model, status, http_status, prompt_tokens, completion_tokens, cached_tokens, cost_usd,
    latency_ms, stream, cache_hit)
SELECT 'cb-' || g,
       now() - (($3::bigint - g) * (31536000.0 / $3::bigint)) * interval '1 second',
       'tenant_' || lpad(floor(50 * power(((g * 7919) % 10007) / 10007.0, 2))::int::text, 2, '0'),
       'key_' || (g % 300),
       CASE WHEN g % 9 = 0 THEN NULL ELSE (ARRAY['search', 'summarize', 'chat', 'rerank', 'extract', 'classify',
            'translate', 'support_bot', 'code_review', 'sql_assist', 'email_draft'])
            [1 + (3 * floor(50 * power(((g * 7919) % 10007) / 10007.0, 2))::int + g % 3) % 11] END,
       m, m, CASE WHEN m LIKE 'claude%' THEN 'bedrock' ELSE 'openai' END, m,
       CASE WHEN g % 97 = 0 THEN 'error' ELSE 'ok' END, CASE WHEN g % 97 = 0 THEN 502 ELSE 200 END,
       100 + g % 1900, 20 + g % 600, 0,
       CASE WHEN g % 23 = 0 OR g % 97 = 0 THEN 0
            ELSE ((100 + g % 1900) * 0.5 + (20 + g % 600) * 1.5) / 1000000 END,
       300 + g % 2000, g % 3 = 0, g % 23 = 0
FROM generate_series($1::bigint, $2::bigint) AS g,
     LATERAL (SELECT (ARRAY['gpt-4o-mini', 'gpt-4o', 'claude-3-5-sonnet', 'claude-3-haiku', 'llama-3-70b',
                            'text-embedding-3-small'])[1 + floor(6 * power(((g * 31) % 1009) / 1009.0, 2))::int]
             AS m) AS pick
"""

ROLLUP = """
INSERT INTO usage_daily (day, tenant, feature, model, provider, requests, errors, prompt_tokens,
                         completion_tokens, cached_tokens, cache_hits, saved_tokens, cost_usd)
SELECT CAST(ts AT TIME ZONE 'UTC' AS DATE), tenant, COALESCE(feature, ''), COALESCE(model, ''),
       COALESCE(provider, ''), COUNT(*), SUM(CASE WHEN status <> 'ok' THEN 1 ELSE 0 END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE prompt_tokens END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE completion_tokens END),
       SUM(CASE WHEN cache_hit THEN 0 ELSE cached_tokens END), SUM(CASE WHEN cache_hit THEN 1 ELSE 0 END),
       SUM(CASE WHEN cache_hit THEN prompt_tokens + completion_tokens ELSE 0 END), SUM(cost_usd)
FROM usage_records GROUP BY 1, 2, 3, 4, 5
"""

_SUMS = "requests, errors, prompt_tokens, completion_tokens, cached_tokens, cache_hits, saved_tokens, cost_usd"
_SUMMED = ", ".join(f"SUM({name})" for name in _SUMS.split(", "))
COARSER_ROLLUPS = f"""
INSERT INTO usage_monthly (month, tenant, feature, model, provider, {_SUMS})
SELECT CAST(date_trunc('month', day) AS DATE), tenant, feature, model, provider, {_SUMMED}
FROM usage_daily GROUP BY 1, 2, 3, 4, 5;
INSERT INTO usage_daily_tenant (day, tenant, {_SUMS})
SELECT day, tenant, {_SUMMED} FROM usage_daily GROUP BY 1, 2
"""


async def _admin(statement: str) -> None:
    conn = await asyncpg.connect(database="test", **PG)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def prepare(records: int, reuse: bool) -> str:
    url = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{DATABASE}"
    if reuse:
        try:
            conn = await asyncpg.connect(database=DATABASE, **PG)
            have = await conn.fetchval("SELECT count(*) FROM usage_records")
            await conn.close()
            if have == records:
                print(f"reusing {DATABASE}: {have:,} records")
                await migrate(url)       # a database of an earlier revision gains the newer rollups
                return url
        except (asyncpg.InvalidCatalogNameError, asyncpg.UndefinedTableError):
            pass
    await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{DATABASE}"')
    await migrate(url)
    conn = await asyncpg.connect(database=DATABASE, **PG)
    try:
        started = time.perf_counter()
        for first in range(1, records + 1, CHUNK):
            last = min(first + CHUNK - 1, records)
            await conn.execute(GENERATE, first, last, records)
            print(f"  {last:>12,} records  {time.perf_counter() - started:6.0f} s", flush=True)
        await conn.execute(ROLLUP)
        await conn.execute(COARSER_ROLLUPS)
        await conn.execute("ANALYZE usage_records; ANALYZE usage_daily; ANALYZE usage_monthly; "
                           "ANALYZE usage_daily_tenant")
        rollup_rows = await conn.fetchval("SELECT count(*) FROM usage_daily")
        monthly = await conn.fetchval("SELECT count(*) FROM usage_monthly")
        tenant_days = await conn.fetchval("SELECT count(*) FROM usage_daily_tenant")
        print(f"generated {records:,} records over 365 days, {rollup_rows:,} daily rollup rows, "
              f"{monthly:,} monthly, {tenant_days:,} tenant-day, "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
    finally:
        await conn.close()
    return url


async def seed_tenants(runtime: Runtime) -> None:
    existing = {t["name"] for t in await runtime.tenancy.list_tenants()}
    for i in range(TENANTS):
        name = f"tenant_{i:02d}"
        if name not in existing:
            await runtime.tenancy.create_tenant(name, tier=next(iter(runtime.catalog.tiers)), models=["*"],
                                                actor="bench")
            await runtime.tenancy.create_key(name, label="bench", actor="bench")


class StatementCounter:
    def __init__(self, engine: Any) -> None:
        self.count = 0
        sa.event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *args: Any) -> None:
        self.count += 1


async def measure(url: str, runs: int) -> list[tuple[str, float, float, int]]:
    settings = Settings(database_url=url, admin_key=ADMIN_KEY, bootstrap_demo_tenant=False,  # type: ignore[arg-type]
                        log_level="warning")
    runtime = await open_runtime(settings, migrate_database=False)
    try:
        await seed_tenants(runtime)
        app = create_app(settings, public=False)
        app.state.runtime = runtime
        token = await SessionStore(runtime.engine, timedelta(hours=1)).create(
            subject="bench", role=Role.ADMIN, email="bench@example.com", name=None)
        counter = StatementCounter(runtime.engine)
        pages = [("overview 24h", "/admin/ui/?range=24h"), ("overview 7d", "/admin/ui/?range=7d"),
                 ("overview 30d", "/admin/ui/?range=30d"), ("usage 30d", "/admin/ui/usage?since=30d"),
                 ("usage 365d", "/admin/ui/usage?since=365d"),
                 ("usage 30d, one tenant", "/admin/ui/usage?since=30d&tenant=tenant_03"),
                 ("tenants", "/admin/ui/tenants"), ("tenant", "/admin/ui/tenants/tenant_00"),
                 ("audit", "/admin/ui/audit"), ("providers", "/admin/ui/providers")]
        results = []
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console",
                                     cookies={COOKIE: token}) as client:
            for label, path in pages:
                for _ in range(2):   # warm-up: plans cached, pool filled
                    (await client.get(path)).raise_for_status()
                times = []
                counter.count = 0
                for _ in range(runs):
                    started = time.perf_counter()
                    response = await client.get(path)
                    times.append((time.perf_counter() - started) * 1000)
                    response.raise_for_status()
                times.sort()
                p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
                results.append((label, statistics.median(times), p95, counter.count // runs))
        return results
    finally:
        await runtime.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="reuse the scratch database when it has --records")
    args = parser.parse_args()
    url = await prepare(args.records, args.reuse)
    try:
        results = await measure(url, args.runs)
        print(f"\nconsole pages with {args.records:,} usage records ({args.runs} runs each, server time, in process)")
        print(f"{'page':<24} {'median ms':>10} {'p95 ms':>10} {'queries':>8}")
        for label, median, p95, queries in results:
            print(f"{label:<24} {median:>10.1f} {p95:>10.1f} {queries:>8}")
    finally:
        if not args.keep:
            await _admin(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
