"""The upstream's every fault kind under steady load on two replicas: 5xx, 429, a hang, a
reset connection, a stall mid-stream, garbage, a short body, a 400. A model with a healthy
second deployment answers 200 through the faults it can fall back from; the ones it cannot
(an answer already started, a body the upstream may have billed, the client's own 400) get
the status that says what happened. Each: no other 5xx, no request slower than the upstream
bound plus a margin, every 200 has exactly one usage record."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from tests.fakes.openai_upstream import Behavior
from tests.faults.conftest import BOUND, MARGIN, Cluster
from tests.faults.harness import Figures, Load, figures

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

FAULT = 3.0        # seconds of load against the faulty upstream


@dataclass(frozen=True)
class UpstreamFault:
    behavior: Behavior
    allowed: frozenset[int]          # the statuses the client may see
    model: str = "gpt-4o-mini"       # faulty deployment first, a healthy one second
    stream: bool = False
    worst: float = BOUND + MARGIN    # a request's bound: one upstream wait, then the fallback


FAULTS = {
    "upstream-5xx": UpstreamFault(Behavior("status", status=503), frozenset({200})),
    "upstream-429": UpstreamFault(Behavior("status", status=429, retry_after="1"), frozenset({200})),
    "upstream-hang": UpstreamFault(Behavior("hang"), frozenset({200})),
    "upstream-reset": UpstreamFault(Behavior("reset"), frozenset({200})),
    # After the first byte there is no fallback: the stream ends with an error event within `idle`.
    "upstream-stall-mid-stream": UpstreamFault(Behavior("stall_stream"), frozenset({200}), stream=True),
    # A body the upstream sent (and may bill) is not retried elsewhere: 502 says what happened.
    "upstream-garbage": UpstreamFault(Behavior("malformed"), frozenset({200, 502})),
    "upstream-short-body": UpstreamFault(Behavior("short"), frozenset({200, 502})),
    "upstream-400": UpstreamFault(Behavior("status", status=400), frozenset({400}), model="faulty-only"),
}


@pytest.mark.parametrize("name", list(FAULTS))
def test_an_upstream_fault_under_load(cluster: Cluster, fault_table: list[Figures], name: str) -> None:
    fault = FAULTS[name]
    cluster.wait_for_closed_breakers()
    cluster.faulty.default = fault.behavior
    body = {"model": fault.model, "stream": fault.stream,
            "messages": [{"role": "user", "content": f"through {name}"}]}
    try:
        load = Load(cluster.urls, cluster.key, name, body).start()
        time.sleep(FAULT)
        answers = load.stop()
    finally:
        cluster.upstreams_ok()
    result = figures(name, answers, cluster.database_url)
    fault_table.append(result)

    assert result.requests > 10, result.row()
    unexpected = {s: n for s, n in result.statuses.items() if s not in fault.allowed}
    assert unexpected == {}, (result.row(), [a.body[:200] for a in answers if a.status in unexpected][:3])
    assert result.worst_seconds < fault.worst, result.row()
    assert result.ok_recorded == result.ok, result.row()
    assert result.duplicates == 0, result.row()
    for answer in answers:
        if answer.status >= 400:
            assert b'"param"' in answer.body and b'"code"' in answer.body, answer.body[:200]
    if fault.stream:   # every stream ended: with the usage and [DONE], or with an error event
        ended = [a for a in answers if a.status == 200]
        assert all(b"[DONE]" in a.body or b'"error"' in a.body for a in ended)
