"""Charts as server-rendered SVG: the geometry is computed here, the markup is a template
macro (templates/_charts.html). No JavaScript, no chart library, nothing fetched."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 28


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str          # the x value (a day)
    title: str          # the tooltip: label and formatted value


@dataclass(frozen=True, slots=True)
class Tick:
    y: float
    text: str


@dataclass(frozen=True, slots=True)
class XLabel:
    x: float
    text: str


@dataclass(frozen=True, slots=True)
class ColumnChart:
    title: str
    bars: list[Bar]
    ticks: list[Tick]
    xlabels: list[XLabel]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom_y: float = HEIGHT - BOTTOM
    empty: bool = False


def nice_step(maximum: float, steps: int = 4) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) so that `steps` ticks cover `maximum`."""
    if maximum <= 0:
        return 1.0
    raw = maximum / steps
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return float(factor * power)
    return float(10 * power)   # pragma: no cover - the loop always returns


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def column_chart(title: str, points: Sequence[tuple[str, float]], fmt: str = "{:,.0f}") -> ColumnChart:
    """One column per point (in order), a y axis with round ticks, about eight x labels."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    maximum = max((v for _, v in points), default=0.0)
    if not points or maximum <= 0:
        return ColumnChart(title=title, bars=[], ticks=[Tick(HEIGHT - BOTTOM, fmt.format(0))], xlabels=[], empty=True)
    step = nice_step(maximum)
    top = step * math.ceil(maximum / step)
    slot = plot_w / len(points)
    gap = min(slot * 0.2, 6.0)
    bars = []
    for i, (label, value) in enumerate(points):
        h = plot_h * value / top
        bars.append(Bar(x=round(LEFT + i * slot + gap / 2, 2), y=round(TOP + plot_h - h, 2),
                        width=round(max(slot - gap, 1.0), 2), height=round(h, 2), label=label,
                        title=f"{label}: {fmt.format(value)}"))
    ticks = [Tick(y=round(TOP + plot_h - plot_h * (k * step) / top, 2), text=_short(k * step, fmt))
             for k in range(round(top / step) + 1)]
    every = max(1, math.ceil(len(points) / 8))
    xlabels = [XLabel(x=round(LEFT + (i + 0.5) * slot, 2), text=label[5:] if len(label) == 10 else label)
               for i, (label, _) in enumerate(points) if i % every == 0]
    return ColumnChart(title=title, bars=bars, ticks=ticks, xlabels=xlabels)


def _short(value: float, fmt: str) -> str:
    """Axis labels stay short: 1.2M, 350k; small amounts of money keep their significant digits."""
    prefix = "$" if fmt.startswith("$") else ""
    if prefix and 0 < value < 1:
        return f"${value:.4f}".rstrip("0")
    if value >= 1_000_000:
        return f"{prefix}{value / 1_000_000:g}M"
    if value >= 1_000:
        return f"{prefix}{value / 1_000:g}k"
    return fmt.format(value)


def share(value: float, maximum: float) -> float:
    """A bar's length in percent of the largest one (for the top-N tables)."""
    return 0.0 if maximum <= 0 else round(100.0 * value / maximum, 1)
