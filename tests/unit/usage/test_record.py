"""A usage record survives the outbox's JSON exactly, and tolerates fields from a newer version."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import orjson

from gateway.usage.record import UsageRecord


def test_json_round_trip_keeps_money_and_time_exact() -> None:
    record = UsageRecord(request_id="r1", tenant="acme", status="ok", http_status=200,
                         ts=datetime(2026, 11, 25, 23, 59, 59, 999_999, tzinfo=UTC),
                         cost_usd=Decimal("0.0000000075"), prompt_tokens=3, cache_hit=True)
    back = UsageRecord.from_json(orjson.loads(orjson.dumps(record.to_json())))
    assert back == record
    assert isinstance(back.cost_usd, Decimal) and back.ts.tzinfo is not None


def test_fields_of_a_newer_version_are_ignored() -> None:
    data = UsageRecord(request_id="r2", tenant="acme", status="ok", http_status=200).to_json()
    data["region"] = "eu-west-1"
    assert UsageRecord.from_json(data).request_id == "r2"
