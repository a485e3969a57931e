"""Malformed request bodies get a 400 (InvalidRequest) from every translation, never another
exception (which would be a 500): seeded random bodies built from wrong-typed values."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from gateway.api.body import check_chat_body
from gateway.errors import InvalidRequest
from gateway.translate import completions, messages, responses

JUNK: list[Any] = [
    None, 1, -1, 0, 1.5, True, "x", "", [], {}, [1], ["a"], [{}], [None], {"type": 1}, {"type": "text"},
    {"type": "text", "text": 1}, [{"type": "input_text"}], [{"role": "user"}], [{"role": "user", "content": None}],
    [{"type": "function_call"}], [{"type": "function_call", "call_id": "c", "name": "n", "arguments": 1}],
    [{"type": "image", "source": {}}], [{"role": "user", "content": [{"type": "tool_result"}]}],
    [{"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "b", "input": 3}]}],
    {"format": 1}, {"format": {"type": "json_schema"}}, [{"name": "f"}], [{"type": "function"}], {"type": "tool"},
]
APIS: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], list[str]]] = {
    "responses": (responses.to_chat, ["model", "input", "instructions", "tools", "tool_choice", "text",
                                      "max_output_tokens", "temperature", "metadata", "user", "stream",
                                      "parallel_tool_calls", "previous_response_id", "store"]),
    "messages": (messages.to_chat, ["model", "messages", "system", "tools", "tool_choice", "max_tokens",
                                    "stop_sequences", "metadata", "temperature", "top_k", "stream"]),
    "completions": (completions.to_chat, ["model", "prompt", "max_tokens", "n", "stop", "echo", "stream",
                                          "stream_options", "best_of"]),
}


@pytest.mark.parametrize("api", sorted(APIS))
def test_malformed_bodies_are_400s(api: str) -> None:
    translate, fields = APIS[api]
    rng = random.Random(api)
    refused = 0
    for _ in range(3000):
        body: dict[str, Any] = {"model": "m", "max_tokens": 5} if rng.random() < 0.8 else {}
        for name in rng.sample(fields, rng.randint(1, 4)):
            body[name] = rng.choice(JUNK)
        try:
            check_chat_body(translate(body))
        except InvalidRequest:
            refused += 1
    assert refused > 2000    # the generator does produce bad bodies
