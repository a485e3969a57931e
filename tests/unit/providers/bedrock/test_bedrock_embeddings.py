"""OpenAI embeddings request <-> Titan text embeddings bodies."""

from __future__ import annotations

import base64
import struct

import pytest

from providers.base import ErrorKind, ProviderError, Usage
from providers.bedrock.embeddings import embeddings_response, titan_requests


def test_one_titan_request_per_input() -> None:
    assert titan_requests({"model": "e", "input": "hello"}) == [{"inputText": "hello"}]
    assert titan_requests({"model": "e", "input": ["a", "b"], "dimensions": 256, "user": "u"}) == [
        {"inputText": "a", "dimensions": 256, "normalize": True},
        {"inputText": "b", "dimensions": 256, "normalize": True}]


@pytest.mark.parametrize("body", [
    {"input": []}, {"input": ""}, {"input": [[1, 2, 3]]}, {"input": 5}, {"input": "x", "dimensions": 0},
    {"input": "x", "encoding_format": "int8"}, {"input": "x", "something": 1},
])
def test_refused(body: dict[str, object]) -> None:
    with pytest.raises(ProviderError) as caught:
        titan_requests(body)
    assert caught.value.kind is ErrorKind.BAD_REQUEST and caught.value.status == 400


def test_response_float_and_base64() -> None:
    results = [{"embedding": [0.5, -0.25], "inputTextTokenCount": 2}, {"embedding": [1.0, 0.0], "inputTextTokenCount": 3}]
    body, usage = embeddings_response(results, "amazon.titan-embed-text-v2:0")
    assert body == {"object": "list", "model": "amazon.titan-embed-text-v2:0",
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.5, -0.25]},
                             {"object": "embedding", "index": 1, "embedding": [1.0, 0.0]}],
                    "usage": {"prompt_tokens": 5, "total_tokens": 5}}
    assert usage == Usage(prompt_tokens=5)
    body, _ = embeddings_response(results, "m", "base64")
    assert struct.unpack("<2f", base64.b64decode(body["data"][0]["embedding"])) == (0.5, -0.25)


def test_unreadable_answer() -> None:
    with pytest.raises(ValueError):
        embeddings_response([{"vector": []}], "m")
