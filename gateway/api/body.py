"""Reading and checking a JSON request body: size-limited, parsed once, shape-checked, so
that malformed input gets a clear 4xx and never reaches a stage as a surprise."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request

from gateway.errors import InvalidRequest, PayloadTooLarge

# JSON nested deeper than this is refused: no request the gateway serves needs more, and
# orjson reads to depth 1024 but writes only ~254, so a deeper body would fail later, where
# the cache key or the upstream body re-serialises it.
MAX_JSON_DEPTH = 64


def json_depth_exceeds(value: Any, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `value` nests objects/arrays more than `limit` levels deep (iterative: no
    recursion to overflow)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def check_json_depth(raw: bytes, body: Any) -> None:
    # Fewer brackets than the limit cannot nest past it: most bodies skip the walk.
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth_exceeds(body):
        raise InvalidRequest(f"The request body nests JSON deeper than {MAX_JSON_DEPTH} levels.")


async def read_json(request: Request, max_bytes: int) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"The request body exceeds {max_bytes} bytes.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"The request body exceeds {max_bytes} bytes.")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw:
        raise InvalidRequest("The request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc.msg} at position {exc.pos}.") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_json_depth(raw, body)
    return body


_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def _require_type(body: dict[str, Any], name: str, kinds: type | tuple[type, ...], what: str) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in _as_tuple(kinds)):
        raise InvalidRequest(f"`{name}` must be {what}.", param=name)


def _as_tuple(kinds: type | tuple[type, ...]) -> tuple[type, ...]:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def check_chat_body(body: dict[str, Any], *, prompted: bool = False) -> None:
    """`prompted`: the request names a stored prompt, which may supply the model and the
    messages (the prompts stage checks there is a model once it has rendered)."""
    model = body.get("model")
    if not (isinstance(model, str) and model) and not (prompted and model is None):
        raise InvalidRequest("`model` is required and must be a string.", param="model")
    messages = body.get("messages")
    if prompted and messages is None:
        messages = body["messages"] = []
    if not isinstance(messages, list) or (not messages and not prompted):
        raise InvalidRequest("`messages` is required and must be a non-empty array.", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise InvalidRequest(f"`messages[{i}]` must be an object.", param=f"messages[{i}]")
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise InvalidRequest(f"`messages[{i}].role` must be one of {', '.join(sorted(_ROLES))}.",
                                 param=f"messages[{i}].role")
        content = message.get("content")
        if content is not None and not isinstance(content, str | list):
            raise InvalidRequest(f"`messages[{i}].content` must be a string or an array of parts.",
                                 param=f"messages[{i}].content")
        tool_calls = message.get("tool_calls")
        if tool_calls is not None and (not isinstance(tool_calls, list)
                                       or not all(isinstance(call, dict) for call in tool_calls)):
            raise InvalidRequest(f"`messages[{i}].tool_calls` must be an array of objects.",
                                 param=f"messages[{i}].tool_calls")
    _require_type(body, "stream", bool, "a boolean")
    _require_type(body, "stream_options", dict, "an object")
    for name in ("max_tokens", "max_completion_tokens", "n", "seed"):
        _require_type(body, name, int, "an integer")
    for name in ("max_tokens", "max_completion_tokens", "n"):
        value = body.get(name)
        if isinstance(value, int) and value < 1:
            raise InvalidRequest(f"`{name}` must be at least 1.", param=name)
    for name in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        _require_type(body, name, (int, float), "a number")
    _require_type(body, "tools", list, "an array")
    _require_type(body, "user", str, "a string")
    _require_type(body, "metadata", dict, "an object")
    _require_type(body, "stop", (str, list), "a string or an array of strings")


def check_embeddings_body(body: dict[str, Any]) -> None:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("`model` is required and must be a string.", param="model")
    inputs = body.get("input")
    if isinstance(inputs, str):
        ok = bool(inputs)
    elif isinstance(inputs, list) and inputs:
        ok = all(isinstance(i, str) and i for i in inputs) or all(
            isinstance(i, int) and not isinstance(i, bool) for i in inputs) or all(
            isinstance(i, list) and i and all(isinstance(t, int) for t in i) for i in inputs)
    else:
        ok = False
    if not ok:
        raise InvalidRequest("`input` must be a non-empty string, array of strings, or array of token arrays.",
                             param="input")
    _require_type(body, "dimensions", int, "an integer")
    _require_type(body, "encoding_format", str, "a string")
    _require_type(body, "user", str, "a string")
