"""Rendering a prompt version (pure): variables, types, defaults, one-pass substitution, the
merge into a chat body; the checks a version passes when written; the diff of two versions."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.errors import InvalidRequest
from gateway.prompts.content import PromptError, as_version, check_content, check_label, check_prompt_id
from gateway.prompts.diff import unified_diff
from gateway.prompts.render import Params, apply, render

TRIAGE = {"model": "gpt-4o-mini",
          "instructions": "You triage tickets for {{ product }}. Priority floor: {{floor}}.",
          "input": "Ticket: {{ticket}}",
          "variables": {"floor": {"type": "integer", "default": 3}},
          "params": {"temperature": 0.2, "max_tokens": 300},
          "response_schema": {"type": "object", "properties": {"priority": {"type": "integer"}}},
          "validation": "retry"}


def rendered(variables: dict[str, Any], content: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return render(check_content(content or TRIAGE), variables, Params()).messages


def test_variables_fill_the_placeholders_and_defaults_apply() -> None:
    assert rendered({"product": "Acme", "ticket": "printer on fire"}) == [
        {"role": "system", "content": "You triage tickets for Acme. Priority floor: 3."},
        {"role": "user", "content": "Ticket: printer on fire"}]
    assert rendered({"product": "Acme", "ticket": "x", "floor": 1})[0]["content"].endswith("floor: 1.")


def test_a_value_holding_a_placeholder_is_not_rendered_again() -> None:
    messages = rendered({"product": "{{ticket}}", "ticket": "{{product}} and {{ floor }}"})
    assert messages[0]["content"] == "You triage tickets for {{ticket}}. Priority floor: 3."
    assert messages[1]["content"] == "Ticket: {{product}} and {{ floor }}"


def test_a_missing_variable_is_a_400_naming_it() -> None:
    with pytest.raises(InvalidRequest) as caught:
        rendered({"product": "Acme"})
    assert caught.value.status == 400 and caught.value.param == "prompt.variables.ticket"
    assert caught.value.code == "missing_prompt_variable"
    with pytest.raises(InvalidRequest) as header:
        render(check_content(TRIAGE), {"product": "Acme"}, Params(variables="prompt_variables"))
    assert header.value.param == "prompt_variables.ticket"


@pytest.mark.parametrize("value", [7, ["a"], {"x": 1}, True])
def test_a_string_variable_of_another_type_is_a_400(value: Any) -> None:
    with pytest.raises(InvalidRequest) as caught:
        rendered({"product": value, "ticket": "t"})
    assert caught.value.param == "prompt.variables.product" and caught.value.code == "invalid_prompt_variable"


def test_typed_variables_and_openai_input_text_items() -> None:
    with pytest.raises(InvalidRequest):
        rendered({"product": "A", "ticket": "t", "floor": "3"})      # an integer, not a string
    with pytest.raises(InvalidRequest):
        rendered({"product": "A", "ticket": "t", "floor": True})     # a boolean is no integer
    content = {"input": "{{a}} {{b}} {{c}}", "variables": {"a": "number", "b": "boolean", "c": "string"}}
    assert rendered({"a": 1.5, "b": False, "c": {"type": "input_text", "text": "hi"}}, content)[0]["content"] \
        == "1.5 false hi"


def test_unused_variables_are_ignored() -> None:
    assert rendered({"product": "A", "ticket": "t", "dropped_in_v2": "x"})[1]["content"] == "Ticket: t"


def test_apply_puts_the_prompt_first_and_lets_the_request_win() -> None:
    prompt = render(check_content(TRIAGE), {"product": "A", "ticket": "t"}, Params())
    body = apply({"messages": [{"role": "user", "content": "and also"}], "temperature": 1.0}, prompt, "triage")
    assert [m["content"] for m in body["messages"]] == ["You triage tickets for A. Priority floor: 3.", "Ticket: t",
                                                        "and also"]
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 1.0 and body["max_tokens"] == 300
    assert body["response_format"] == {"type": "json_schema", "json_schema": {
        "name": "triage", "schema": TRIAGE["response_schema"]}}
    named = apply({"model": "other-model", "max_completion_tokens": 5, "messages": [],
                   "response_format": {"type": "json_object"}}, prompt, "shared/triage")
    assert named["model"] == "other-model"                   # a named model is never swapped
    assert "max_tokens" not in named and named["response_format"] == {"type": "json_object"}


@pytest.mark.parametrize(("content", "param"), [
    ({}, "messages"),
    ({"input": "x", "messages": [{"role": "user", "content": "y"}]}, "messages"),
    ({"messages": [{"role": "tool", "content": "y"}]}, "messages[0].role"),
    ({"input": "{{ not-a-name }}"}, "messages[0].content"),
    ({"input": "x", "params": {"stream": True}}, "params.stream"),
    ({"input": "x", "params": {"temperature": "hot"}}, "params.temperature"),
    ({"input": "x", "validation": "maybe"}, "validation"),
    ({"input": "x", "variables": {"a": "date"}}, "variables.a"),
    ({"input": "x", "variables": {"a": {"type": "integer", "default": "1"}}}, "variables.a.default"),
    ({"input": "x", "temprature": 1}, "temprature"),
    ({"input": "x", "response_schema": "object"}, "response_schema"),
])
def test_a_version_is_checked_when_written(content: dict[str, Any], param: str) -> None:
    with pytest.raises(PromptError) as caught:
        check_content(content)
    assert caught.value.param == param


def test_ids_labels_and_version_selectors() -> None:
    assert check_prompt_id("support-triage.v2") == "support-triage.v2"
    for bad in ("", "shared/x", "a@b", "-x", "x" * 101):
        with pytest.raises(PromptError):
            check_prompt_id(bad)
    assert check_label("production") == "production"
    for bad in ("latest", "7", "Prod", ""):
        with pytest.raises(PromptError):
            check_label(bad)
    assert as_version("7") == 7 and as_version("production") is None and as_version("9" * 10) is None
    assert as_version("²") is None


def test_diff_shows_the_changed_lines_only() -> None:
    v1 = check_content(TRIAGE)
    v2 = check_content({**TRIAGE, "input": "Ticket #{{id}}: {{ticket}}"})
    diff = unified_diff(v1, v2, "triage@1", "triage@2")
    assert diff.startswith("--- triage@1\n+++ triage@2\n")
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    assert sorted(changed) == sorted(["-  content: 'Ticket: {{ticket}}'",
                                      "+  content: 'Ticket #{{id}}: {{ticket}}'", "+  id:", "+    type: string"])
    assert unified_diff(v1, v1, "a", "b") == ""


def test_content_is_plain_json_without_nul() -> None:
    import datetime

    with pytest.raises(PromptError, match="NUL"):
        check_content({"input": "a\x00b"})
    with pytest.raises(PromptError, match="plain JSON"):
        check_content({"input": "x", "params": {"seed": 1}, "description": datetime.date(2026, 1, 1)})
    assert check_content({"input": "literal \\u0000 text"})["messages"][0]["content"] == "literal \\u0000 text"
