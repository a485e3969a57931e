"""The shared decision logic: which checks a request makes, calendar periods, money in
micro-dollars, the 429 it turns into, and the x-ratelimit headers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.errors import RateLimited
from gateway.limits.base import QuotaRequest, Window
from gateway.limits.headers import duration, ratelimit_headers
from gateway.limits.plan import (
    CheckState,
    Kind,
    adjustments,
    budget_micro_usd,
    conclude,
    day_period,
    make_plan,
    micro_usd,
    month_period,
)
from gateway.tenancy.models import Limits


def ms(when: datetime) -> int:
    return int(when.timestamp() * 1000)


def test_checks_follow_the_limits_tenant_first_then_the_key() -> None:
    request = QuotaRequest(scope="acme", limits=Limits(rpm=10, tpm=1000, monthly_usd=Decimal("5")), tokens=120,
                           usd=Decimal("0.0000015"), key_id="key_9", key_limits=Limits(rpd=50))
    plan = make_plan(request, ms(datetime(2025, 3, 9, 8, 0, tzinfo=UTC)), reservation_id="abc")
    assert [(c.scope, c.name, c.kind, c.limit, c.amount) for c in plan.checks] == [
        ("tenant", "rpm", Kind.WINDOW, 10, 1),
        ("tenant", "tpm", Kind.SUM, 1000, 120),
        ("tenant", "monthly_usd", Kind.COUNTER, 5_000_000, 2),     # 1.5 micro-dollars, rounded up
        ("key", "rpd", Kind.COUNTER, 50, 1),
    ]
    assert [c.key for c in plan.checks] == ["gw:rl:v1:{acme}:rpm", "gw:rl:v1:{acme}:tpm",
                                            "gw:rl:v1:{acme}:usd:202503", "gw:rl:v1:{acme}:key:key_9:rpd:20250309"]
    assert plan.checks[1].keys == ("gw:rl:v1:{acme}:tpm", "gw:rl:v1:{acme}:tpm:n")
    assert plan.record_key == "gw:rl:v1:{acme}:res:abc"


def test_a_key_without_limits_of_its_own_adds_no_checks() -> None:
    plan = make_plan(QuotaRequest(scope="acme", limits=Limits(rpm=1), tokens=1, key_id="key_1"), 0)
    assert [c.scope for c in plan.checks] == ["tenant"]


@pytest.mark.parametrize(("now", "label", "end"), [
    (datetime(2025, 1, 31, 23, 59, 59, tzinfo=UTC), "202501", datetime(2025, 2, 1, tzinfo=UTC)),
    (datetime(2024, 2, 29, 12, 0, tzinfo=UTC), "202402", datetime(2024, 3, 1, tzinfo=UTC)),
    (datetime(2025, 12, 1, 0, 0, tzinfo=UTC), "202512", datetime(2026, 1, 1, tzinfo=UTC)),
])
def test_months_are_calendar_months_in_utc(now: datetime, label: str, end: datetime) -> None:
    assert month_period(ms(now)) == (label, ms(end))


def test_days_end_at_midnight_utc() -> None:
    assert day_period(ms(datetime(2025, 12, 31, 23, 59, 59, 999000, tzinfo=UTC))) == (
        "20251231", ms(datetime(2026, 1, 1, tzinfo=UTC)))
    assert day_period(ms(datetime(2026, 1, 1, tzinfo=UTC)))[0] == "20260101"


def test_money_is_whole_micro_dollars_spend_rounded_up_budgets_down() -> None:
    assert micro_usd(Decimal("0.0000001")) == 1
    assert micro_usd(Decimal("0.123456")) == 123456
    assert micro_usd(Decimal(0)) == 0
    assert budget_micro_usd(Decimal("10000")) == 10_000_000_000
    assert budget_micro_usd(Decimal("0.0000019")) == 1


def test_settlement_moves_tokens_and_money_by_the_difference_and_never_requests() -> None:
    request = QuotaRequest(scope="acme", limits=Limits(rpm=5, rpd=5, tpm=1000, daily_tokens=9000,
                                                       monthly_usd=Decimal(1)), tokens=500, usd=Decimal("0.002"))
    plan = make_plan(request, 0)
    assert [(c.name, d) for c, d in adjustments(plan, 120, Decimal("0.0005"))] == [
        ("tpm", -380), ("daily_tokens", -380), ("monthly_usd", -1500)]
    assert adjustments(plan, 500, Decimal("0.002")) == []
    assert [(c.name, d) for c, d in adjustments(plan, 0, Decimal(0))] == [
        ("tpm", -500), ("daily_tokens", -500), ("monthly_usd", -2000)]


def test_a_rejection_names_the_limit_that_waits_longest() -> None:
    request = QuotaRequest(scope="acme", limits=Limits(rpm=2, rpd=2), tokens=10)
    plan = make_plan(request, ms(datetime(2025, 6, 1, 23, 0, tzinfo=UTC)))
    states = [CheckState(used=2, reset_ms=20_000, retry_ms=20_000), CheckState(used=2, reset_ms=3_600_000,
                                                                               retry_ms=3_600_000)]
    with pytest.raises(RateLimited) as caught:
        conclude(plan, states, admitted=False)
    error = caught.value
    assert (error.limit, error.code, error.status) == ("rpd", "rpd_exceeded", 429)
    assert error.headers["Retry-After"] == "3600"
    assert error.headers["x-ratelimit-remaining-requests"] == "0"
    assert "requests per day (UTC) (rpd) of tenant 'acme'" in error.message
    assert error.to_dict()["error"]["type"] == "rate_limit_error"


def test_an_admitted_request_reports_its_tightest_windows() -> None:
    request = QuotaRequest(scope="acme", limits=Limits(rpm=10, rpd=100, tpm=1000), tokens=10)
    plan = make_plan(request, 0)
    states = [CheckState(3, 60_000), CheckState(99, 1_000_000), CheckState(400, 59_000)]
    requests, tokens = conclude(plan, states, admitted=True)
    assert requests == Window(limit=100, remaining=1, reset_seconds=1000)
    assert tokens == Window(limit=1000, remaining=600, reset_seconds=59)


@pytest.mark.parametrize(("seconds", "text"), [(0.25, "250ms"), (1, "1s"), (59.2, "1m0s"), (360, "6m0s"),
                                               (-1, "0ms")])
def test_reset_durations_read_like_openais(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_headers_for_both_windows() -> None:
    assert ratelimit_headers(Window(100, 99, 60), Window(1000, 0, 0.5)) == {
        "x-ratelimit-limit-requests": "100", "x-ratelimit-remaining-requests": "99",
        "x-ratelimit-reset-requests": "1m0s", "x-ratelimit-limit-tokens": "1000",
        "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "500ms"}
    assert ratelimit_headers(None, None) == {}
