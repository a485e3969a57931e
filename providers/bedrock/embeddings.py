"""OpenAI embeddings request <-> Amazon Titan text embeddings (InvokeModel). Pure functions.

Titan embeds one text per call: `{"inputText", "dimensions"?, "normalize"?}` ->
`{"embedding": [...], "inputTextTokenCount": n}`. The adapter sends one InvokeModel per input.
OpenAI's `encoding_format: base64` is the little-endian float32 bytes, as OpenAI sends them.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from providers.base import JSON, Usage
from providers.bedrock.errors import bad_request

HANDLED = {"model", "input", "dimensions", "encoding_format"}
IGNORED = {"user"}


def titan_requests(body: Mapping[str, Any]) -> list[JSON]:
    """One Titan request body per input text."""
    unsupported = sorted(key for key, value in body.items()
                         if key not in HANDLED and key not in IGNORED and value is not None)
    if unsupported:
        raise bad_request(f"Bedrock Titan embeddings do not support: {', '.join(unsupported)}",
                          param=unsupported[0])
    texts = _inputs(body.get("input"))
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool)
                                   or dimensions < 1):
        raise bad_request("'dimensions' must be a positive integer", param="dimensions")
    if body.get("encoding_format") not in (None, "float", "base64"):
        raise bad_request("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    requests = []
    for text in texts:
        request: JSON = {"inputText": text}
        if dimensions is not None:
            request["dimensions"] = dimensions
            request["normalize"] = True  # OpenAI's embeddings are unit length
        requests.append(request)
    return requests


def _inputs(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise bad_request("'input' must be a non-empty string or list of strings", param="input")
    for item in value:
        if not isinstance(item, str):
            raise bad_request("Bedrock Titan embeds text only; token arrays are not supported", param="input")
        if not item:
            raise bad_request("'input' strings must not be empty", param="input")
    return value


def embeddings_response(results: Sequence[Mapping[str, Any]], model: str,
                        encoding_format: str | None = None) -> tuple[JSON, Usage]:
    """OpenAI's embeddings list for the Titan answers, in input order."""
    data = []
    tokens = 0
    for index, result in enumerate(results):
        vector = result.get("embedding")
        if not isinstance(vector, list):
            raise ValueError("Titan answer without an 'embedding' list")
        count = result.get("inputTextTokenCount")
        tokens += count if isinstance(count, int) else 0
        embedding: list[float] | str = vector
        if encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = Usage(prompt_tokens=tokens)
    body: JSON = {"object": "list", "data": data, "model": model,
                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
    return body, usage
