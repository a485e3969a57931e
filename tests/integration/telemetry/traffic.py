"""Scripted traffic that exercises every metric: cache misses and hits, a fallback, a
redaction, a stream and a 429, with what each step should count."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.fakes.openai_upstream import Behavior, FakeOpenAI

MODEL = "gpt-4o-mini"
PRICE_INPUT, PRICE_OUTPUT = 0.15, 0.60            # USD per 1M tokens (tests/support/catalogs.py)
FAKE_PROMPT_TOKENS = 11                           # what the fake upstream reports
EMAIL = "jane.doe@example.com"
PROMPTS = {
    "first": "what is the first question",
    "fallback": "what happens when primary fails",
    "redacted": f"mail me at {EMAIL} please",
    "stream": "stream this answer word by word",
    "free": "a question on the free tier",
}


def echoed_words(prompt: str) -> int:
    """Completion tokens the fake upstream reports for `prompt` (it echoes it back)."""
    return len(f"echo: {prompt}".split())


def chat(base_url: str, key: str, content: str, *, stream: bool = False,
         headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return httpx.post(base_url + "/v1/chat/completions",
                      headers={"Authorization": f"Bearer {key}", **(headers or {})},
                      json={"model": MODEL, "messages": [{"role": "user", "content": content}],
                            "stream": stream, **body}, timeout=30)


@dataclass
class TrafficResult:
    responses: list[httpx.Response] = field(default_factory=list)
    primary_failures: int = 0        # calls the primary refused during the fallback step
    limit: str = ""                  # which limit the 429 named

    @property
    def pro_completion_tokens(self) -> int:
        redacted = PROMPTS["redacted"].replace(EMAIL, "[REDACTED-EMAIL]")
        return sum(echoed_words(p) for p in (PROMPTS["first"], PROMPTS["fallback"], redacted, PROMPTS["stream"]))


def scripted_traffic(base_url: str, pro_key: str, free_key: str, primary: FakeOpenAI) -> TrafficResult:
    result = TrafficResult()

    def send(key: str, content: str, expect: int, **kwargs: Any) -> httpx.Response:
        response = chat(base_url, key, content, **kwargs)
        assert response.status_code == expect, response.text
        result.responses.append(response)
        return response

    assert send(pro_key, PROMPTS["first"], 200).headers["x-gateway-cache"] == "miss"
    assert send(pro_key, PROMPTS["first"], 200).headers["x-gateway-cache"] == "hit"
    seen = len(primary.requests)
    primary.default = Behavior("status", 503)
    try:
        assert send(pro_key, PROMPTS["fallback"], 200).headers["x-gateway-provider"] == "secondary"
    finally:
        primary.default = Behavior()
    result.primary_failures = len(primary.requests) - seen
    send(pro_key, PROMPTS["redacted"], 200)
    streamed = send(pro_key, PROMPTS["stream"], 200, stream=True)
    assert streamed.text.endswith("data: [DONE]\n\n")
    send(free_key, PROMPTS["free"], 200)
    send(free_key, PROMPTS["free"], 200)
    rejected = send(free_key, PROMPTS["free"], 429)
    result.limit = rejected.json()["error"]["code"].removesuffix("_exceeded")
    return result
