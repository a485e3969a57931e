"""A usage report as a table (people), CSV (spreadsheets) or JSON (programs). Money is the
exact decimal in every format -- a string in JSON, never a float."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from typing import Any

from gateway.usage.reports import Group, Totals, UsageReport

FORMATS = ("table", "csv", "json")
NONE_LABEL = "(none)"
TOTAL_LABEL = "TOTAL"


def money(value: Decimal) -> str:
    """Exact, without exponent or trailing zeros past the cent: 0.0000615, 12.50, 0.00."""
    text = format(value.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def render(report: UsageReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(as_json(report), indent=2) + "\n"
    if fmt == "csv":
        return _csv(report)
    if fmt == "table":
        return _table(report)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")


def _metric_values(totals: Totals, metrics: tuple[str, ...]) -> list[Any]:
    return [money(v) if isinstance(v, Decimal) else v for v in (getattr(totals, m) for m in metrics)]


def as_json(report: UsageReport) -> dict[str, Any]:
    query, metrics = report.query, report.metrics
    return {
        "since": query.since.isoformat(),
        "until": query.until.isoformat() if query.until else None,
        "filters": {"tenant": query.tenant, "feature": query.feature, "model": query.model},
        "group_by": list(query.group_by),
        "rows": [{**dict(zip(query.group_by, group, strict=True)),
                  **dict(zip(metrics, _metric_values(totals, metrics), strict=True))} for group, totals in report.rows],
        "totals": dict(zip(metrics, _metric_values(report.totals, metrics), strict=True)),
    }


def _labels(group: Group) -> list[str]:
    return [NONE_LABEL if v is None else v for v in group]


def _total_labels(report: UsageReport) -> list[str]:
    width = len(report.query.group_by)
    return [TOTAL_LABEL, *([""] * (width - 1))] if width else []


def _grouped_rows(report: UsageReport) -> list[tuple[Group, Totals]]:
    """The per-group rows; without a group-by the one aggregate row IS the total, so it is
    written once (as the total), never twice."""
    return report.rows if report.query.group_by else []


def _csv(report: UsageReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    metrics = report.metrics
    writer.writerow([*report.query.group_by, *metrics])
    for group, totals in _grouped_rows(report):
        writer.writerow([*_labels(group), *_metric_values(totals, metrics)])
    # Grouped: a TOTAL row closes the table (skip it when summing a column in a spreadsheet).
    # Not grouped: the one row is the total, and the only row.
    writer.writerow([*_total_labels(report), *_metric_values(report.totals, metrics)])
    return out.getvalue()


def _table(report: UsageReport) -> str:
    query, metrics = report.query, report.metrics
    labels = list(query.group_by) or [""]        # ungrouped: one label column, for TOTAL
    header = [*labels, *metrics]
    body = [[*_labels(group), *map(str, _metric_values(totals, metrics))] for group, totals in _grouped_rows(report)]
    total = [TOTAL_LABEL, *([""] * (len(labels) - 1)), *map(str, _metric_values(report.totals, metrics))]
    widths = [max(len(row[i]) for row in [header, *body, total]) for i in range(len(header))]
    numeric_from = len(labels)

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i >= numeric_from else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    until = query.until.isoformat() if query.until else "now"
    lines = [f"usage from {query.since.isoformat()} until {until}", line(header), line(["-" * w for w in widths])]
    lines += [line(row) for row in body]
    if body and query.group_by:
        lines.append(line(["-" * w for w in widths]))
    lines.append(line(total))
    return "\n".join(lines) + "\n"
