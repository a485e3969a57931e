"""The cache key: every parameter that can change the answer changes the key; delivery and
attribution fields do not; key order and JSON spacing do not; scope and model always do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.cache.keys import cache_key, glob_escape, key_prefix, model_tag

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Name a colour."}]
TOOL: dict[str, Any] = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}}}}}


def body(**extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": json.loads(json.dumps(MESSAGES)), **extra}


def key(scope: str = "tenant-1", model: str = "gpt-4o-mini", **extra: Any) -> str:
    return cache_key(scope, model, body(**extra))


ANSWER_CHANGING: list[tuple[str, Any, Any]] = [
    ("temperature", 0.0, 0.7),
    ("top_p", 0.5, 1.0),
    ("max_tokens", 10, 11),
    ("max_completion_tokens", 10, 11),
    ("stop", ["\n"], ["END"]),
    ("seed", 1, 2),
    ("tools", [TOOL], [{**TOOL, "function": {**TOOL["function"], "name": "get_time"}}]),
    ("tool_choice", "auto", "required"),
    ("parallel_tool_calls", True, False),
    ("response_format", {"type": "json_object"}, {"type": "text"}),
    ("n", 1, 2),
    ("frequency_penalty", 0.0, 0.5),
    ("presence_penalty", 0.0, 0.5),
    ("logit_bias", {"50256": -100}, {"50256": 100}),
    ("logprobs", False, True),
    ("top_logprobs", 1, 2),
    ("reasoning_effort", "low", "high"),
]


@pytest.mark.parametrize(("field", "one", "other"), ANSWER_CHANGING, ids=[f for f, _, _ in ANSWER_CHANGING])
def test_every_answer_changing_parameter_changes_the_key(field: str, one: Any, other: Any) -> None:
    assert key(**{field: one}) != key(**{field: other})
    assert key(**{field: one}) != key()     # present versus absent too


@pytest.mark.parametrize(("field", "value"), [
    ("stream", True), ("stream_options", {"include_usage": True}), ("user", "end-user-42"),
    ("metadata", {"feature": "checkout"}), ("store", True), ("service_tier", "default"),
])
def test_delivery_and_attribution_fields_leave_the_key_alone(field: str, value: Any) -> None:
    assert key(**{field: value}) == key()


def test_the_model_field_of_the_body_is_not_read_the_model_argument_is() -> None:
    assert cache_key("tenant-1", "gpt-4o-mini", {**body(), "model": "other"}) == key()
    assert key(model="other-model") != key()


def test_scope_separates_tenants() -> None:
    assert key(scope="tenant-1") != key(scope="tenant-2")
    assert key(scope="shared") == key(scope="shared")


def test_messages_change_the_key_down_to_one_character() -> None:
    changed = body()
    changed["messages"][1]["content"] = "Name a colour!"
    assert cache_key("tenant-1", "gpt-4o-mini", changed) != key()
    reordered = body()
    reordered["messages"].reverse()
    assert cache_key("tenant-1", "gpt-4o-mini", reordered) != key()


def test_key_order_and_json_spacing_do_not_matter() -> None:
    compact = json.dumps({"messages": MESSAGES, "model": "gpt-4o-mini", "temperature": 0,
                          "response_format": {"type": "json_object"}}, separators=(",", ":"))
    spaced = """{ "temperature" : 0,
                  "response_format": { "type" : "json_object" },
                  "model": "gpt-4o-mini",
                  "messages": [ {"content": "Be brief.", "role": "system"},
                                {"content": "Name a colour.", "role": "user"} ] }"""
    assert cache_key("t", "gpt-4o-mini", json.loads(compact)) == cache_key("t", "gpt-4o-mini", json.loads(spaced))


def test_the_key_is_a_digest_that_holds_no_request_text() -> None:
    secret = body()
    secret["messages"][1]["content"] = "my email is alice@example.com"
    value = cache_key("tenant-1", "gpt-4o-mini", secret)
    scope, tag, digest = value.split(":")
    assert scope == "tenant-1" and tag == model_tag("gpt-4o-mini")
    assert len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)
    assert "alice" not in value


def test_keys_lead_with_the_scope_and_the_model_so_a_tenant_can_be_cleared_by_prefix() -> None:
    key = cache_key("tenant-1", "gpt-4o-mini", body())
    assert key.startswith(key_prefix("tenant-1")) and key.startswith(key_prefix("tenant-1", "gpt-4o-mini"))
    assert not key.startswith(key_prefix("tenant-1", "other-model"))
    assert not cache_key("tenant-10", "gpt-4o-mini", body()).startswith(key_prefix("tenant-1"))
    assert glob_escape("a*b?[c]") == "a\\*b\\?\\[c\\]"
