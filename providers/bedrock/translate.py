"""OpenAI chat request -> Bedrock Converse request body. Pure functions, no I/O.

The result is the HTTP body of Converse / ConverseStream (the operation's parameters minus
`modelId`, which travels in the URL path). Blobs are already base64 text, as rest-json sends
them: the base64 of an image data URL passes through without a decode/encode round trip.

Anything the client asked for that Converse cannot honour is a 400 naming it, never a silent
drop. Fields that only tag the request for OpenAI's own bookkeeping (see IGNORED) do not change
the completion and are ignored, as is a message's `name`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from providers.base import JSON
from providers.bedrock.errors import bad_request

HANDLED = {"model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
           "temperature", "top_p", "stop", "tools", "tool_choice", "response_format"}
# Tags for OpenAI's own bookkeeping (end-user id, stored completions, its prompt-cache routing):
# they never change what the model generates.
IGNORED = {"user", "safety_identifier", "metadata", "store", "prompt_cache_key"}
# Parameters Converse has no equivalent for, accepted only at the value that means "off".
NEUTRAL_VALUES: dict[str, tuple[Any, ...]] = {
    "n": (1,),
    "parallel_tool_calls": (True,),
    "presence_penalty": (0, 0.0),
    "frequency_penalty": (0, 0.0),
    "logprobs": (False,),
    "logit_bias": ({},),
    "service_tier": ("auto", "default"),
}

IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif",
                 "image/webp": "webp"}


def to_converse(body: Mapping[str, Any]) -> JSON:
    """The Converse request body for an OpenAI chat completion request."""
    _reject_unsupported(body)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise bad_request("'messages' must be a non-empty list", param="messages")
    system, turns = _translate_messages(messages)
    request: JSON = {"messages": turns}
    if system:
        request["system"] = system
    inference = _inference_config(body)
    if inference:
        request["inferenceConfig"] = inference
    tool_config = _tool_config(body, uses_tools=_uses_tool_blocks(turns))
    if tool_config:
        request["toolConfig"] = tool_config
    output_config = _output_config(body.get("response_format"))
    if output_config:
        request["outputConfig"] = output_config
    return request


def _reject_unsupported(body: Mapping[str, Any]) -> None:
    unsupported = []
    for key, value in body.items():
        if key in HANDLED or key in IGNORED or value is None:
            continue
        neutral = NEUTRAL_VALUES.get(key)
        if neutral is not None and any(_same(value, n) for n in neutral):
            continue
        unsupported.append(key)
    if unsupported:
        names = ", ".join(sorted(unsupported))
        raise bad_request(f"Bedrock (Converse) does not support these parameters: {names}",
                          param=sorted(unsupported)[0])


def _same(value: Any, neutral: Any) -> bool:
    # `True == 1` in Python; a neutral value must match in type as well.
    return type(value) is type(neutral) and value == neutral


# --- messages -------------------------------------------------------------------------------


def _translate_messages(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """(system blocks, conversation turns). Converse needs strictly alternating roles, so
    consecutive turns of one role (e.g. parallel tool results, then a user note) are merged."""
    system: list[JSON] = []
    turns: list[JSON] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise bad_request(f"messages[{index}] must be an object", param=f"messages[{index}]")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend({"text": text} for text in _texts(message.get("content"), index))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), index)
            converse_role = "user"
        elif role == "assistant":
            blocks = _assistant_blocks(message, index)
            converse_role = "assistant"
        elif role == "tool":
            blocks = [_tool_result(message, index)]
            converse_role = "user"
        else:
            raise bad_request(f"messages[{index}].role {role!r} is not supported by Bedrock",
                              param=f"messages[{index}].role")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == converse_role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": converse_role, "content": blocks})
    if not turns:
        raise bad_request("'messages' holds no user or assistant content", param="messages")
    return system, turns


def _texts(content: Any, index: int) -> list[str]:
    """Text of a string or text-part content; blank text is dropped (Bedrock rejects it)."""
    if content is None:
        return []
    if isinstance(content, str):
        return [content] if content.strip() else []
    if not isinstance(content, list):
        raise bad_request(f"messages[{index}].content must be a string or a list of parts",
                          param=f"messages[{index}].content")
    texts = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in ("text", "refusal"):
            raise bad_request(f"messages[{index}] may only hold text parts here, not {kind!r}",
                              param=f"messages[{index}].content")
        text = part.get(kind)
        if not isinstance(text, str):
            raise bad_request(f"messages[{index}] has a {kind} part without text",
                              param=f"messages[{index}].content")
        if text.strip():
            texts.append(text)
    return texts


def _user_blocks(content: Any, index: int) -> list[JSON]:
    if not isinstance(content, list):
        return [{"text": text} for text in _texts(content, index)]
    blocks: list[JSON] = []
    for part in content:
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "image_url":
            blocks.append(_image_block(part.get("image_url"), index))
        elif kind == "text":
            blocks.extend({"text": text} for text in _texts([part], index))
        else:
            raise bad_request(f"messages[{index}]: content part type {kind!r} is not supported by Bedrock",
                              param=f"messages[{index}].content")
    return blocks


def _image_block(image_url: Any, index: int) -> JSON:
    url = image_url.get("url") if isinstance(image_url, Mapping) else None
    if not isinstance(url, str) or not url.startswith("data:"):
        raise bad_request(f"messages[{index}]: Bedrock takes images as data URLs "
                          "(data:image/png;base64,...), not links", param=f"messages[{index}].content")
    header, _, data = url[5:].partition(",")
    media_type, _, encoding = header.partition(";")
    image_format = IMAGE_FORMATS.get(media_type.lower())
    if image_format is None:
        raise bad_request(f"messages[{index}]: image type {media_type!r} is not supported by Bedrock "
                          f"(png, jpeg, gif, webp)", param=f"messages[{index}].content")
    if encoding.lower() != "base64" or not data:
        raise bad_request(f"messages[{index}]: image data URL must be base64",
                          param=f"messages[{index}].content")
    return {"image": {"format": image_format, "source": {"bytes": data}}}


def _assistant_blocks(message: Mapping[str, Any], index: int) -> list[JSON]:
    blocks: list[JSON] = [{"text": text} for text in _texts(message.get("content"), index)]
    tool_calls = message.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise bad_request(f"messages[{index}].tool_calls must be a list",
                          param=f"messages[{index}].tool_calls")
    for call_index, call in enumerate(tool_calls):
        blocks.append(_tool_use(call, f"messages[{index}].tool_calls[{call_index}]"))
    if message.get("function_call") is not None:
        raise bad_request(f"messages[{index}].function_call is deprecated; use tool_calls",
                          param=f"messages[{index}].function_call")
    return blocks


def _tool_use(call: Any, where: str) -> JSON:
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or call.get("type", "function") != "function":
        raise bad_request(f"{where} must be a function call", param=where)
    call_id, name = call.get("id"), function.get("name")
    if not isinstance(call_id, str) or not call_id or not isinstance(name, str) or not name:
        raise bad_request(f"{where} needs an id and a function name", param=where)
    arguments = function.get("arguments") or "{}"
    try:
        tool_input = orjson.loads(arguments) if isinstance(arguments, str) else None
    except orjson.JSONDecodeError:
        tool_input = None
    if not isinstance(tool_input, dict):
        raise bad_request(f"{where}.function.arguments must be a JSON object", param=where)
    return {"toolUse": {"toolUseId": call_id, "name": name, "input": tool_input}}


def _tool_result(message: Mapping[str, Any], index: int) -> JSON:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise bad_request(f"messages[{index}].tool_call_id is required for a tool message",
                          param=f"messages[{index}].tool_call_id")
    content = [{"text": text} for text in _texts(message.get("content"), index)]
    return {"toolResult": {"toolUseId": call_id, "content": content}}


def _uses_tool_blocks(turns: Iterable[JSON]) -> bool:
    return any("toolUse" in block or "toolResult" in block for turn in turns for block in turn["content"])


# --- parameters -----------------------------------------------------------------------------


def _inference_config(body: Mapping[str, Any]) -> JSON:
    config: JSON = {}
    max_tokens = body.get("max_completion_tokens")
    key = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, key = body.get("max_tokens"), "max_tokens"
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise bad_request(f"'{key}' must be a positive integer", param=key)
        config["maxTokens"] = max_tokens
    for key, target in (("temperature", "temperature"), ("top_p", "topP")):
        value = body.get(key)
        if value is None:
            continue
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
            raise bad_request(f"'{key}' must be between 0 and 1 for Bedrock", param=key)
        config[target] = float(value)
    stop = body.get("stop")
    if stop is not None:
        sequences = [stop] if isinstance(stop, str) else stop
        if not isinstance(sequences, list) or not all(isinstance(s, str) and s for s in sequences):
            raise bad_request("'stop' must be a non-empty string or a list of them", param="stop")
        if sequences:
            config["stopSequences"] = sequences
    return config


def _tool_config(body: Mapping[str, Any], *, uses_tools: bool) -> JSON | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not isinstance(tools, list):
        raise bad_request("'tools' must be a list", param="tools")
    if choice == "none":
        if uses_tools:
            # Converse needs toolConfig whenever the history holds tool blocks, and it has no
            # way to forbid a call; sending the tools would not honour "none".
            raise bad_request("tool_choice 'none' cannot be honoured by Bedrock once the conversation "
                              "holds tool calls; omit tool_choice or use 'auto'", param="tool_choice")
        return None
    if not tools:
        if choice is not None:
            raise bad_request("'tool_choice' needs 'tools'", param="tool_choice")
        if uses_tools:
            raise bad_request("the conversation holds tool calls, so Bedrock needs 'tools' too",
                              param="tools")
        return None
    config: JSON = {"tools": [_tool_spec(tool, i) for i, tool in enumerate(tools)]}
    if choice is not None:
        config["toolChoice"] = _tool_choice(choice)
    return config


def _tool_spec(tool: Any, index: int) -> JSON:
    function = tool.get("function") if isinstance(tool, Mapping) else None
    if not isinstance(function, Mapping) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, Mapping) else None
        raise bad_request(f"tools[{index}]: only function tools are supported by Bedrock, not {kind!r}",
                          param=f"tools[{index}]")
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise bad_request(f"tools[{index}].function.name is required", param=f"tools[{index}]")
    parameters = function.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, Mapping):
        raise bad_request(f"tools[{index}].function.parameters must be a JSON schema object",
                          param=f"tools[{index}]")
    spec: JSON = {"name": name, "inputSchema": {"json": dict(parameters)}}
    description = function.get("description")
    if isinstance(description, str) and description:
        spec["description"] = description
    if isinstance(function.get("strict"), bool):
        spec["strict"] = function["strict"]
    return {"toolSpec": spec}


def _tool_choice(choice: Any) -> JSON:
    if choice == "auto":
        return {"auto": {}}
    if choice == "required":
        return {"any": {}}
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else None
        if isinstance(name, str) and name:
            return {"tool": {"name": name}}
    raise bad_request(f"tool_choice {choice!r} is not supported by Bedrock", param="tool_choice")


def _output_config(response_format: Any) -> JSON | None:
    if response_format is None:
        return None
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if not isinstance(schema, Mapping):
            raise bad_request("response_format.json_schema.schema must be a JSON schema object",
                              param="response_format")
        definition: JSON = {"schema": orjson.dumps(schema).decode()}
        for key in ("name", "description"):
            if isinstance(spec.get(key), str) and spec[key]:
                definition[key] = spec[key]
        return {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": definition}}}
    raise bad_request(f"response_format {kind!r} is not supported by Bedrock; use 'json_schema'",
                      param="response_format")
