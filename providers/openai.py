"""OpenAI (and any OpenAI-compatible endpoint reached with an API key).

With `responses_api: true` the upstream also has OpenAI's Responses API, and
`POST /v1/responses` requests for models served only by such providers are passed through
to its `/responses` (see gateway/api/responses.py) instead of being translated to chat."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from typing import Any

import orjson

from providers.base import ChatChunk, ChatRequest, ChatResult, ErrorKind, ProviderConfig, Timeouts, Usage
from providers.openai_compat import OpenAICompatibleProvider

# The events that end a Responses stream (it has no `[DONE]`).
_LAST_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed"})


def responses_usage(usage: Mapping[str, Any] | None) -> Usage | None:
    """The Responses API's usage object (`input_tokens`, `output_tokens`, ...) as Usage."""
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("input_tokens_details")
    cached = details.get("cached_tokens", 0) if isinstance(details, Mapping) else 0
    return Usage(prompt_tokens=int(usage.get("input_tokens") or 0),
                 completion_tokens=int(usage.get("output_tokens") or 0), cached_tokens=int(cached or 0))


class OpenAIProvider(OpenAICompatibleProvider):
    type = "openai"
    genai_system = "openai"
    options = frozenset({"base_url", "api_key", "organization", "timeouts", "headers", "responses_api"})
    identity_options = ("base_url",)
    responses_api: bool = False

    @classmethod
    def from_config(cls, config: ProviderConfig) -> OpenAIProvider:
        options = config.options
        headers = dict(options.get("headers") or {})
        if options.get("organization"):
            headers["OpenAI-Organization"] = str(options["organization"])
        api_key = options.get("api_key") or os.environ.get("OPENAI_API_KEY")
        provider = cls(config.name, [str(options.get("base_url") or "https://api.openai.com/v1")],
                       api_key=api_key, timeouts=Timeouts.from_options(options.get("timeouts")), headers=headers)
        provider.responses_api = bool(options.get("responses_api", False))
        return provider

    async def responses(self, request: ChatRequest, upstream_model: str) -> ChatResult | AsyncIterator[ChatChunk]:
        """A Responses API request as it came (after the guardrails), with the upstream's model
        name: a whole Response (its usage read into ChatResult.usage), or its stream events,
        each as a ChatChunk, followed by one usage-only chunk in chat shape for the charge."""
        payload = orjson.dumps({**request.body, "model": upstream_model})
        if request.stream:
            return self._response_events(payload, upstream_model)
        raw, body = await self._post_json("responses", upstream_model, payload)
        return ChatResult(body=body, usage=responses_usage(body.get("usage")) or Usage(), raw=raw)

    async def _response_events(self, payload: bytes, upstream_model: str) -> AsyncIterator[ChatChunk]:
        events = self._stream("responses", upstream_model, payload, lambda event: event.get("type") in _LAST_EVENTS)
        try:
            async for chunk in events:
                kind = chunk.data.get("type")
                if kind == "error":
                    message = str(chunk.data.get("message", ""))[:500]
                    raise self._error(ErrorKind.STREAM, f"upstream stream error: {message}", 502)
                yield chunk
                if kind in _LAST_EVENTS:
                    response = chunk.data.get("response")
                    usage = responses_usage(response.get("usage") if isinstance(response, dict) else None)
                    if usage is not None:
                        yield ChatChunk(data={"choices": [], "usage": usage.to_openai()})
                    if kind == "response.failed":
                        raise self._error(ErrorKind.STREAM, "upstream response failed", 502)
        finally:
            await events.aclose()   # type: ignore[attr-defined]
