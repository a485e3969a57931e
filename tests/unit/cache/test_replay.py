"""A stream assembled into a completion, and a completion replayed as a stream: the OpenAI
SDK's own stream accumulator turns the replayed chunks back into the same answer (text,
tool calls, several choices, logprobs, refusals, usage)."""

from __future__ import annotations

import copy
from typing import Any

from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from gateway.cache.replay import StreamAssembler, replay_chunks

HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-4o-mini",
        "system_fingerprint": "fp_1"}
USAGE = {"prompt_tokens": 9, "completion_tokens": 4, "total_tokens": 13}


def chunk(index: int = 0, finish: str | None = None, logprobs: Any = None, **delta: Any) -> dict[str, Any]:
    return {**HEAD, "choices": [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish}]}


def assemble(chunks: list[dict[str, Any]], choices: int = 1) -> StreamAssembler:
    assembler = StreamAssembler(choices)
    for data in chunks:
        assembler.add(copy.deepcopy(data))
    return assembler


def sdk_reassembled(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """What the OpenAI SDK's stream helper makes of these chunks."""
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for data in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(data))
    final = state.get_final_completion()
    return final.model_dump(exclude_none=True, exclude={"choices": {"__all__": {"message": {"parsed"}}}})


def contents(completion: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for choice in sorted(completion["choices"], key=lambda c: c["index"]):
        message = choice["message"]
        calls = [(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or []]
        out.append((choice["index"], message.get("content"), message.get("refusal"), calls, choice["finish_reason"]))
    return out


TEXT_STREAM = [chunk(role="assistant", content=""), chunk(content="Hello"), chunk(content=", world"),
               chunk(finish="stop"), {**HEAD, "choices": [], "usage": USAGE}]

TOOL_STREAM = [
    chunk(role="assistant", content=None),
    chunk(tool_calls=[{"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather",
                                                                                   "arguments": ""}}]),
    chunk(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}]),
    chunk(tool_calls=[{"index": 0, "function": {"arguments": '"Paris"}'}}]),
    chunk(tool_calls=[{"index": 1, "id": "call_2", "type": "function", "function": {"name": "get_time",
                                                                                   "arguments": '{"tz"'}}]),
    chunk(tool_calls=[{"index": 1, "function": {"arguments": ': "CET"}'}}]),
    chunk(finish="tool_calls"),
]


def test_a_text_stream_assembles_into_the_completion_it_streamed() -> None:
    assembler = assemble(TEXT_STREAM)
    assert assembler.complete
    completion = assembler.completion()
    assert completion == {"id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
                          "model": "gpt-4o-mini", "system_fingerprint": "fp_1",
                          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello, world"},
                                       "logprobs": None, "finish_reason": "stop"}],
                          "usage": USAGE}


def test_replayed_text_is_reassembled_by_the_sdk_to_the_same_answer() -> None:
    completion = assemble(TEXT_STREAM).completion()
    replayed = list(replay_chunks(completion))
    assert contents(sdk_reassembled(replayed)) == contents(completion) == [(0, "Hello, world", None, [], "stop")]
    assert replayed[-1] == {**HEAD, "object": "chat.completion.chunk", "choices": [], "usage": USAGE}
    assert sdk_reassembled(replayed)["usage"]["total_tokens"] == 13


def test_tool_calls_survive_both_ways() -> None:
    completion = assemble(TOOL_STREAM).completion()
    expected: list[tuple[Any, ...]] = [(0, None, None, [("call_1", "get_weather", '{"city": "Paris"}'),
                                 ("call_2", "get_time", '{"tz": "CET"}')], "tool_calls")]
    assert contents(completion) == expected
    assert contents(sdk_reassembled(TOOL_STREAM)) == expected
    assert contents(sdk_reassembled(list(replay_chunks(completion)))) == expected


def test_several_choices_interleaved() -> None:
    stream = [chunk(0, role="assistant", content=""), chunk(1, role="assistant", content=""),
              chunk(0, content="red"), chunk(1, content="blue"), chunk(1, content=" sky"),
              chunk(1, finish="stop"), chunk(0, finish="stop")]
    assembler = assemble(stream, choices=2)
    assert assembler.complete
    completion = assembler.completion()
    expected: list[tuple[Any, ...]] = [(0, "red", None, [], "stop"), (1, "blue sky", None, [], "stop")]
    assert contents(completion) == expected
    assert contents(sdk_reassembled(list(replay_chunks(completion)))) == expected


def test_fewer_choices_than_asked_for_or_an_unfinished_one_is_not_complete() -> None:
    one_of_two = [chunk(0, role="assistant", content="red"), chunk(0, finish="stop")]
    assert not assemble(one_of_two, choices=2).complete
    assert not assemble(TEXT_STREAM[:3]).complete
    assert not StreamAssembler().complete


def test_logprobs_are_joined_and_replayed() -> None:
    def entry(token: str) -> dict[str, Any]:
        return {"token": token, "logprob": -0.5, "bytes": list(token.encode()), "top_logprobs": []}

    stream = [chunk(role="assistant", content="Hi", logprobs={"content": [entry("Hi")]}),
              chunk(content=" there", logprobs={"content": [entry(" there")]}), chunk(finish="stop")]
    completion = assemble(stream).completion()
    assert [e["token"] for e in completion["choices"][0]["logprobs"]["content"]] == ["Hi", " there"]
    sdk = sdk_reassembled(list(replay_chunks(completion)))
    assert [e["token"] for e in sdk["choices"][0]["logprobs"]["content"]] == ["Hi", " there"]


def test_a_refusal_survives_both_ways() -> None:
    stream = [chunk(role="assistant", refusal="I can't"), chunk(refusal=" help with that."), chunk(finish="stop")]
    completion = assemble(stream).completion()
    assert completion["choices"][0]["message"] == {"role": "assistant", "refusal": "I can't help with that.",
                                                   "content": None}
    assert contents(sdk_reassembled(list(replay_chunks(completion)))) == [
        (0, None, "I can't help with that.", [], "stop")]


def test_a_hit_marks_every_replayed_chunk_and_the_sdk_accepts_it() -> None:
    completion = {**assemble(TEXT_STREAM).completion(), "cache": "hit"}
    replayed = list(replay_chunks(completion))
    assert replayed and all(c["cache"] == "hit" and c["system_fingerprint"] == "fp_1" for c in replayed)
    assert contents(sdk_reassembled(replayed)) == [(0, "Hello, world", None, [], "stop")]
    assert ChatCompletionChunk.model_validate(replayed[0]).model_extra == {"cache": "hit"}


def test_a_completion_without_usage_replays_without_a_usage_chunk() -> None:
    completion = assemble(TEXT_STREAM[:-1]).completion()
    assert "usage" not in completion
    assert all(c["choices"] for c in replay_chunks(completion))
