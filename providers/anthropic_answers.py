"""Anthropic Messages answer -> OpenAI chat completion. Pure functions, no I/O.

`chat_completion` turns a Messages answer into a `chat.completion`; `StreamTranslator` turns
the Messages SSE events (`message_start`, `content_block_*`, `message_delta`, `message_stop`),
one at a time, into `chat.completion.chunk`s and ends every stream with one usage-only chunk
(`choices: []`), which the gateway needs to charge real usage.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from providers.base import JSON, Usage

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

def finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(str(stop_reason), "stop")


def usage_from_anthropic(usage: Any, into: Usage | None = None) -> Usage:
    """Anthropic counts cache reads and writes apart from `input_tokens`; OpenAI's prompt_tokens
    includes cached tokens, with the cache reads repeated in `cached_tokens`. Fields absent from
    `usage` keep their value in `into` (a stream's message_delta repeats only some)."""
    out = into or Usage()
    if not isinstance(usage, Mapping):
        return out
    if any(k in usage for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")):
        read = _count(usage.get("cache_read_input_tokens"))
        out.prompt_tokens = (_count(usage.get("input_tokens")) + read
                             + _count(usage.get("cache_creation_input_tokens")))
        out.cached_tokens = read
    if "output_tokens" in usage:
        out.completion_tokens = _count(usage.get("output_tokens"))
    return out


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _completion_id(message_id: Any) -> str:
    return f"chatcmpl-{message_id}" if isinstance(message_id, str) and message_id else \
        f"chatcmpl-{uuid.uuid4().hex}"


def chat_completion(message: Mapping[str, Any], model: str, *, created: int | None = None) -> tuple[JSON, Usage]:
    """(OpenAI chat.completion body, usage) for a Messages API answer."""
    texts: list[str] = []
    tool_calls: list[JSON] = []
    content = message.get("content")
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, Mapping):
            continue
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            tool_calls.append({"id": block.get("id"), "type": "function",
                               "function": {"name": block.get("name"),
                                            "arguments": orjson.dumps(block.get("input", {})).decode()}})
        # thinking blocks are never requested by this adapter; other block types carry no text.
    assistant: JSON = {"role": "assistant", "content": "".join(texts) if texts or not tool_calls else None,
                       "refusal": None}
    if tool_calls:
        assistant["tool_calls"] = tool_calls
    usage = usage_from_anthropic(message.get("usage"))
    body: JSON = {
        "id": _completion_id(message.get("id")),
        "object": "chat.completion",
        "created": created if created is not None else int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": assistant, "logprobs": None,
                     "finish_reason": finish_reason(message.get("stop_reason"))}],
        "usage": usage.to_openai(),
    }
    return body, usage


class StreamTranslator:
    """Messages SSE events -> chat.completion.chunk dicts, for one response.

    Anthropic numbers content blocks (text and tool_use alike); OpenAI numbers tool calls only.
    A tool call's id and name come in `content_block_start`, its arguments as `input_json_delta`s.
    """

    def __init__(self, model: str, *, created: int | None = None) -> None:
        self.model = model
        self.completion_id = _completion_id(None)
        self.created = created if created is not None else int(time.time())
        self.usage = Usage()
        self.stopped = False
        self._tool_index: dict[int, int] = {}

    def on_event(self, event: Mapping[str, Any]) -> list[JSON]:
        """Chunks for one event; unknown events yield none (newer API features, `ping`).
        `error` events are the caller's to raise."""
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message")
            if isinstance(message, Mapping):
                self.completion_id = _completion_id(message.get("id"))
                usage_from_anthropic(message.get("usage"), self.usage)
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            return self._on_block_start(event)
        if kind == "content_block_delta":
            return self._on_block_delta(event)
        if kind == "message_delta":
            usage_from_anthropic(event.get("usage"), self.usage)
            delta = event.get("delta")
            stop_reason = delta.get("stop_reason") if isinstance(delta, Mapping) else None
            return [self._chunk({}, finish_reason(stop_reason))] if stop_reason else []
        if kind == "message_stop":
            self.stopped = True
        return []

    def finish(self) -> JSON:
        """The closing usage-only chunk. Call once the stream ended with message_stop."""
        return {"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": self.usage.to_openai()}

    def _on_block_start(self, event: Mapping[str, Any]) -> list[JSON]:
        block = event.get("content_block")
        if not isinstance(block, Mapping):
            return []
        if block.get("type") == "text":
            text = block.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if block.get("type") != "tool_use":
            return []
        index = len(self._tool_index)
        self._tool_index[_block_index(event)] = index
        call = {"index": index, "id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"), "arguments": ""}}
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, event: Mapping[str, Any]) -> list[JSON]:
        delta = event.get("delta")
        if not isinstance(delta, Mapping):
            return []
        if delta.get("type") == "text_delta":
            text = delta.get("text")
            return [self._chunk({"content": text})] if isinstance(text, str) and text else []
        if delta.get("type") == "input_json_delta":
            index = self._tool_index.get(_block_index(event))
            partial = delta.get("partial_json")
            if index is None or not isinstance(partial, str) or not partial:
                return []
            return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": partial}}]})]
        return []   # thinking_delta, signature_delta, citations_delta: nothing OpenAI clients read

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}


def _block_index(event: Mapping[str, Any]) -> int:
    index = event.get("index")
    return index if isinstance(index, int) else -1
