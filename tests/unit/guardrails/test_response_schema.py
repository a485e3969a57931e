"""The JSON Schema check of an answer, and the cache of compiled validators."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from gateway.guardrails.response_schema import ERROR_CHARS, InvalidSchema, SchemaValidators, requested_schema

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"age": {"type": "integer"}}, "required": ["age"]}


def completion(*contents: str | None, tool_calls: bool = False) -> dict[str, Any]:
    choices = []
    for i, content in enumerate(contents):
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if tool_calls:
            message["tool_calls"] = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
        choices.append({"index": i, "message": message, "finish_reason": "stop"})
    return {"choices": choices}


def test_one_compile_per_schema_whatever_its_key_order() -> None:
    validators = SchemaValidators()
    first = validators.check_for(SCHEMA)
    reordered = {"required": ["age"], "properties": {"age": {"type": "integer"}}, "type": "object"}
    assert validators.check_for(reordered) is first
    assert validators.compiled == 1
    other = validators.check_for({"type": "array"})
    assert other is not first and validators.compiled == 2 and len(validators) == 2


def test_the_least_recently_used_schema_is_dropped_past_the_limit() -> None:
    validators = SchemaValidators(max_entries=2)
    a = validators.check_for({"type": "string"})
    validators.check_for({"type": "number"})
    validators.check_for({"type": "string"})          # a is used again: number is the oldest
    validators.check_for({"type": "boolean"})
    assert len(validators) == 2
    assert validators.check_for({"type": "string"}) is a
    assert validators.compiled == 3
    validators.check_for({"type": "number"})          # dropped: compiled again
    assert validators.compiled == 4


def test_a_schema_that_is_not_one_is_refused() -> None:
    with pytest.raises(InvalidSchema, match=r"\$.type"):
        SchemaValidators().check_for({"type": "objekt"})


def test_a_schema_never_makes_the_gateway_fetch_a_url() -> None:
    """A `$ref` to a URL would be fetched by jsonschema-rs's default: a client could make the
    gateway call any address it can reach. Offline, it is an invalid schema."""
    hits: list[bytes] = []
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        with pytest.raises(InvalidSchema, match="Retrieval is disabled"):
            SchemaValidators().check_for({"$ref": f"http://127.0.0.1:{port}/schema.json"})
        try:
            connection, _ = listener.accept()
            hits.append(connection.recv(100))
            connection.close()
        except TimeoutError:
            pass
    assert hits == []


def test_paths_name_properties_and_items() -> None:
    check = SchemaValidators().check_for({"type": "object", "properties": {"items": {"type": "array", "items": {
        "type": "object", "properties": {"price": {"type": "number"}}}}}})
    assert check.text_failure('{"items": [{"price": 1}, {"price": "x"}]}') == \
        '$.items[1].price: "x" is not of type "number"'


@pytest.mark.parametrize(("text", "failure"), [
    ('{"age": 3}', None),
    ('{"age": "3"}', '$.age: "3" is not of type "integer"'),
    ("{}", '$: "age" is a required property'),
    ("The age is 3.", "the answer is not JSON (Expecting value: line 1 column 1 (char 0))"),
    ('```json\n{"age": 3}\n```', "the answer is not JSON (Expecting value: line 1 column 1 (char 0))"),
    ('{"age": 3', "the answer is not JSON (Expecting ',' delimiter: line 1 column 10 (char 9))"),
    ('{"age": 123456789012345678901234567890}', None),        # past 64 bits: still an integer
])
def test_answers_against_the_schema(text: str, failure: str | None) -> None:
    assert SchemaValidators().check_for(SCHEMA).failure(completion(text)) == failure


def test_no_text_fails_but_a_tool_call_turn_is_not_judged() -> None:
    check = SchemaValidators().check_for(SCHEMA)
    assert check.failure(completion(None)) == "the answer has no text (expected JSON)"
    calls = completion(None, tool_calls=True)
    assert not check.judges(calls) and check.failure(calls) is None
    assert check.judges(completion('{"age": 1}'))


def test_every_choice_is_judged_and_the_failing_one_named() -> None:
    check = SchemaValidators().check_for(SCHEMA)
    assert check.failure(completion('{"age": 1}', "nope")) == \
        "choice 1: the answer is not JSON (Expecting value: line 1 column 1 (char 0))"


def test_the_error_is_cut_and_never_the_whole_answer() -> None:
    check = SchemaValidators().check_for({"type": "object", "properties": {"a": {"type": "integer"}}})
    answer = '{"a": "' + "x" * 5000 + '"}'
    failure = check.failure(completion(answer))
    assert failure is not None and failure.startswith("$.a: ")
    assert len(failure) == ERROR_CHARS


@pytest.mark.parametrize(("body", "schema"), [
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "p", "schema": SCHEMA}}}, SCHEMA),
    ({"response_format": {"type": "json_object"}}, None),
    ({"response_format": {"type": "json_schema", "json_schema": {"name": "p"}}}, None),
    ({"response_format": {"type": "json_schema", "json_schema": "nope"}}, None),
    ({}, None),
])
def test_the_schema_a_request_asks_for(body: dict[str, Any], schema: dict[str, Any] | None) -> None:
    assert requested_schema(body) == schema
