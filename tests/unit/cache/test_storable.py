"""Only a successful, complete answer is stored: every requested choice, each finished
for a reason a repeat would share."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.cache.storable import requested_choices, storable


def completion(*finishes: str | None) -> dict[str, Any]:
    return {"id": "c", "object": "chat.completion", "choices": [
        {"index": i, "message": {"role": "assistant", "content": "x"}, "finish_reason": f}
        for i, f in enumerate(finishes)]}


@pytest.mark.parametrize("finish", ["stop", "length", "tool_calls"])
def test_finished_answers_are_stored(finish: str) -> None:
    assert storable(completion(finish))


@pytest.mark.parametrize("finish", ["content_filter", "function_call", None, "weird"])
def test_filtered_legacy_and_unfinished_answers_are_not(finish: str | None) -> None:
    assert not storable(completion(finish))


def test_all_n_choices_must_be_there_and_finished() -> None:
    assert storable(completion("stop", "length"), 2)
    assert not storable(completion("stop"), 2)
    assert not storable(completion("stop", None), 2)
    assert not storable(completion("stop", "content_filter"), 2)
    twice_zero = completion("stop", "stop")
    twice_zero["choices"][1]["index"] = 0
    assert not storable(twice_zero, 2)


def test_shapes_that_are_no_answer_are_not_stored() -> None:
    assert not storable({"error": {"message": "x"}})
    assert not storable({"choices": []})
    assert not storable({"choices": [{"index": 0, "finish_reason": "stop"}]})


@pytest.mark.parametrize(("body", "n"), [({}, 1), ({"n": 3}, 3), ({"n": 0}, 1), ({"n": True}, 1), ({"n": "2"}, 1)])
def test_requested_choices(body: dict[str, Any], n: int) -> None:
    assert requested_choices(body) == n
