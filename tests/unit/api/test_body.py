from __future__ import annotations

from typing import Any

import pytest

from gateway.api.body import check_chat_body
from gateway.errors import InvalidRequest

OK: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("patch", "param"), [
    ({"model": None}, "model"), ({"model": 3}, "model"), ({"messages": []}, "messages"),
    ({"messages": ["hi"]}, "messages[0]"), ({"messages": [{"content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    ({"stream": "yes"}, "stream"), ({"max_tokens": 0}, "max_tokens"), ({"max_tokens": True}, "max_tokens"),
    ({"n": 1.5}, "n"), ({"temperature": "hot"}, "temperature"), ({"tools": {}}, "tools"),
    ({"stop": 3}, "stop"), ({"user": 1}, "user"),
])
def test_bad_fields_name_their_parameter(patch: dict[str, Any], param: str) -> None:
    body = {**OK, **patch}
    if patch.get("model", "") is None:
        del body["model"]
    with pytest.raises(InvalidRequest) as caught:
        check_chat_body(body)
    assert caught.value.param == param


def test_a_valid_body_with_unknown_fields_passes() -> None:
    check_chat_body({**OK, "temperature": 0, "stream": True, "tools": [], "some_new_openai_field": {"x": 1}})


@pytest.mark.parametrize(("patch", "param"), [
    ({"messages": [{"role": {}, "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": [None], "content": "x"}]}, "messages[0].role"),
    ({"messages": [{"role": "assistant", "tool_calls": 5}]}, "messages[0].tool_calls"),
    ({"messages": [{"role": "assistant", "tool_calls": [True]}]}, "messages[0].tool_calls"),
])
def test_unhashable_roles_and_scalar_tool_calls_are_refused(patch: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_chat_body({**OK, **patch})
    assert caught.value.param == param


def test_depth_is_counted_without_recursion() -> None:
    from gateway.api.body import json_depth_exceeds

    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    assert json_depth_exceeds({"a": deep})
    assert not json_depth_exceeds({"a": [[{"b": [1]}]]}, limit=5)
    assert json_depth_exceeds({"a": [[{"b": [1]}]]}, limit=4)
