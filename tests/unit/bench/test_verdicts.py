"""bench.verdicts: issue 21's targets judged against a bench.run report."""

from __future__ import annotations

from typing import Any

from bench.verdicts import judge


def _figures(**overrides: Any) -> dict[str, Any]:
    def entry(rate: int, p99: float, errors: int = 0) -> dict[str, Any]:
        return {"rate": rate, "errors": errors, "overhead_ms": {"p50": 1.0, "p95": 1.5, "p99": p99}}

    figures: dict[str, Any] = {
        "throughput_vs_passthrough": 0.8,
        "max_sustained_rps": 1000,
        "open_loop": [entry(100, 9.0), entry(200, 1.9), entry(500, 4.9)],
        "streaming": [entry(200, 2.0), entry(500, 5.0)],
        "cpu_ms_per_request": 0.7,
        "serving_process_cpu_ms_per_request": 0.6,
        "closed_loop_cpu_ms_per_request": 0.4,
        "rss_mb_after_run": 149.9,
    }
    figures.update(overrides)
    return figures


def test_every_target_at_its_limit_is_met() -> None:
    verdicts = judge(_figures(), ramp_top=1500)
    assert len(verdicts) == 8
    assert all(v.met for v in verdicts), verdicts


def test_each_target_just_past_its_limit_is_not_met() -> None:
    worse = _figures(
        throughput_vs_passthrough=0.74, max_sustained_rps=800, cpu_ms_per_request=0.71, rss_mb_after_run=150.0
    )
    worse["open_loop"][1]["overhead_ms"]["p99"] = 2.01
    worse["streaming"][1]["overhead_ms"]["p99"] = 5.01
    met = {v.target: v.met for v in judge(worse, ramp_top=1500)}
    assert met == {
        "closed loop >= 75% of the pass-through": False,
        "1,000 req/s sustained, zero errors": False,
        "overhead p99 <= 2 ms @200 req/s": False,
        "overhead p99 <= 5 ms @500 req/s": True,
        "streaming TTFT overhead p99 <= 2 ms @200 req/s": True,
        "streaming TTFT overhead p99 <= 5 ms @500 req/s": False,
        "CPU per request <= 0.7 ms": False,
        "RSS < 150 MB (serving process)": False,
    }


def test_errors_at_a_rate_fail_its_latency_target_whatever_the_p99() -> None:
    figures = _figures()
    figures["open_loop"][1]["errors"] = 3
    verdict = next(v for v in judge(figures, ramp_top=1500) if v.target == "overhead p99 <= 2 ms @200 req/s")
    assert verdict.met is False and "3 errors" in verdict.figure


def test_a_sustained_rate_at_the_top_of_a_short_ramp_reads_as_at_least_and_undecided() -> None:
    capped = judge(_figures(max_sustained_rps=600), ramp_top=600)
    verdict = next(v for v in capped if v.target.startswith("1,000 req/s"))
    assert verdict.figure == ">= 600 (top of the ramp) req/s" and verdict.met is None


def test_what_the_run_did_not_measure_is_neither_met_nor_failed() -> None:
    figures = _figures(streaming=[], throughput_vs_passthrough=None)
    del figures["max_sustained_rps"]
    unmeasured = [v.target for v in judge(figures, ramp_top=1500) if v.met is None]
    assert unmeasured == [
        "closed loop >= 75% of the pass-through",
        "1,000 req/s sustained, zero errors",
        "streaming TTFT overhead p99 <= 2 ms @200 req/s",
        "streaming TTFT overhead p99 <= 5 ms @500 req/s",
    ]
