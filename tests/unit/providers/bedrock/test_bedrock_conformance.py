"""Every translated request passes botocore's own parameter validation for bedrock-runtime
Converse and ConverseStream, and is byte-for-byte what botocore's serializer would send.

The cases cover every message and content type the translator emits; the last test checks
that claim, so a new block type without a case here fails the suite.
"""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.serialize import create_serializer
from botocore.validate import ParamValidator

from providers.bedrock.signing import model_path
from providers.bedrock.translate import to_converse
from tests.fakes.bedrock_server import decode_blobs

SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
JPEG = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDBQNDAsLDBkSEw8UHRof"
GIF = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
WEBP = "UklGRiQAAABXRUJQVlA4IBgAAAAwAQCdASoBAAEAAwA0JaQAA3AA/vuUAAA="
MODEL_IDS = [
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0",
    "arn:aws:bedrock:us-west-2::foundation-model/amazon.nova-pro-v1:0",
]
WEATHER: dict[str, Any] = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get-time"}}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def image(media_type: str, data: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{data}"}}


def tool_call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


TOOL_HISTORY = [
    {"role": "system", "content": "You are a weather bot."},
    user("Weather in Paris and Rome, and the time?"),
    {"role": "assistant", "content": "Checking.", "tool_calls": [
        tool_call("call_a1", "get_weather", '{"city": "Paris"}'),
        tool_call("call_b2", "get_weather", '{"city": "Rome"}'),
        tool_call("toolu_01:x.y-z", "get-time", "")]},
    {"role": "tool", "tool_call_id": "call_a1", "content": "18C"},
    {"role": "tool", "tool_call_id": "call_b2", "content": [{"type": "text", "text": "24C"}]},
    {"role": "tool", "tool_call_id": "toolu_01:x.y-z", "content": ""},
]

CASES: dict[str, dict[str, Any]] = {
    "user text": {"messages": [user("hello")]},
    "system, developer, user": {"messages": [
        {"role": "system", "content": "a"}, {"role": "developer", "content": [{"type": "text", "text": "b"}]},
        user("c")]},
    "text parts": {"messages": [user([{"type": "text", "text": "one"}, {"type": "text", "text": "two"}])]},
    "images": {"messages": [user([{"type": "text", "text": "compare"}, image("image/png", PNG),
                                  image("image/jpeg", JPEG), image("image/gif", GIF), image("image/webp", WEBP)])]},
    "multi-turn": {"messages": [user("a"), {"role": "assistant", "content": "b"}, user("c"),
                                {"role": "assistant", "content": [{"type": "text", "text": "d"}]}]},
    "same-role merging": {"messages": [user("a"), user([{"type": "text", "text": "b"}]), user("c")]},
    "parallel tool calls and results": {"messages": TOOL_HISTORY, "tools": [WEATHER, TIME]},
    "tool results then user text": {"messages": [*TOOL_HISTORY, user("thanks, and tomorrow?")],
                                    "tools": [WEATHER, TIME], "tool_choice": "auto"},
    "tool_choice required": {"messages": [user("x")], "tools": [WEATHER], "tool_choice": "required"},
    "tool_choice named": {"messages": [user("x")], "tools": [WEATHER, TIME],
                          "tool_choice": {"type": "function", "function": {"name": "get-time"}}},
    "tool_choice none": {"messages": [user("x")], "tools": [WEATHER], "tool_choice": "none"},
    "strict tool": {"messages": [user("x")], "tools": [{"type": "function", "function": {
        **WEATHER["function"], "strict": True}}]},
    "sampling": {"messages": [user("x")], "temperature": 0.7, "top_p": 0.9, "max_tokens": 256,
                 "stop": ["\n\n", "END"]},
    "max_completion_tokens and one stop": {"messages": [user("x")], "max_completion_tokens": 1, "stop": "STOP",
                                           "temperature": 0, "top_p": 1},
    "json_schema": {"messages": [user("x")], "response_format": {"type": "json_schema", "json_schema": {
        "name": "answer", "description": "the answer", "strict": True,
        "schema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"],
                   "additionalProperties": False}}}},
    "everything": {"messages": [{"role": "system", "content": "s"}, *TOOL_HISTORY[1:],
                                user([{"type": "text", "text": "see"}, image("image/png", PNG)])],
                   "tools": [WEATHER, TIME], "tool_choice": "auto", "temperature": 1, "max_tokens": 4096,
                   "stream": True, "stream_options": {"include_usage": True}, "user": "end-user-7"},
}


def params_of(body: dict[str, Any], operation: str, model_id: str) -> dict[str, Any]:
    shape = SERVICE.operation_model(operation).input_shape
    return {"modelId": model_id, **decode_blobs(shape, body)}


def declared_constraint_errors(shape: Shape, value: Any, path: str = "") -> list[str]:
    """What ParamValidator leaves out but the model declares: enums, maxima and patterns."""
    meta, errors = shape.metadata, []
    if shape.type_name == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in {shape.enum}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: longer than {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {meta['pattern']}")
    elif shape.type_name in ("integer", "long", "float", "double") and "max" in meta and value > meta["max"]:
        errors.append(f"{path}: above {meta['max']}")
    elif shape.type_name == "structure" and isinstance(value, dict) and not meta.get("document"):
        for key, member in value.items():
            errors += declared_constraint_errors(shape.members[key], member, f"{path}.{key}")  # type: ignore[attr-defined]
    elif shape.type_name == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: more than {meta['max']} items")
        for index, item in enumerate(value):
            errors += declared_constraint_errors(shape.member, item, f"{path}[{index}]")  # type: ignore[attr-defined]
    return errors


@pytest.mark.parametrize("operation", ["Converse", "ConverseStream"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_translated_request_passes_botocore_validation(case: str, operation: str) -> None:
    body = to_converse(CASES[case])
    shape = SERVICE.operation_model(operation).input_shape
    for model_id in MODEL_IDS:
        params = params_of(body, operation, model_id)
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), report.generate_report()
        assert declared_constraint_errors(shape, params) == []


def test_declared_constraint_check_can_fail() -> None:
    shape = SERVICE.operation_model("Converse").input_shape
    params = {"modelId": "a.b", "messages": [{"role": "bot", "content": [
        {"toolUse": {"toolUseId": "has space", "name": "x.y", "input": {}}}]}],
        "inferenceConfig": {"temperature": 1.5}}
    assert len(declared_constraint_errors(shape, params)) == 4


@pytest.mark.parametrize(("operation", "action"), [("Converse", "converse"), ("ConverseStream", "converse-stream")])
@pytest.mark.parametrize("case", sorted(CASES))
def test_wire_body_and_path_equal_botocore_serializer(case: str, operation: str, action: str) -> None:
    body = to_converse(CASES[case])
    serializer = create_serializer("rest-json", include_validation=True)
    for model_id in MODEL_IDS:
        request = serializer.serialize_to_request(params_of(body, operation, model_id),
                                                  SERVICE.operation_model(operation))
        assert json.loads(request["body"]) == body
        assert request["url_path"] == model_path(model_id, action)


def _kinds(body: dict[str, Any]) -> set[str]:
    kinds = {f"system.{key}" for block in body.get("system", []) for key in block}
    for message in body["messages"]:
        for block in message["content"]:
            for key, value in block.items():
                kinds.add(f"{message['role']}.{key}")
                if key == "image":
                    kinds.add(f"image.{value['format']}")
                if key == "toolResult":
                    kinds.update(f"toolResult.{k}" for c in value["content"] for k in c)
    kinds.update(f"inference.{key}" for key in body.get("inferenceConfig", {}))
    tool_config = body.get("toolConfig", {})
    kinds.update(f"toolChoice.{key}" for key in tool_config.get("toolChoice", {}))
    kinds.update(f"toolSpec.{key}" for tool in tool_config.get("tools", []) for key in tool["toolSpec"])
    kinds.update(f"output.{key}" for key in body.get("outputConfig", {}))
    return kinds


def test_cases_cover_every_construct_the_translator_emits() -> None:
    covered = set().union(*(_kinds(to_converse(case)) for case in CASES.values()))
    assert covered == {
        "system.text", "user.text", "user.image", "user.toolResult", "assistant.text", "assistant.toolUse",
        "image.png", "image.jpeg", "image.gif", "image.webp", "toolResult.text",
        "inference.maxTokens", "inference.temperature", "inference.topP", "inference.stopSequences",
        "toolChoice.auto", "toolChoice.any", "toolChoice.tool",
        "toolSpec.name", "toolSpec.description", "toolSpec.inputSchema", "toolSpec.strict",
        "output.textFormat",
    }
    # tool_choice "none" is the absence of toolConfig, covered by its own case
    assert "toolConfig" not in to_converse(CASES["tool_choice none"])
