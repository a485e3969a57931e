from __future__ import annotations

from gateway.usage.stream_replay import Unconfirmed, parse_id, safe_point, server_identity


def test_confirmed_entries_are_forgotten_and_the_rest_kept_in_order() -> None:
    kept = Unconfirmed()
    for n in range(5):
        kept.added(f"100-{n}".encode(), f"r{n}".encode())
    groups = [{"name": b"other", "last-delivered-id": b"999-0"}, {"name": b"g", "last-delivered-id": b"100-3"}]
    kept.confirmed_below(safe_point(groups, "g", b"100-2") or (0, 0))   # 100-2 still pending
    assert kept.raws() == [b"r2", b"r3", b"r4"]
    kept.confirmed_below(safe_point(groups, "g", None) or (0, 0))       # delivered up to 100-3, none pending
    assert kept.raws() == [b"r4"]
    assert safe_point(groups, "missing", None) is None


def test_a_new_server_is_noticed_once_and_replayed_records_take_new_ids() -> None:
    kept = Unconfirmed()
    kept.added(b"5-0", b"a")
    assert not kept.server_changed("run-1")
    assert kept.server_changed("run-2")
    kept.replace([b"9-0"], kept.raws())
    kept.seen("run-2")
    assert not kept.server_changed("run-2")
    kept.confirmed_below(parse_id("9-0"))
    assert kept.raws() == [b"a"]
    assert server_identity({"run_id": "abc"}) == "abc"
    assert server_identity({"n1": {"run_id": "b"}, "n2": {"run_id": "a"}}) == "a,b"


def test_past_the_limit_the_oldest_go() -> None:
    kept = Unconfirmed(limit=3)
    for n in range(5):
        kept.added(f"1-{n}", str(n).encode())
    assert kept.raws() == [b"2", b"3", b"4"]
