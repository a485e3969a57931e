"""The `local` provider with its real model (all-MiniLM-L6-v2, int8 ONNX, from the `local`
extra): vectors, batching of concurrent requests (a text's vector never depends on its
batch-mates), the event loop kept free, input errors, int8 products against float32."""

from __future__ import annotations

import asyncio
import base64
import struct
import time
from collections.abc import AsyncIterator

import pytest

from providers.base import ProviderError

pytest.importorskip("onnxruntime", reason="needs the `local` extra")
pytestmark = pytest.mark.semantic

from providers.local import LocalProvider  # noqa: E402


@pytest.fixture
async def provider() -> AsyncIterator[LocalProvider]:
    local = LocalProvider("local", max_batch=32)
    await local.start()
    yield local
    await local.close()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def embed(provider: LocalProvider, *texts: str) -> list[list[float]]:
    result = await provider.embeddings({"input": list(texts)}, "all-MiniLM-L6-v2")
    return [d["embedding"] for d in result.body["data"]]


async def test_unit_vectors_that_put_paraphrases_closer_than_other_topics(provider: LocalProvider) -> None:
    france, paraphrase, cooking = await embed(provider, "What is the capital of France?",
                                              "Which city is the capital of France?", "How do I boil an egg?")
    assert len(france) == 384 and abs(cosine(france, france) - 1) < 1e-4
    assert cosine(france, paraphrase) > 0.8 > 0.3 > cosine(france, cooking)


async def test_concurrent_requests_share_model_calls_and_get_their_own_vectors(provider: LocalProvider) -> None:
    texts = [f"question number {i} about the weather" for i in range(24)]
    alone = [(await embed(provider, t))[0] for t in texts[:3]]
    before = provider.encoder.batches
    together = await asyncio.gather(*(embed(provider, t) for t in texts))
    assert provider.encoder.batches - before < len(texts)          # batched
    for mine, reference in zip(together, alone, strict=False):
        assert cosine(mine[0], reference) > 0.9999


async def test_the_event_loop_keeps_running_while_the_model_works(provider: LocalProvider) -> None:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    started = time.perf_counter()
    await embed(provider, *[" ".join(["a long sentence about many things"] * 30)] * 16)
    took = time.perf_counter() - started
    done.set()
    await tick
    assert took > 0.05 and max(gaps) < took / 2      # the loop ran all along, not after the model


async def test_base64_is_the_same_floats(provider: LocalProvider) -> None:
    result = await provider.embeddings({"input": "hello", "encoding_format": "base64"}, "all-MiniLM-L6-v2")
    decoded = struct.unpack("<384f", base64.b64decode(result.body["data"][0]["embedding"]))
    [floats] = await embed(provider, "hello")
    assert max(abs(a - b) for a, b in zip(decoded, floats, strict=True)) < 1e-6
    assert result.usage.prompt_tokens == 3                     # [CLS] hello [SEP]


@pytest.mark.parametrize(("body", "upstream", "status", "message"), [
    ({"input": []}, "all-MiniLM-L6-v2", 400, "non-empty"),
    ({"input": [1, 2, 3]}, "all-MiniLM-L6-v2", 400, "token arrays"),
    ({"input": [""]}, "all-MiniLM-L6-v2", 400, "empty strings"),
    ({"input": "x", "encoding_format": "int8"}, "all-MiniLM-L6-v2", 400, "encoding_format"),
    ({"input": "x", "dimensions": 128}, "all-MiniLM-L6-v2", 400, "384"),
    ({"input": "x"}, "bge-small", 404, "serves only all-MiniLM-L6-v2"),
])
async def test_bad_input_is_a_client_error(provider: LocalProvider, body: dict[str, object], upstream: str,
                                           status: int, message: str) -> None:
    with pytest.raises(ProviderError) as caught:
        await provider.embeddings(body, upstream)
    assert caught.value.status == status and message in caught.value.message and not caught.value.retryable


async def test_chat_is_refused() -> None:
    from providers.base import ChatRequest

    with pytest.raises(ProviderError) as caught:
        await LocalProvider("local").chat(ChatRequest({"model": "m", "messages": []}), "all-MiniLM-L6-v2")
    assert caught.value.status == 400


async def test_texts_whose_caller_gave_up_are_not_embedded(provider: LocalProvider) -> None:
    long_text = " ".join(["a long sentence about many things"] * 30)
    before = provider.encoder.batches
    first = asyncio.create_task(embed(provider, *[long_text] * 16))      # keeps the model busy
    await asyncio.sleep(0)
    abandoned = [asyncio.create_task(embed(provider, f"abandoned {i}")) for i in range(8)]
    await asyncio.sleep(0)
    for task in abandoned:
        task.cancel()
    await first
    assert (await embed(provider, "after"))[0]
    assert provider.encoder.batches - before == 2        # the busy batch and "after": nothing for the abandoned


def test_the_int8_rewrite_covers_every_weight_matmul_once() -> None:
    from providers.local_graph import int8_matmuls
    from providers.local_model import model_files

    rewritten, count = int8_matmuls(model_files()[0].read_bytes())
    assert count == 36                                  # 6 layers x (query, key, value, output, two feed-forward)
    assert int8_matmuls(rewritten)[1] == 0              # nothing left in float: a second pass changes nothing


async def test_int8_vectors_stay_close_to_float32_and_keep_the_order() -> None:
    texts = ["What is the capital of France?", "Which city is the capital of France?", "How do I boil an egg?",
             "Convert 5 miles to kilometres", "How many kilometres are 5 miles?"]
    vectors = {}
    for precision in ("int8", "float32"):
        local = LocalProvider("local", precision=precision)
        await local.start()
        try:
            vectors[precision] = await embed(local, *texts)
        finally:
            await local.close()
    for a, b in zip(vectors["int8"], vectors["float32"], strict=True):
        assert cosine(a, b) > 0.98
    for v in vectors.values():
        assert cosine(v[0], v[1]) > cosine(v[0], v[2]) and cosine(v[3], v[4]) > cosine(v[3], v[0])
