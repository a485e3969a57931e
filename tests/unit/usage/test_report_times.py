"""Report time ranges: the forms --since/--until accept, and how a range splits into whole
days (from the rollup) and partial-day edges (from the records)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.usage.reports import ReportError, UsageQuery, _split, parse_group_by, parse_time

NOW = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)


def test_relative_days_are_calendar_days_today_included() -> None:
    assert parse_time("1d", NOW) == datetime(2026, 11, 25, tzinfo=UTC)
    assert parse_time("7d", NOW) == datetime(2026, 11, 19, tzinfo=UTC)
    assert parse_time("24h", NOW) == NOW - timedelta(hours=24)
    assert parse_time("90m", NOW) == NOW - timedelta(minutes=90)


def test_absolute_times_are_utc_unless_they_say_otherwise() -> None:
    assert parse_time("2026-11-01", NOW) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00", NOW) == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00+02:00", NOW) == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert parse_time("2026-11-01T10:00:00+02:00", NOW).tzinfo == UTC


@pytest.mark.parametrize("text", ["0d", "yesterday", "7w", ""])
def test_other_times_are_refused_with_the_forms_that_work(text: str) -> None:
    with pytest.raises(ReportError):
        parse_time(text, NOW)


def test_an_open_range_from_midnight_is_all_rollup() -> None:
    assert _split(datetime(2026, 11, 19, tzinfo=UTC), None) == ((date(2026, 11, 19), None), [])


def test_partial_days_at_the_edges_come_from_the_records() -> None:
    since, until = datetime(2026, 11, 19, 6, tzinfo=UTC), datetime(2026, 11, 25, 15, tzinfo=UTC)
    days, edges = _split(since, until)
    assert days == (date(2026, 11, 20), date(2026, 11, 25))
    assert edges == [(since, datetime(2026, 11, 20, tzinfo=UTC)), (datetime(2026, 11, 25, tzinfo=UTC), until)]


def test_a_range_inside_one_day_is_all_records() -> None:
    since, until = datetime(2026, 11, 25, 1, tzinfo=UTC), datetime(2026, 11, 25, 2, tzinfo=UTC)
    assert _split(since, until) == (None, [(since, until)])


def test_a_range_of_whole_days_has_no_edges() -> None:
    since, until = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert _split(since, until) == ((date(2026, 11, 1), date(2026, 12, 1)), [])


def test_group_by_names_are_checked() -> None:
    assert parse_group_by(" tenant, day ,") == ("tenant", "day")
    with pytest.raises(ReportError, match="colour"):
        UsageQuery(since=NOW, group_by=("tenant", "colour"))
    with pytest.raises(ReportError):
        UsageQuery(since=NOW, group_by=("day", "day"))
    with pytest.raises(ReportError):
        UsageQuery(since=NOW, until=NOW)
