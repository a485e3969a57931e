"""The server-rendered charts' geometry: round ticks, bars inside the plot, no chart for nothing."""

from __future__ import annotations

import pytest

from gateway.console.charts import HEIGHT, column_chart, nice_step, share


@pytest.mark.parametrize(("maximum", "step"), [(40, 10), (7, 2), (0.0011, 0.0005), (1_234_567, 500_000), (100, 50)])
def test_tick_steps_are_one_two_or_five_times_a_power_of_ten(maximum: float, step: float) -> None:
    assert nice_step(maximum) == pytest.approx(step)


def test_bars_are_proportional_and_stay_inside_the_plot() -> None:
    chart = column_chart("Requests", [("2026-12-01", 10), ("2026-12-02", 0), ("2026-12-03", 40)])
    tall, empty, tallest = chart.bars
    assert empty.height == 0
    assert tallest.height == pytest.approx(4 * tall.height)
    assert all(b.y >= 0 and b.y + b.height <= HEIGHT for b in chart.bars)
    assert tallest.title == "2026-12-03: 40"
    assert [t.text for t in chart.ticks] == ["0", "10", "20", "30", "40"]
    assert chart.xlabels[0].text == "12-01"


def test_money_ticks_keep_their_digits_and_no_data_is_said_plainly() -> None:
    chart = column_chart("Spend", [("2026-12-01", 0.0011)], "${:,.2f}")
    assert "$0.0005" in [t.text for t in chart.ticks]
    assert column_chart("Spend", [("2026-12-01", 0.0)]).empty
    assert column_chart("Spend", []).empty


def test_share_is_a_percentage_of_the_largest() -> None:
    assert share(5, 20) == 25.0
    assert share(5, 0) == 0.0
