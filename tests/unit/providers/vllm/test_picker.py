"""The load-aware picker against hand-computed scores (weights queue 2, KV 2, prefix 3)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from providers.vllm.breaker import ReplicaBreaker
from providers.vllm.config import Saturation, Weights
from providers.vllm.picker import (
    LOAD,
    NO_REPLICA,
    PREFIX,
    ROUND_ROBIN,
    UNKNOWN,
    LoadAwarePicker,
    RoundRobinPicker,
)
from providers.vllm.replica import Replica, ReplicaClient
from providers.vllm.scrape import Figures

NOW = 1000.0


def replica(port: int, waiting: float | None = 0, kv: float = 0.0, age: float = 0.0) -> Replica:
    root = f"http://10.0.0.1:{port}"
    r = Replica(root, ReplicaClient("pool", [root + "/v1"]), ReplicaBreaker(5.0))
    if waiting is not None:
        r.figures = Figures(waiting=waiting, running=1, kv_cache=kv, block_size=16, at=NOW - age)
    return r


def picker(rng: float = 0.5, **saturation: Any) -> LoadAwarePicker:
    return LoadAwarePicker(Weights(), Saturation(**saturation), stale_seconds=0.2, rng=lambda: rng)


def test_scores_match_the_hand_computed_sums() -> None:
    a, b, c = replica(1, waiting=0, kv=0.2), replica(2, waiting=2, kv=0.5), replica(3, waiting=4, kv=0.1)
    # 10 prompt blocks: b was sent the first 5, c all 10.
    pick = picker().pick([a, b, c], {b.key: 5, c.key: 10}, 10, NOW)
    # queue span 0..4: a 1.0, b 0.5, c 0.0
    assert a.score == pytest.approx(2 * 1.0 + 2 * 0.8 + 3 * 0.0)      # 3.6
    assert b.score == pytest.approx(2 * 0.5 + 2 * 0.5 + 3 * 0.5)      # 3.5
    assert c.score == pytest.approx(2 * 0.0 + 2 * 0.9 + 3 * 1.0)      # 4.8
    assert pick.order == [c, a, b]
    assert pick.reason == PREFIX


def test_without_a_prefix_the_shorter_queue_wins() -> None:
    busy, idle = replica(1, waiting=3, kv=0.3), replica(2, waiting=1, kv=0.3)
    pick = picker().pick([busy, idle], {}, 0, NOW)
    assert pick.order == [idle, busy]
    assert pick.reason == LOAD
    assert idle.score == pytest.approx(2 + 1.4) and busy.score == pytest.approx(1.4)


def test_equal_queues_all_score_one_and_weights_are_configurable() -> None:
    a, b = replica(1, waiting=2, kv=0.5), replica(2, waiting=2, kv=0.1)
    only_kv = LoadAwarePicker(Weights(queue=0, kv_cache=1, prefix=0), Saturation(), 0.2, rng=lambda: 0.5)
    pick = only_kv.pick([a, b], {a.key: 9}, 10, NOW)
    assert pick.order == [b, a]
    assert a.score == pytest.approx(0.5) and b.score == pytest.approx(0.9)


def test_requests_sent_since_the_scrape_count_as_queued() -> None:
    a, b = replica(1, waiting=0), replica(2, waiting=1)
    a.sent_since_scrape = 3
    assert picker().pick([a, b], {}, 0, NOW).order == [b, a]


def test_saturated_replicas_are_not_candidates_only_last_resorts() -> None:
    full_queue, full_kv, ok = replica(1, waiting=5), replica(2, waiting=0, kv=0.85), replica(3, waiting=4, kv=0.7)
    pick = picker().pick([full_queue, full_kv, ok], {full_queue.key: 10}, 10, NOW)
    assert pick.order[0] is ok and pick.reason == LOAD    # the prefix holder is saturated
    assert set(pick.order[1:]) == {full_queue, full_kv}   # tried only if `ok` fails before its first byte


def test_every_replica_saturated_is_reported_as_such() -> None:
    pick = picker().pick([replica(1, waiting=6), replica(2, kv=0.9)], {}, 0, NOW)
    assert (pick.order, pick.saturated, pick.reason) == ([], True, NO_REPLICA)


def test_stale_or_unscraped_replicas_are_unknown_and_ranked_last_not_idle() -> None:
    busy = replica(1, waiting=4, kv=0.7)
    stale = replica(2, waiting=0, age=0.5)          # was idle, half a second ago
    never = replica(3, waiting=None)
    pick = picker().pick([stale, never, busy], {never.key: 4}, 4, NOW)
    assert pick.order == [busy, never, stale]       # unknown ones by prefix affinity
    assert stale.score is None and never.score is None


def test_only_unknown_replicas_left_are_still_tried() -> None:
    never, full = replica(1, waiting=None), replica(2, waiting=9)
    pick = picker().pick([full, never], {}, 0, NOW)
    assert (pick.order, pick.reason, pick.saturated) == ([never, full], UNKNOWN, False)


def test_an_open_breaker_takes_a_replica_out() -> None:
    a, b = replica(1, waiting=0), replica(2, waiting=3)
    a.breaker.failure(NOW)
    assert picker().pick([a, b], {}, 0, NOW).order == [b]
    assert picker().pick([a], {}, 0, NOW).order == []
    assert picker().pick([a, b], {}, 0, NOW + 5.0).order == [a, b]    # cooled down: a trial may go


def test_ties_break_at_random() -> None:
    draws = itertools.cycle([0.1, 0.9, 0.9, 0.1])
    tie = LoadAwarePicker(Weights(), Saturation(), 0.2, rng=lambda: next(draws))
    a, b = replica(1), replica(2)
    assert tie.pick([a, b], {}, 0, NOW).order == [b, a]
    assert tie.pick([a, b], {}, 0, NOW).order == [a, b]


def test_round_robin_rotates_over_live_replicas() -> None:
    a, b, c = replica(1, waiting=9), replica(2), replica(3)
    rr = RoundRobinPicker()
    firsts = [rr.pick([a, b, c], {}, 0, NOW).order[0] for _ in range(3)]
    assert firsts == [a, b, c]
    b.breaker.failure(NOW)
    pick = rr.pick([a, b, c], {}, 0, NOW)
    assert b not in pick.order and pick.reason == ROUND_ROBIN


def test_a_replica_is_named_by_host_and_port_only() -> None:
    with_credentials = Replica("http://user:secret@10.0.0.9:8000", ReplicaClient("p", ["http://x/v1"]),
                               ReplicaBreaker(1.0))
    assert with_credentials.key == "10.0.0.9:8000"
    view = with_credentials.view(NOW, 1.0)
    assert "secret" not in str(view) and view["url"] == "http://10.0.0.9:8000"
    assert replica(1).key == "10.0.0.1:1"
    ipv6 = Replica("http://[fd00::1]:8000", ReplicaClient("p", ["http://x/v1"]), ReplicaBreaker(1.0))
    assert ipv6.key == "[fd00::1]:8000"
