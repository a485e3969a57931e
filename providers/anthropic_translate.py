"""OpenAI chat request -> Anthropic Messages request. Pure functions, no I/O.

`to_messages` builds the body of `POST /v1/messages` from an OpenAI chat request (the answer's
way back is providers/anthropic_answers.py).

Anything the client asked for that the Messages API cannot honour is a 400 naming it, never a
silent drop. Fields that only tag the request for OpenAI's own bookkeeping (IGNORED) do not
change the completion and are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from providers.base import JSON, ErrorKind, ProviderError

# Anthropic requires max_tokens; a request without one gets this (the provider's `max_tokens`
# option overrides it). 4096 is the largest output every current Claude model accepts.
DEFAULT_MAX_TOKENS = 4096

HANDLED = {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
           "temperature", "top_p", "stop", "tools", "tool_choice", "parallel_tool_calls", "response_format"}
IGNORED = {"user", "safety_identifier", "metadata", "store", "prompt_cache_key"}
# Parameters the Messages API has no equivalent for, accepted only at the value that means "off".
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "n": (1,),
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "logprobs": (False,),
    "logit_bias": ({},),
    "service_tier": ("auto", "default"),
}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp"}



def bad_request(message: str, param: str | None = None) -> ProviderError:
    """A request the Messages API cannot serve as asked: a 400 the gateway passes to the client."""
    return ProviderError(ErrorKind.BAD_REQUEST, message, status=400, body=openai_error_body(message, param=param))


def openai_error_body(message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                      code: str | None = None) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


# --- request ----------------------------------------------------------------------------------


def to_messages(body: Mapping[str, Any], upstream_model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS,
                stream: bool = False) -> JSON:
    """The Messages API request body for an OpenAI chat completion request."""
    _reject_unsupported(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", "messages")
    system, turns = _translate_messages(messages)
    request: JSON = {"model": upstream_model, "max_tokens": _max_tokens(body, default_max_tokens),
                     "messages": turns}
    if system:
        request["system"] = system
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise bad_request(f"'{key}' must be between 0 and 1 for Anthropic", key)
        request[key] = value
    stop = body.get("stop")
    if stop is not None:
        sequences = [stop] if isinstance(stop, str) else stop
        if not isinstance(sequences, list) or not all(isinstance(s, str) and s.strip() for s in sequences):
            raise bad_request("'stop' must be a non-blank string or a list of them", "stop")
        if sequences:
            request["stop_sequences"] = sequences
    request.update(_tools(body))
    response_format = body.get("response_format")
    kind = response_format.get("type") if isinstance(response_format, Mapping) else response_format
    if response_format is not None and kind != "text":
        raise bad_request(f"response_format {kind!r} is not supported by Anthropic", "response_format")
    if stream:
        request["stream"] = True
    return request


def _reject_unsupported(body: Mapping[str, Any]) -> None:
    unsupported = []
    for key, value in body.items():
        if key in HANDLED or key in IGNORED or value is None:
            continue
        neutral = NEUTRAL_VALUES.get(key)
        if neutral is not None and any(type(value) is type(n) and value == n for n in neutral):
            continue
        unsupported.append(key)
    if unsupported:
        names = sorted(unsupported)
        raise bad_request(f"Anthropic does not support these parameters: {', '.join(names)}", names[0])


def _max_tokens(body: Mapping[str, Any], default: int) -> int:
    key = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    value = body.get(key)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise bad_request(f"'{key}' must be a positive integer", key)
    return value


def _translate_messages(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """(system blocks, turns). The Messages API wants user and assistant turns alternating, so
    consecutive turns of one role (parallel tool results, then a user note) are merged."""
    system: list[JSON] = []
    turns: list[JSON] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise bad_request(f"messages[{index}] must be an object", f"messages[{index}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"type": "text", "text": t} for t in _texts(message.get("content"), index))
            continue
        if role == "user":
            blocks, target = _user_blocks(message.get("content"), index), "user"
        elif role == "assistant":
            blocks, target = _assistant_blocks(message, index), "assistant"
        elif role == "tool":
            blocks, target = [_tool_result(message, index)], "user"
        else:
            raise bad_request(f"messages[{index}].role {role!r} is not supported by Anthropic",
                              f"messages[{index}].role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == target:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": target, "content": blocks})
    if not turns:
        raise bad_request("'messages' holds no user or assistant content", "messages")
    return system, turns


def _texts(content: Any, index: int) -> list[str]:
    """The text of a string or of text parts; blank text is dropped (Anthropic rejects it)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content.strip() else []
    if not isinstance(content, list):
        raise bad_request(f"messages[{index}].content must be a string or a list of parts",
                          f"messages[{index}].content")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        text = part.get(kind) if isinstance(part, Mapping) and kind in ("text", "refusal") else None
        if not isinstance(text, str):
            raise bad_request(f"messages[{index}] may only hold text parts here, not {kind!r}",
                              f"messages[{index}].content")
        if text.strip():
            texts.append(text)
    return texts


def _user_blocks(content: Any, index: int) -> list[JSON]:
    if not isinstance(content, list):
        return [{"type": "text", "text": t} for t in _texts(content, index)]
    blocks: list[JSON] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), index))
        elif kind == "text":
            blocks.extend({"type": "text", "text": t} for t in _texts([part], index))
        else:
            raise bad_request(f"messages[{index}]: content part type {kind!r} is not supported by Anthropic",
                              f"messages[{index}].content")
    return blocks


def _image_block(image_url: Any, index: int) -> JSON:
    url = image_url.get("url") if isinstance(image_url, Mapping) else None
    where = f"messages[{index}].content"
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    if not isinstance(url, str) or not url.startswith("data:"):
        raise bad_request(f"messages[{index}]: an image must be an http(s) URL or a base64 data URL", where)
    header, _, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    media_type = "image/jpeg" if media_type.lower() == "image/jpg" else media_type.lower()
    if media_type not in IMAGE_TYPES:
        raise bad_request(f"messages[{index}]: image type {media_type!r} is not supported by Anthropic "
                          "(png, jpeg, gif, webp)", where)
    if encoding.lower() != "base64" or not data:
        raise bad_request(f"messages[{index}]: an image data URL must be base64", where)
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_blocks(message: Mapping[str, Any], index: int) -> list[JSON]:
    blocks: list[JSON] = [{"type": "text", "text": t} for t in _texts(message.get("content"), index)]
    tool_calls = message.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise bad_request(f"messages[{index}].tool_calls must be a list", f"messages[{index}].tool_calls")
    for call_index, call in enumerate(tool_calls):
        blocks.append(_tool_use(call, f"messages[{index}].tool_calls[{call_index}]"))
    return blocks


def _tool_use(call: Any, where: str) -> JSON:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or call.get("type", "function") != "function":
        raise bad_request(f"{where} must be a function call", where)
    call_id, name = call.get("id"), function.get("name")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise bad_request(f"{where} needs an id and a function name", where)
    arguments = function.get("arguments") or "{}"
    try:
        tool_input = orjson.loads(arguments) if isinstance(arguments, str) else None
    except orjson.JSONDecodeError:
        tool_input = None
    if not isinstance(tool_input, dict):
        raise bad_request(f"{where}.function.arguments must be a JSON object", where)
    return {"type": "tool_use", "id": call_id, "name": name, "input": tool_input}


def _tool_result(message: Mapping[str, Any], index: int) -> JSON:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"messages[{index}].tool_call_id is required for a tool message",
                          f"messages[{index}].tool_call_id")
    content = [{"type": "text", "text": t} for t in _texts(message.get("content"), index)]
    return {"type": "tool_result", "tool_use_id": call_id, "content": content}


def _tools(body: Mapping[str, Any]) -> JSON:
    """`tools` and `tool_choice` of the Messages request (empty when the client sent none)."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not isinstance(tools, list):
        raise bad_request("'tools' must be a list", "tools")
    if not tools:
        if choice not in (None, "none"):
            raise bad_request("'tool_choice' needs 'tools'", "tool_choice")
        return {}
    out: JSON = {"tools": [_tool_spec(tool, i) for i, tool in enumerate(tools)]}
    parallel = body.get("parallel_tool_calls")
    if choice is None and parallel is not False:
        return out
    if choice in (None, "auto"):
        anthropic_choice: JSON = {"type": "auto"}
    elif choice == "required":
        anthropic_choice = {"type": "any"}
    elif choice == "none":
        anthropic_choice = {"type": "none"}
    elif isinstance(choice, Mapping) and choice.get("type") == "function" and isinstance(
            choice.get("function"), Mapping) and isinstance(choice["function"].get("name"), str):
        anthropic_choice = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise bad_request(f"tool_choice {choice!r} is not supported by Anthropic", "tool_choice")
    if parallel is False and anthropic_choice["type"] != "none":
        anthropic_choice["disable_parallel_tool_use"] = True
    out["tool_choice"] = anthropic_choice
    return out


def _tool_spec(tool: Any, index: int) -> JSON:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(function, Mapping) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        raise bad_request(f"tools[{index}]: only function tools are supported by Anthropic, not {kind!r}",
                          f"tools[{index}]")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"tools[{index}].function.name is required", f"tools[{index}]")
    parameters = function.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, Mapping):
        raise bad_request(f"tools[{index}].function.parameters must be a JSON schema object", f"tools[{index}]")
    spec: JSON = {"name": name, "input_schema": dict(parameters)}
    if isinstance(function.get("description"), str) and function["description"]:
        spec["description"] = function["description"]
    return spec
