"""A report rendered as table, CSV and JSON: groups, a totals row, exact money everywhere."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.usage.formatting import money, render
from gateway.usage.reports import Group, Totals, UsageQuery, UsageReport

SINCE = datetime(2026, 11, 19, tzinfo=UTC)


def report(group_by: tuple[str, ...] = ("tenant", "feature")) -> UsageReport:
    a = Totals(requests=3, prompt_tokens=30, completion_tokens=9, cost_usd=Decimal("0.0000123"))
    b = Totals(requests=1, errors=1, cache_hits=1, saved_tokens=7, cost_usd=Decimal("12.5"))
    total = Totals()
    total.add(a)
    total.add(b)
    rows: list[tuple[Group, Totals]] = [(("acme", None), a), (("zeta", "search"), b)] if group_by else []
    return UsageReport(query=UsageQuery(since=SINCE, tenant=None, group_by=group_by), rows=rows, totals=total)


@pytest.mark.parametrize(("value", "text"), [(Decimal(0), "0.00"), (Decimal("12.5"), "12.50"),
                                             (Decimal("0.0000123000"), "0.0000123"), (Decimal("1E+3"), "1000.00")])
def test_money_is_exact_and_plain(value: Decimal, text: str) -> None:
    assert money(value) == text


def test_json_has_rows_and_totals_with_money_as_strings() -> None:
    data = json.loads(render(report(), "json"))
    assert data["group_by"] == ["tenant", "feature"]
    assert data["rows"][0] == {"tenant": "acme", "feature": None, "requests": 3, "errors": 0, "prompt_tokens": 30,
                               "completion_tokens": 9, "cached_tokens": 0, "cache_hits": 0, "saved_tokens": 0,
                               "cost_usd": "0.0000123"}
    assert data["totals"]["cost_usd"] == "12.5000123" and data["totals"]["requests"] == 4


def test_csv_ends_with_a_total_row() -> None:
    rows = list(csv.reader(io.StringIO(render(report(), "csv"))))
    assert rows[0][:3] == ["tenant", "feature", "requests"]
    assert rows[1][:2] == ["acme", "(none)"]
    assert rows[-1][:3] == ["TOTAL", "", "4"] and rows[-1][-1] == "12.5000123"


def test_csv_without_groups_is_one_total_row() -> None:
    rows = list(csv.reader(io.StringIO(render(report(()), "csv"))))
    assert len(rows) == 2 and rows[1][0] == "4"


def test_table_aligns_columns_and_totals() -> None:
    lines = render(report(), "table").splitlines()
    assert lines[0] == "usage from 2026-11-19T00:00:00+00:00 until now"
    assert lines[1].split() == ["tenant", "feature", "requests", "errors", "prompt_tokens", "completion_tokens",
                                "cached_tokens", "cache_hits", "saved_tokens", "cost_usd"]
    assert lines[-1].split()[0] == "TOTAL" and lines[-1].endswith("12.5000123")
    assert len({len(line) for line in lines[1:3]}) == 1


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="xml"):
        render(report(), "xml")


def ungrouped() -> UsageReport:
    """As run_report returns it without a group-by: one aggregate row, and the same totals."""
    totals = Totals(requests=4, prompt_tokens=30, cost_usd=Decimal("12.5"))
    return UsageReport(query=UsageQuery(since=SINCE, tenant=None, group_by=()), rows=[((), totals)], totals=totals)


def test_an_ungrouped_report_prints_its_one_row_once_in_csv() -> None:
    """Summing the cost column of the CSV must give the spend, not twice the spend."""
    rows = list(csv.reader(io.StringIO(render(ungrouped(), "csv"))))
    assert len(rows) == 2
    assert sum(Decimal(r[-1]) for r in rows[1:]) == Decimal("12.5")


def test_an_ungrouped_table_has_one_row_labelled_total() -> None:
    lines = render(ungrouped(), "table").splitlines()
    assert len(lines) == 4                        # title, header, rule, TOTAL
    assert lines[-1].split()[0] == "TOTAL" and lines[-1].endswith("12.50")
    assert sum("12.50" in line for line in lines) == 1
