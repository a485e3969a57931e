"""PostgreSQL and Redis fail under steady load on two replicas: refused, partitioned (no
byte passes), and Redis restarted empty. Each scenario: no 5xx, no request slower than the
configured bound plus a margin, every 200 has exactly one usage record afterwards, and the
limits are exact again after recovery."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.faults.conftest import BOUND, LIMIT_RPM, MARGIN, Cluster
from tests.faults.harness import Figures, Load, figures, limits_exact

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BEFORE, FAULT, AFTER = 1.0, 4.0, 2.5    # seconds of load before, during and after the fault
BODY = {"model": "mock-echo", "messages": [{"role": "user", "content": "steady load"}]}


def _restart_redis_empty(cluster: Cluster) -> None:
    cluster.redis_server.stop()      # no persistence: it comes back with nothing
    cluster.redis_server.start()


SCENARIOS: dict[str, tuple[Callable[[Cluster], None], Callable[[Cluster], None]]] = {
    "postgres-refused": (lambda c: c.database.cut(), lambda c: c.database.restore()),
    "postgres-partitioned": (lambda c: c.database.partition(), lambda c: c.database.restore()),
    "redis-refused": (lambda c: c.redis.cut(), lambda c: c.redis.restore()),
    "redis-partitioned": (lambda c: c.redis.partition(), lambda c: c.redis.restore()),
    "redis-restarted-empty": (lambda c: c.redis.cut(), lambda c: _restart_redis_empty_and_restore(c)),
}


def _restart_redis_empty_and_restore(cluster: Cluster) -> None:
    _restart_redis_empty(cluster)
    cluster.redis.restore()


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_fault_under_load_costs_no_5xx_no_stall_and_no_record(cluster: Cluster, fault_table: list[Figures],
                                                                 scenario: str) -> None:
    fault, restore = SCENARIOS[scenario]
    load = Load(cluster.urls, cluster.key, scenario, BODY).start()
    time.sleep(BEFORE)
    fault(cluster)
    try:
        time.sleep(FAULT)
    finally:
        restore(cluster)
    time.sleep(AFTER)
    answers = load.stop()
    result = figures(scenario, answers, cluster.database_url)
    result.limits_exact = limits_exact(cluster.urls, cluster.exact_key(), LIMIT_RPM)
    fault_table.append(result)

    assert result.requests > 20, result.row()
    server_errors = {s: n for s, n in result.statuses.items() if s >= 500 or s == 0}
    assert server_errors == {}, [a.body[:200] for a in answers if a.status >= 500][:5]
    assert result.worst_seconds < BOUND + MARGIN, result.row()
    assert result.ok_recorded == result.ok, result.row()
    assert result.duplicates == 0, result.row()
    assert result.limits_exact, result.row()
