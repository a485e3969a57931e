"""The OpenAI Responses API <-> chat completions.

    to_chat(body, history)      a `POST /v1/responses` body -> the chat body the pipeline runs
    render(result, req, ...)    a chat completion body -> the `Response` object
    (the stream events: responses_stream.py)

`instructions` become the leading system message; `input` (text, or message,
`function_call` and `function_call_output` items) becomes the messages after the stored
conversation of `previous_response_id` (passed in as `history`, already chat messages).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gateway.errors import InvalidRequest
from gateway.translate.base import (
    JSON,
    copy_sampling,
    first_choice,
    message_text,
    new_id,
    optional,
    require,
    tool_calls,
)
from providers.base import Usage

_ROLES = {"user", "system", "developer", "assistant"}
_TEXT_PARTS = {"input_text", "output_text", "text"}


@dataclass(slots=True)
class ResponsesRequest:
    """What the renderer needs of the client's request besides the chat body."""

    model: str
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    echo: JSON = field(default_factory=dict)   # request fields the Response object repeats

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> ResponsesRequest:
        model = body.get("model")
        prompted = body.get("prompt") is not None    # a stored prompt may supply the model
        require((isinstance(model, str) and bool(model)) or (prompted and model is None),
                "`model` is required and must be a string.", "model")
        previous = optional(body, "previous_response_id", str, "a string")
        store = optional(body, "store", bool, "a boolean")
        stream = optional(body, "stream", bool, "a boolean")
        echo = {
            "instructions": optional(body, "instructions", str, "a string"),
            "max_output_tokens": optional(body, "max_output_tokens", int, "an integer"),
            "metadata": optional(body, "metadata", dict, "an object") or {},
            "parallel_tool_calls": optional(body, "parallel_tool_calls", bool, "a boolean") is not False,
            "temperature": optional(body, "temperature", (int, float), "a number"),
            "top_p": optional(body, "top_p", (int, float), "a number"),
            "tool_choice": body.get("tool_choice") or "auto",
            "tools": optional(body, "tools", list, "an array") or [],
            "text": {"format": _text_format(body)},
            "user": optional(body, "user", str, "a string"),
        }
        return cls(model=str(model or ""), stream=bool(stream), store=store is not False,
                   previous_response_id=previous, echo=echo)


def _text_format(body: Mapping[str, Any]) -> JSON:
    text = optional(body, "text", dict, "an object") or {}
    fmt = text.get("format") if isinstance(text, dict) else None
    if fmt is None:
        return {"type": "text"}
    require(isinstance(fmt, dict) and fmt.get("type") in ("text", "json_schema", "json_object"),
            "`text.format.type` must be text, json_schema or json_object.", "text.format")
    return dict(fmt)


# -- request -------------------------------------------------------------------------------

def to_chat(body: Mapping[str, Any], history: list[JSON] | None = None) -> JSON:
    """The chat-completions body for a Responses request (400 on what cannot be translated)."""
    request = ResponsesRequest.parse(body)
    messages: list[JSON] = []
    if request.echo["instructions"]:
        messages.append({"role": "system", "content": request.echo["instructions"]})
    messages.extend(history or [])
    messages.extend(input_messages(body.get("input")))
    require(bool(messages) or body.get("prompt") is not None, "`input` is required.", "input")
    chat: JSON = {"model": request.model, "messages": messages} if request.model else {"messages": messages}
    if request.echo["max_output_tokens"] is not None:
        require(request.echo["max_output_tokens"] >= 1, "`max_output_tokens` must be at least 1.",
                "max_output_tokens")
        chat["max_tokens"] = request.echo["max_output_tokens"]
    copy_sampling(body, chat, "temperature", "top_p")
    tools = [_chat_tool(t, i) for i, t in enumerate(request.echo["tools"])]
    if tools:
        chat["tools"] = tools
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _chat_tool_choice(body["tool_choice"])
    if body.get("parallel_tool_calls") is not None and tools:
        chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    response_format = _chat_response_format(request.echo["text"]["format"])
    if response_format is not None:
        chat["response_format"] = response_format
    if request.echo["user"]:
        chat["user"] = request.echo["user"]
    if request.stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def input_messages(value: Any) -> list[JSON]:
    """`input` as chat messages: a string is one user message; items map one to one, except
    that consecutive function calls join one assistant message."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    require(isinstance(value, list), "`input` must be a string or an array of items.", "input")
    messages: list[JSON] = []
    for i, item in enumerate(value):
        param = f"input[{i}]"
        require(isinstance(item, dict), f"`{param}` must be an object.", param)
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            call = _function_call(item, param)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            require(isinstance(call_id, str) and bool(call_id), f"`{param}.call_id` is required.", f"{param}.call_id")
            output = _output_text(item.get("output"), param)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
        elif kind == "reasoning":
            continue    # a reasoning model's own notes; a chat upstream cannot take them back
        else:
            raise InvalidRequest(f"`{param}.type` {kind!r} is not supported; use message, function_call or "
                                 "function_call_output.", param=f"{param}.type")
    return messages


def _message(item: Mapping[str, Any], param: str) -> JSON:
    role = item.get("role")
    require(role in _ROLES, f"`{param}.role` must be one of {', '.join(sorted(_ROLES))}.", f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest(f"`{param}.content` must be a string or an array of parts.", param=f"{param}.content")
    parts = [_part(p, f"{param}.content[{j}]") for j, p in enumerate(content)]
    if role != "user" or all(p["type"] == "text" for p in parts):
        # Only user messages carry images in chat; other roles take plain text.
        require(all(p["type"] == "text" for p in parts), f"`{param}`: only user messages may hold images.",
                f"{param}.content")
        return {"role": role, "content": "".join(p["text"] for p in parts)}
    return {"role": role, "content": parts}


def _part(part: Any, param: str) -> JSON:
    require(isinstance(part, dict), f"`{param}` must be an object.", param)
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        text = part.get("text")
        require(isinstance(text, str), f"`{param}.text` must be a string.", f"{param}.text")
        return {"type": "text", "text": text}
    if kind == "refusal":
        return {"type": "text", "text": str(part.get("refusal") or "")}
    if kind == "input_image":
        url = part.get("image_url")
        require(isinstance(url, str) and bool(url), f"`{param}.image_url` must be a URL or data URL "
                "(file_id is not supported).", f"{param}.image_url")
        image: JSON = {"url": url}
        if isinstance(part.get("detail"), str):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise InvalidRequest(f"`{param}.type` {kind!r} is not supported; use input_text or input_image.",
                         param=f"{param}.type")


def _function_call(item: Mapping[str, Any], param: str) -> JSON:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments", "")
    require(isinstance(call_id, str) and bool(call_id), f"`{param}.call_id` is required.", f"{param}.call_id")
    require(isinstance(name, str) and bool(name), f"`{param}.name` is required.", f"{param}.name")
    require(isinstance(arguments, str), f"`{param}.arguments` must be a JSON string.", f"{param}.arguments")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _output_text(output: Any, param: str) -> str:
    if isinstance(output, str):
        return output
    require(isinstance(output, list), f"`{param}.output` must be a string or an array of parts.", f"{param}.output")
    return "".join(_part(p, f"{param}.output[{j}]").get("text", "") for j, p in enumerate(output))


def _chat_tool(tool: Any, i: int) -> JSON:
    param = f"tools[{i}]"
    require(isinstance(tool, dict), f"`{param}` must be an object.", param)
    if tool.get("type") != "function":
        raise InvalidRequest(f"`{param}.type` {tool.get('type')!r} is not supported here: only function tools "
                             "are translated for every provider.", param=f"{param}.type")
    name = tool.get("name")
    require(isinstance(name, str) and bool(name), f"`{param}.name` is required.", f"{param}.name")
    function: JSON = {"name": name, "parameters": tool.get("parameters") or {"type": "object", "properties": {}}}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    if isinstance(tool.get("strict"), bool):
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _chat_tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequest("`tool_choice` must be auto, none, required or {type: function, name}.", param="tool_choice")


def _chat_response_format(fmt: Mapping[str, Any]) -> JSON | None:
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") != "json_schema":
        return None
    require(isinstance(fmt.get("name"), str) and isinstance(fmt.get("schema"), dict),
            "`text.format` of type json_schema needs `name` and `schema`.", "text.format")
    schema: JSON = {"name": fmt["name"], "schema": fmt["schema"]}
    for key in ("strict", "description"):
        if key in fmt:
            schema[key] = fmt[key]
    return {"type": "json_schema", "json_schema": schema}


# -- response ------------------------------------------------------------------------------

def output_items(message: Mapping[str, Any]) -> list[JSON]:
    """A chat assistant message as Responses output items: its text, then its function calls."""
    items: list[JSON] = []
    text = message_text(message)
    refusal = message.get("refusal")
    if text or isinstance(refusal, str) or not tool_calls(message):
        content: list[JSON] = [output_text_part(text)] if text or not isinstance(refusal, str) else []
        if isinstance(refusal, str):
            content.append({"type": "refusal", "refusal": refusal})
        items.append(message_item(new_id("msg_"), content, "completed"))
    for call in tool_calls(message):
        function = call.get("function") or {}
        items.append(function_item(str(call.get("id") or new_id("call_")), str(function.get("name", "")),
                                    str(function.get("arguments") or ""), "completed"))
    return items


def output_text_part(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": []}


def message_item(item_id: str, content: list[JSON], status: str) -> JSON:
    return {"type": "message", "id": item_id, "role": "assistant", "status": status, "content": content}


def function_item(call_id: str, name: str, arguments: str, status: str) -> JSON:
    return {"type": "function_call", "id": "fc_" + call_id.removeprefix("call_"), "call_id": call_id,
            "name": name, "arguments": arguments, "status": status}


def usage_object(usage: Usage | None) -> JSON | None:
    if usage is None:
        return None
    return {"input_tokens": usage.prompt_tokens,
            "input_tokens_details": {"cached_tokens": usage.cached_tokens, "cache_write_tokens": 0},
            "output_tokens": usage.completion_tokens, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage.total_tokens}


def response_object(request: ResponsesRequest, response_id: str, created_at: int, *, status: str,
                    output: list[JSON], usage: Usage | None, finish_reason: str | None = None,
                    error: JSON | None = None) -> JSON:
    incomplete = status == "completed" and finish_reason == "length"
    return {
        "id": response_id, "object": "response", "created_at": created_at,
        "status": "incomplete" if incomplete else status,
        "background": False, "error": error,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "model": request.model, "output": output,
        "previous_response_id": request.previous_response_id,
        "store": request.store, "truncation": "disabled",
        "usage": usage_object(usage),
        **request.echo,
    }


def render(result: Mapping[str, Any], usage: Usage, request: ResponsesRequest, response_id: str) -> JSON:
    """The Response object for a whole chat completion."""
    choice = first_choice(result)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    return response_object(request, response_id, int(time.time()), status="completed",
                           output=output_items(message or {}), usage=usage,
                           finish_reason=choice.get("finish_reason"))


def conversation(messages: list[JSON], response: Mapping[str, Any]) -> list[JSON]:
    """The chat messages a later `previous_response_id` continues from: the request's own
    (without the system message its `instructions` made: those are not carried over) and
    the answer as an assistant message."""
    kept = [m for m in messages if m.get("role") not in ("system", "developer")]
    text = "".join(part.get("text", "") for item in response.get("output") or () if item.get("type") == "message"
                   for part in item.get("content") or () if part.get("type") == "output_text")
    calls = [{"id": item["call_id"], "type": "function",
              "function": {"name": item["name"], "arguments": item["arguments"]}}
             for item in response.get("output") or () if item.get("type") == "function_call"]
    answer: JSON = {"role": "assistant", "content": text or None}
    if calls:
        answer["tool_calls"] = calls
    return [*kept, answer]
