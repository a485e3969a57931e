"""Issue 21's targets judged against one `bench.run` report: each target, the figure the
run measured for it, and whether it is met -- so a run says plainly where the gateway stands
instead of leaving the reader to compare tables by hand.

A sustained rate equal to the top of the run's ramp is reported as "at least" that rate: the
ramp stopped, not the gateway (`--quick` ramps to 1,000 req/s, a full run to 1,500).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Verdict:
    target: str
    figure: str
    met: bool | None  # None: the run did not measure it


def _rate_entry(figures: dict[str, Any], section: str, rate: int) -> dict[str, Any] | None:
    return next((entry for entry in figures.get(section, []) if entry["rate"] == rate), None)


def _p99_at_most(figures: dict[str, Any], section: str, rate: int, limit_ms: float, what: str) -> Verdict:
    target = f"{what} p99 <= {limit_ms:g} ms @{rate} req/s"
    entry = _rate_entry(figures, section, rate)
    if entry is None:
        return Verdict(target, "not measured", None)
    p99 = float(entry["overhead_ms"]["p99"])
    ok = p99 <= limit_ms and entry["errors"] == 0
    errors = f", {entry['errors']} errors" if entry["errors"] else ""
    return Verdict(target, f"{p99:g} ms{errors}", ok)


def judge(figures: dict[str, Any], ramp_top: int) -> list[Verdict]:
    """The verdicts for one gateway target's figures (a value of report["targets"])."""
    verdicts: list[Verdict] = []
    ratio = figures.get("throughput_vs_passthrough")
    verdicts.append(
        Verdict(
            "closed loop >= 75% of the pass-through",
            "not measured" if ratio is None else f"{ratio:.0%}",
            None if ratio is None else ratio >= 0.75,
        )
    )
    sustained = figures.get("max_sustained_rps")
    if sustained is None:
        verdicts.append(Verdict("1,000 req/s sustained, zero errors", "not measured", None))
    else:
        capped = sustained >= ramp_top
        shown = f">= {sustained} (top of the ramp)" if capped else str(sustained)
        # A ramp that stopped below 1,000 cannot say whether 1,000 holds.
        met = True if sustained >= 1000 else (None if capped else False)
        verdicts.append(Verdict("1,000 req/s sustained, zero errors", f"{shown} req/s", met))
    for rate, limit in ((200, 2.0), (500, 5.0)):
        verdicts.append(_p99_at_most(figures, "open_loop", rate, limit, "overhead"))
    for rate, limit in ((200, 2.0), (500, 5.0)):
        verdicts.append(_p99_at_most(figures, "streaming", rate, limit, "streaming TTFT overhead"))
    cpu = figures.get("cpu_ms_per_request")
    serving = figures.get("serving_process_cpu_ms_per_request")
    closed = figures.get("closed_loop_cpu_ms_per_request")
    detail = f"{cpu} ms whole tree (serving process {serving}, closed loop {closed})"
    verdicts.append(
        Verdict(
            "CPU per request <= 0.7 ms", "not measured" if cpu is None else detail, None if cpu is None else cpu <= 0.7
        )
    )
    rss = figures.get("rss_mb_after_run")
    verdicts.append(
        Verdict(
            "RSS < 150 MB (serving process)",
            "not measured" if rss is None else f"{rss} MB",
            None if rss is None else rss < 150,
        )
    )
    return verdicts


def print_verdicts(report: dict[str, Any]) -> None:
    ramp_top = int(report.get("ramp_top_rps", 0))
    for name, figures in report["targets"].items():
        if not name.startswith("gateway") or "open_loop" not in figures:
            continue
        print(f"\nissue 21 targets, {name}")
        for verdict in judge(figures, ramp_top):
            mark = {True: "met", False: "NOT met", None: "-"}[verdict.met]
            print(f"  {verdict.target:<48} {verdict.figure:<64} {mark}")
