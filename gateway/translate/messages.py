"""The Anthropic Messages API <-> chat completions.

    to_chat(body)               a `POST /v1/messages` body -> the chat body the pipeline runs
    render(result, usage, ...)  a chat completion body -> Anthropic's `Message`
    MessagesStream              chat chunks -> Anthropic's stream events
    error_body(error)           a gateway error -> Anthropic's error shape and status

`system` (a string or text blocks) becomes the leading system message; `tool_use` blocks
become assistant tool calls, `tool_result` blocks tool messages (before the rest of their
user turn, in order); base64 and URL images become image parts. `top_k` is accepted and
not forwarded: chat completions has no such parameter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.errors import GatewayError, InvalidRequest
from gateway.translate.base import (
    JSON,
    copy_sampling,
    first_choice,
    message_text,
    named_event,
    new_id,
    optional,
    require,
    tool_calls,
)
from providers.base import ChatChunk, Usage

STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "function_call": "tool_use",
                "content_filter": "refusal"}

# Anthropic's error types by status; a gateway status without its own Anthropic code maps here.
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                502: "api_error", 504: "timeout_error", 529: "overloaded_error"}


def error_status(error: GatewayError) -> int:
    """Anthropic's status for a gateway error: 503 (no provider can answer now) is its 529."""
    return 529 if error.status == 503 else error.status


def error_body(error: GatewayError) -> JSON:
    status = error_status(error)
    kind = _ERROR_TYPES.get(status, "invalid_request_error" if status < 500 else "api_error")
    return {"type": "error", "error": {"type": kind, "message": error.message}}


# -- request -------------------------------------------------------------------------------

def to_chat(body: Mapping[str, Any]) -> JSON:
    model = body.get("model")
    require(isinstance(model, str) and bool(model), "model: Field required", "model")
    max_tokens = body.get("max_tokens")
    require(isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 1,
            "max_tokens: Field required (an integer of at least 1)", "max_tokens")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("messages: Field required (a non-empty array)", param="messages")
    chat_messages = system_messages(body.get("system"))
    for i, message in enumerate(messages):
        chat_messages.extend(_message(message, f"messages.{i}"))
    chat: JSON = {"model": model, "messages": chat_messages, "max_tokens": max_tokens}
    copy_sampling(body, chat, "temperature", "top_p")
    optional(body, "top_k", int, "an integer")
    stops = optional(body, "stop_sequences", list, "an array of strings")
    if stops:
        require(all(isinstance(s, str) for s in stops), "stop_sequences: must be strings", "stop_sequences")
        chat["stop"] = stops
    tools = optional(body, "tools", list, "an array")
    if tools:
        chat["tools"] = [_chat_tool(t, i) for i, t in enumerate(tools)]
    if body.get("tool_choice") is not None:
        _apply_tool_choice(body["tool_choice"], chat)
    metadata = optional(body, "metadata", dict, "an object")
    if metadata and isinstance(metadata.get("user_id"), str):
        chat["user"] = metadata["user_id"]
    if optional(body, "stream", bool, "a boolean"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def system_messages(system: Any) -> list[JSON]:
    if system is None or system == "" or system == []:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    require(isinstance(system, list) and all(isinstance(b, dict) and b.get("type") == "text"
                                             and isinstance(b.get("text"), str) for b in system),
            "system: must be a string or an array of text blocks", "system")
    return [{"role": "system", "content": "\n\n".join(b["text"] for b in system)}]


def _message(message: Any, param: str) -> list[JSON]:
    require(isinstance(message, dict), f"{param}: must be an object", param)
    role = message.get("role")
    require(role in ("user", "assistant"), f"{param}.role: must be user or assistant", f"{param}.role")
    content = message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    require(isinstance(content, list), f"{param}.content: must be a string or an array of blocks", f"{param}.content")
    out: list[JSON] = []
    parts: list[JSON] = []
    calls: list[JSON] = []
    for j, block in enumerate(content):
        where = f"{param}.content.{j}"
        require(isinstance(block, dict), f"{where}: must be an object", where)
        kind = block.get("type")
        if kind == "text":
            require(isinstance(block.get("text"), str), f"{where}.text: must be a string", f"{where}.text")
            parts.append({"type": "text", "text": block["text"]})
        elif kind == "image":
            require(role == "user", f"{where}: images are only accepted in user turns", where)
            parts.append(_image(block, where))
        elif kind == "tool_use":
            require(role == "assistant", f"{where}: tool_use blocks belong to assistant turns", where)
            calls.append(_tool_call(block, where))
        elif kind == "tool_result":
            require(role == "user", f"{where}: tool_result blocks belong to user turns", where)
            out.append(_tool_result(block, where))
        elif kind in ("thinking", "redacted_thinking"):
            continue
        else:
            raise InvalidRequest(f"{where}.type: {kind!r} is not supported; use text, image, tool_use or "
                                 "tool_result", param=f"{where}.type")
    if role == "assistant":
        if parts or calls:
            text = "".join(p["text"] for p in parts)
            assistant: JSON = {"role": "assistant", "content": text or None}
            if calls:
                assistant["tool_calls"] = calls
            out.append(assistant)
    elif parts:
        only_text = all(p["type"] == "text" for p in parts)
        out.append({"role": "user", "content": "".join(p["text"] for p in parts) if only_text else parts})
    return out


def _image(block: Mapping[str, Any], where: str) -> JSON:
    source = block.get("source")
    if not isinstance(source, dict):
        raise InvalidRequest(f"{where}.source: Field required", param=f"{where}.source")
    if source.get("type") == "base64":
        media, data = source.get("media_type"), source.get("data")
        require(isinstance(media, str) and isinstance(data, str), f"{where}.source: media_type and data required",
                f"{where}.source")
        return {"type": "image_url", "image_url": {"url": f"data:{media};base64,{data}"}}
    if source.get("type") == "url" and isinstance(source.get("url"), str):
        return {"type": "image_url", "image_url": {"url": source["url"]}}
    raise InvalidRequest(f"{where}.source.type: must be base64 or url", param=f"{where}.source.type")


def _tool_call(block: Mapping[str, Any], where: str) -> JSON:
    call_id, name = block.get("id"), block.get("name")
    require(isinstance(call_id, str) and bool(call_id), f"{where}.id: Field required", f"{where}.id")
    require(isinstance(name, str) and bool(name), f"{where}.name: Field required", f"{where}.name")
    arguments = block.get("input", {})
    require(isinstance(arguments, dict), f"{where}.input: must be an object", f"{where}.input")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": json.dumps(arguments)}}


def _tool_result(block: Mapping[str, Any], where: str) -> JSON:
    call_id = block.get("tool_use_id")
    require(isinstance(call_id, str) and bool(call_id), f"{where}.tool_use_id: Field required", f"{where}.tool_use_id")
    content = block.get("content", "")
    if isinstance(content, list):
        texts = []
        for k, part in enumerate(content):
            require(isinstance(part, dict) and part.get("type") in ("text", "image"),
                    f"{where}.content.{k}: must be a text or image block", f"{where}.content.{k}")
            if part.get("type") == "text":
                texts.append(str(part.get("text", "")))
        content = "".join(texts)
    require(isinstance(content, str), f"{where}.content: must be a string or blocks", f"{where}.content")
    if block.get("is_error") is True:
        content = f"Error: {content}"
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def _chat_tool(tool: Any, i: int) -> JSON:
    where = f"tools.{i}"
    require(isinstance(tool, dict), f"{where}: must be an object", where)
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise InvalidRequest(f"{where}.type: {kind!r} (a server tool) is not supported; define client tools with "
                             "name and input_schema", param=f"{where}.type")
    name, schema = tool.get("name"), tool.get("input_schema")
    require(isinstance(name, str) and bool(name), f"{where}.name: Field required", f"{where}.name")
    require(isinstance(schema, dict), f"{where}.input_schema: Field required", f"{where}.input_schema")
    function: JSON = {"name": name, "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _apply_tool_choice(choice: Any, chat: JSON) -> None:
    require(isinstance(choice, dict), "tool_choice: must be an object", "tool_choice")
    kind = choice.get("type")
    if kind == "auto":
        chat["tool_choice"] = "auto"
    elif kind == "any":
        chat["tool_choice"] = "required"
    elif kind == "none":
        chat["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        chat["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise InvalidRequest("tool_choice.type: must be auto, any, tool or none", param="tool_choice")
    if choice.get("disable_parallel_tool_use") is True and "tools" in chat:
        chat["parallel_tool_calls"] = False


# -- response ------------------------------------------------------------------------------

def usage_object(usage: Usage | None) -> JSON:
    usage = usage or Usage()
    return {"input_tokens": usage.prompt_tokens - usage.cached_tokens, "output_tokens": usage.completion_tokens,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": usage.cached_tokens}


def _arguments(text: str) -> JSON:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"arguments": text}    # a model's malformed JSON, kept rather than dropped
    return value if isinstance(value, dict) else {"value": value}


def content_blocks(message: Mapping[str, Any]) -> list[JSON]:
    blocks: list[JSON] = []
    text = message_text(message)
    if text:
        blocks.append({"type": "text", "text": text})
    for call in tool_calls(message):
        function = call.get("function") or {}
        arguments = _arguments(str(function.get("arguments") or ""))
        blocks.append({"type": "tool_use", "id": str(call.get("id") or new_id("toolu_")),
                       "name": str(function.get("name", "")), "input": arguments})
    return blocks


def render(result: Mapping[str, Any], usage: Usage, model: str) -> JSON:
    choice = first_choice(result)
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    return {"id": new_id("msg_"), "type": "message", "role": "assistant", "model": model,
            "content": content_blocks(message or {}),
            "stop_reason": STOP_REASONS.get(str(choice.get("finish_reason")), "end_turn"),
            "stop_sequence": None, "usage": usage_object(usage)}


# -- stream --------------------------------------------------------------------------------

class MessagesStream:
    """Chat chunks in, Anthropic stream events out: message_start (with the estimated input
    tokens), a ping, one content block per text run and per tool call (started, deltas,
    stopped), then message_delta with the stop reason and usage, and message_stop."""

    def __init__(self, model: str, estimated_input_tokens: int) -> None:
        self.model = model
        self.message_id = new_id("msg_")
        self.estimated_input_tokens = estimated_input_tokens
        self.usage: Usage | None = None
        self.finish_reason: str | None = None
        self._index = -1               # the open block's index
        self._open: str | None = None  # "text" or the tool call's chat index as str
        self._started = False

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        data = chunk.data
        out = self._start()
        usage = Usage.from_openai(data.get("usage"))
        if usage is not None:
            self.usage = usage
        choice = first_choice(data)
        delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
        content = (delta or {}).get("content")
        if isinstance(content, str) and content:
            if self._open != "text":
                out += self._stop_block()
                out += self._open_block("text", {"type": "text", "text": ""})
            out.append(self._delta({"type": "text_delta", "text": content}))
        for call in (delta or {}).get("tool_calls") or ():
            if not isinstance(call, dict):
                continue
            key = f"call{call.get('index', 0)}"
            function = call.get("function") if isinstance(call.get("function"), dict) else {}
            if self._open != key:
                out += self._stop_block()
                out += self._open_block(key, {"type": "tool_use", "id": str(call.get("id") or new_id("toolu_")),
                                              "name": str((function or {}).get("name") or ""), "input": {}})
            arguments = (function or {}).get("arguments")
            if isinstance(arguments, str) and arguments:
                out.append(self._delta({"type": "input_json_delta", "partial_json": arguments}))
        if choice.get("finish_reason"):
            self.finish_reason = str(choice["finish_reason"])
        return b"".join(out) or None

    def end(self) -> bytes:
        out = self._start() + self._stop_block()
        usage = self.usage or Usage(prompt_tokens=self.estimated_input_tokens)
        out.append(named_event("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS.get(str(self.finish_reason), "end_turn"), "stop_sequence": None},
            "usage": usage_object(usage)}))
        out.append(named_event("message_stop", {"type": "message_stop"}))
        return b"".join(out)

    def error(self, error: GatewayError) -> bytes:
        return b"".join([*self._start(), named_event("error", error_body(error))])

    def _start(self) -> list[bytes]:
        if self._started:
            return []
        self._started = True
        message: JSON = {"id": self.message_id, "type": "message", "role": "assistant", "model": self.model,
                         "content": [], "stop_reason": None, "stop_sequence": None,
                         "usage": usage_object(Usage(prompt_tokens=self.estimated_input_tokens, completion_tokens=1))}
        return [named_event("message_start", {"type": "message_start", "message": message}),
                named_event("ping", {"type": "ping"})]

    def _open_block(self, key: str, block: JSON) -> list[bytes]:
        self._index += 1
        self._open = key
        return [named_event("content_block_start", {"type": "content_block_start", "index": self._index,
                                                    "content_block": block})]

    def _delta(self, delta: JSON) -> bytes:
        return named_event("content_block_delta", {"type": "content_block_delta", "index": self._index, "delta": delta})

    def _stop_block(self) -> list[bytes]:
        if self._open is None:
            return []
        self._open = None
        return [named_event("content_block_stop", {"type": "content_block_stop", "index": self._index})]
