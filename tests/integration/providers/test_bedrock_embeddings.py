"""Titan text embeddings through InvokeModel against the fake Bedrock server."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import AsyncIterator

import pytest

from providers.base import ErrorKind, ProviderConfig, ProviderError
from providers.bedrock import BedrockProvider
from tests.fakes.bedrock_server import FakeBedrock

TITAN = "amazon.titan-embed-text-v2:0"


pytestmark = pytest.mark.usefixtures("aws_env")   # fake credentials (tests/integration/providers/conftest.py)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock.running() as server:
        yield server


@pytest.fixture
async def provider(fake: FakeBedrock) -> AsyncIterator[BedrockProvider]:
    bedrock = BedrockProvider.from_config(ProviderConfig("bedrock-use1", "bedrock", {
        "region": "us-east-1", "endpoint_url": fake.url}))
    await bedrock.start()
    yield bedrock
    await bedrock.close()


async def test_one_invoke_per_input_in_order(provider: BedrockProvider, fake: FakeBedrock) -> None:
    inputs = [f"text number {i}" for i in range(12)]
    result = await provider.embeddings({"model": "titan", "input": inputs, "dimensions": 256}, TITAN)
    assert len(fake.received) == 12
    assert {r.operation for r in fake.received} == {"InvokeModel"} and fake.received[0].model_id == TITAN
    assert sorted(r.body["inputText"] for r in fake.received) == sorted(inputs)
    assert all(r.body["dimensions"] == 256 and r.body["normalize"] is True for r in fake.received)
    data = result.body["data"]
    assert [d["index"] for d in data] == list(range(12))
    assert all(len(d["embedding"]) == 256 for d in data)
    assert math.isclose(sum(v * v for v in data[0]["embedding"]), 1.0, rel_tol=1e-9)
    assert data[3]["embedding"] != data[4]["embedding"]
    assert result.usage.prompt_tokens == 36 and result.body["usage"]["total_tokens"] == 36
    assert result.body["model"] == TITAN and result.body["object"] == "list"


async def test_base64_encoding(provider: BedrockProvider) -> None:
    floats = await provider.embeddings({"input": "same text", "dimensions": 256}, TITAN)
    encoded = await provider.embeddings({"input": "same text", "dimensions": 256, "encoding_format": "base64"},
                                        TITAN)
    decoded = struct.unpack("<256f", base64.b64decode(encoded.body["data"][0]["embedding"]))
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, floats.body["data"][0]["embedding"],
                                                                strict=True))


async def test_titan_validation_error_is_a_400(provider: BedrockProvider) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.embeddings({"input": ["a", "b"], "dimensions": 100}, TITAN)
    assert caught.value.kind is ErrorKind.BAD_REQUEST and caught.value.status == 400
    assert caught.value.body is not None and "256, 512, 1024" in caught.value.body["error"]["message"]


async def test_throttled_embeddings_are_retryable(provider: BedrockProvider, fake: FakeBedrock) -> None:
    fake.fail("ThrottlingException")
    with pytest.raises(ProviderError) as caught:
        await provider.embeddings({"input": ["a"]}, TITAN)
    assert caught.value.kind is ErrorKind.RATE_LIMITED and caught.value.retryable
