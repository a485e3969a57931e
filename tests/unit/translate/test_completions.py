"""Legacy completions <-> chat, validated by the OpenAI SDK's `Completion` in strict mode."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from openai.types import Completion

from gateway.errors import InvalidRequest, UpstreamError
from gateway.translate import completions as tr
from providers.base import ChatChunk


def test_request() -> None:
    assert tr.to_chat({"model": "m", "prompt": ["hi"], "temperature": 0, "stop": "\n", "n": 2, "stream": True}) == {
        "model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16, "temperature": 0,
        "stop": "\n", "n": 2, "stream": True}


@pytest.mark.parametrize("body, param", [
    ({"model": "m", "prompt": [1, 2]}, "prompt"),
    ({"model": "m", "prompt": "x", "echo": True}, "echo"),
    ({"model": "m", "prompt": "x", "best_of": 3}, "best_of"),
    ({"model": "m", "prompt": "x", "max_tokens": 0}, "max_tokens"),
])
def test_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        tr.to_chat(body)
    assert error.value.param == param


def test_render() -> None:
    body = tr.render({"id": "chatcmpl-1", "created": 5, "choices": [
        {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
        {"index": 1, "message": {"content": "b"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}}, "m")
    completion = Completion.model_validate(body, strict=True)
    assert [c.text for c in completion.choices] == ["a", "b"] and completion.id == "cmpl-1"


def test_stream() -> None:
    machine = tr.CompletionsStream("m", include_usage=False)
    sent = [machine.chunk(ChatChunk(data=data)) for data in (
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
        {"choices": [{"index": 0, "delta": {"content": "hi"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})]
    assert sent[0] is None and sent[3] is None    # no text yet; usage the client did not ask for
    raw = [event for event in sent if event is not None] + [machine.end()]
    payloads = [r.decode().removeprefix("data: ").strip() for r in raw]
    assert payloads[-1] == "[DONE]" and len(payloads) == 3
    # Mid-stream chunks carry finish_reason null (as OpenAI's do), which the SDK's model, shared
    # with whole completions, does not allow: that one field is set before the strict check.
    datas = [orjson.loads(p) for p in payloads[:-1]]
    for data in datas:
        Completion.model_validate({**data, "choices": [{**c, "finish_reason": c["finish_reason"] or "stop"}
                                                      for c in data["choices"]]}, strict=True)
    chunks = [Completion.model_construct(**d) for d in datas]
    assert [d["choices"][0]["text"] for d in datas] == ["hi", ""] and datas[0]["choices"][0]["finish_reason"] is None
    assert len(chunks) == 2 and datas[1]["choices"][0]["finish_reason"] == "stop"
    assert orjson.loads(machine.error(UpstreamError("x")).decode().removeprefix("data: "))["error"]["message"] == "x"
