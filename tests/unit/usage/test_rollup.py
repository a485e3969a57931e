"""The daily rollup the writer adds per batch: one row per (UTC day, tenant, feature, model,
provider), billed tokens apart from the tokens cache hits saved, in key order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from gateway.usage.record import UsageRecord
from gateway.usage.writer import rollup_rows

DAY = datetime(2026, 11, 25, 12, tzinfo=UTC)


def record(n: int, **overrides: object) -> UsageRecord:
    values: dict[str, object] = {"request_id": f"r{n}", "tenant": "acme", "status": "ok", "http_status": 200,
                                 "ts": DAY, "model": "m", "provider": "p", "prompt_tokens": 10,
                                 "completion_tokens": 5, "cost_usd": Decimal("0.0000105")}
    values.update(overrides)
    return UsageRecord(**values)  # type: ignore[arg-type]


def test_records_of_one_group_are_summed() -> None:
    rows = rollup_rows([record(1), record(2, status="error", cost_usd=Decimal(0), completion_tokens=0),
                        record(3, cache_hit=True, cost_usd=Decimal(0), cached_tokens=0)])
    assert len(rows) == 1
    row = rows[0]
    assert (row["requests"], row["errors"], row["cache_hits"]) == (3, 1, 1)
    assert (row["prompt_tokens"], row["completion_tokens"], row["saved_tokens"]) == (20, 5, 15)
    assert row["cost_usd"] == Decimal("0.0000105")
    assert (row["day"], row["feature"]) == (DAY.date(), "")


def test_days_are_utc_days_and_groups_come_in_key_order() -> None:
    late_evening_in_new_york = datetime(2026, 11, 25, 21, tzinfo=timezone(timedelta(hours=-5)))
    rows = rollup_rows([record(1, tenant="zeta"), record(2, ts=late_evening_in_new_york),
                        record(3, feature="search")])
    keys = [(r["day"].isoformat(), r["tenant"], r["feature"]) for r in rows]
    assert keys == [("2026-11-25", "acme", "search"), ("2026-11-25", "zeta", ""), ("2026-11-26", "acme", "")]
