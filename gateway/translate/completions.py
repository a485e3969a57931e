"""The legacy OpenAI completions API (`POST /v1/completions`) <-> chat completions.

A prompt becomes one user message; the answer's text comes back as `choices[].text`.
What chat cannot do (`echo`, `suffix`, `best_of` > 1, `logprobs`, token-array prompts)
is refused with a 400 rather than silently ignored.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.errors import GatewayError, InvalidRequest
from gateway.translate.base import JSON, copy_sampling, message_text, new_id, optional, require
from providers.base import ChatChunk
from providers.sse import DONE_EVENT, encode_event

DEFAULT_MAX_TOKENS = 16     # the legacy API's own default


def to_chat(body: Mapping[str, Any]) -> JSON:
    model = body.get("model")
    require(isinstance(model, str) and bool(model), "`model` is required and must be a string.", "model")
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    require(isinstance(prompt, str), "`prompt` must be a string (one prompt per request here; token arrays "
            "are not supported).", "prompt")
    for name in ("echo", "suffix", "logprobs"):
        if body.get(name) not in (None, False):
            raise InvalidRequest(f"`{name}` is not supported by this gateway.", param=name)
    if body.get("best_of") not in (None, 1):
        raise InvalidRequest("`best_of` is not supported by this gateway.", param="best_of")
    max_tokens = optional(body, "max_tokens", int, "an integer")
    require(max_tokens is None or max_tokens >= 1, "`max_tokens` must be at least 1.", "max_tokens")
    chat: JSON = {"model": model, "messages": [{"role": "user", "content": prompt}],
                  "max_tokens": max_tokens or DEFAULT_MAX_TOKENS}
    copy_sampling(body, chat, "temperature", "top_p", "presence_penalty", "frequency_penalty")
    for name, kinds, what in (("n", int, "an integer"), ("seed", int, "an integer"), ("user", str, "a string"),
                              ("stop", (str, list), "a string or an array of strings"),
                              ("logit_bias", dict, "an object")):
        value = optional(body, name, kinds, what)
        if value is not None:
            chat[name] = value
    if optional(body, "stream", bool, "a boolean"):
        chat["stream"] = True
        options = optional(body, "stream_options", dict, "an object")
        if options:
            chat["stream_options"] = options
    return chat


def render(result: Mapping[str, Any], model: str) -> JSON:
    choices = [{"text": message_text(c.get("message") or {}), "index": c.get("index", i), "logprobs": None,
                "finish_reason": c.get("finish_reason") or "stop"}
               for i, c in enumerate(result.get("choices") or ()) if isinstance(c, dict)]
    out: JSON = {"id": "cmpl-" + str(result.get("id") or new_id("")).removeprefix("chatcmpl-"),
                 "object": "text_completion", "created": int(result.get("created") or time.time()),
                 "model": model, "choices": choices}
    if isinstance(result.get("usage"), dict):
        out["usage"] = {k: result["usage"][k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")
                        if k in result["usage"]}
    return out


class CompletionsStream:
    """Chat chunks in, `text_completion` chunks out, `[DONE]` at the end."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = "cmpl-" + new_id("")
        self.created = int(time.time())

    def chunk(self, chunk: ChatChunk) -> bytes | None:
        data = chunk.data
        choices = []
        for i, choice in enumerate(data.get("choices") or ()):
            delta = choice.get("delta") or {}
            text = delta.get("content") if isinstance(delta.get("content"), str) else ""
            if not text and not choice.get("finish_reason"):
                continue
            choices.append({"text": text, "index": choice.get("index", i), "logprobs": None,
                            "finish_reason": choice.get("finish_reason")})
        out: JSON = {"id": self.id, "object": "text_completion", "created": self.created, "model": self.model,
                     "choices": choices}
        if data.get("usage") is not None:
            if not self.include_usage:
                return None
            out["usage"] = data["usage"]
        elif not choices:
            return None
        return encode_event(orjson.dumps(out))

    def end(self) -> bytes:
        return DONE_EVENT

    def error(self, error: GatewayError) -> bytes:
        return encode_event(error.to_bytes())
