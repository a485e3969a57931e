"""Vectors as the semantic index keeps them: int8 (a quarter of float32's bytes; cosine off
by ~0.002), and locality-sensitive hashing signatures that bound how many entries a lookup
reads however many a tenant has.

LSH: `BANDS` bands of `BITS` random hyperplanes each; an entry is filed under one bucket
per band (the signs of its projections). A query reads the buckets its own signature
names: a vector at cosine 0.9 shares at least one of 10 six-bit bands with probability
~0.99, at 0.75 ~0.9. The hyperplanes come from a fixed seed, so every replica files and
finds an entry under the same buckets."""

from __future__ import annotations

import struct
from functools import lru_cache

import numpy as np
import numpy.typing as npt

BANDS = 10
BITS = 6
_SEED = 20261204

Vector = npt.NDArray[np.float32]


def normalized(values: list[float] | Vector) -> Vector:
    vector = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def quantize(vector: Vector) -> bytes:
    return np.clip(np.rint(vector * 127), -127, 127).astype(np.int8).tobytes()


def dequantize(data: bytes) -> Vector:
    return normalized(np.frombuffer(data, dtype=np.int8).astype(np.float32))


@lru_cache(maxsize=8)
def _planes(dimensions: int) -> npt.NDArray[np.float32]:
    return np.random.default_rng(_SEED + dimensions).standard_normal((BANDS * BITS, dimensions)).astype(np.float32)


def signatures(vector: Vector) -> list[int]:
    """One bucket number per band."""
    bits = (_planes(vector.shape[0]) @ vector) > 0
    weights = 1 << np.arange(BITS)
    return [int(bits[b * BITS:(b + 1) * BITS] @ weights) for b in range(BANDS)]


# An entry's stored form: int8 vector, then the answer's cache key and the key text.
_HEAD = struct.Struct(">HH")      # vector bytes, answer key bytes


def pack(vector: Vector, answer_key: str, text: str) -> bytes:
    quantized, key = quantize(vector), answer_key.encode()
    return _HEAD.pack(len(quantized), len(key)) + quantized + key + text.encode()


def unpack(record: bytes) -> tuple[bytes, str, str] | None:
    """(int8 vector bytes, answer key, text), or None for a record this version cannot read."""
    try:
        vector_len, key_len = _HEAD.unpack_from(record)
        start = _HEAD.size
        vector = record[start:start + vector_len]
        key = record[start + vector_len:start + vector_len + key_len].decode()
        text = record[start + vector_len + key_len:].decode()
    except (struct.error, UnicodeDecodeError):
        return None
    return vector, key, text


def similarities_quantized(query: Vector, vectors: list[bytes]) -> list[float]:
    """Cosine of `query` with each int8 vector: one matrix product for the whole batch."""
    usable = [v for v in vectors if len(v) == query.shape[0]]
    if len(usable) != len(vectors) or not vectors:
        return [float(dequantize(v) @ query) if len(v) == query.shape[0] else -1.0 for v in vectors]
    matrix = np.frombuffer(b"".join(vectors), dtype=np.int8).reshape(len(vectors), -1).astype(np.float32)
    norms = np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
    return [float(s) for s in (matrix @ query) / norms]
