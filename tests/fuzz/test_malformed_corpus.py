"""A corpus of malformed requests, sent raw to a running gateway: wrong types for every
field, huge numbers, lone surrogates, NULs, deep nesting, duplicate keys, wrong content
types, chunked bodies. 0 answers >= 500; every 4xx in its API's error shape (OpenAI's on the
OpenAI routes, Anthropic's on /v1/messages). Only the HTTP server's own answer to broken
framing (a chunked body that breaks off) may be plain text."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from tests.fuzz.conftest import MAX_BODY_BYTES, FuzzTarget, error_shape_problem

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

WRONG_VALUES: list[bytes] = [b"{}", b"[]", b"[null]", b'"s"', b'""', b"0", b"-1", b"1.5", b"true", b"null",
                             b"9007199254740993", b"18446744073709551616", b"1e308", b"-1e308",
                             b'"\\u0000"', b'"\\ud800"', b'[{"a": 1}]', b"[1, 2, 3]"]
HUGE = [b"9007199254740992", b"18446744073709551616", b"1" * 400, b"1e999", b"-9223372036854775809"]
POISON_STRINGS = [b'"a\\u0000b"', b'"\\ud800"', b'"\\udfff x"', b'"\\ud800\\u0000"']

CHAT = {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]}
ROUTES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": CHAT,
    "/v1/completions": {"model": "mock-echo", "prompt": "hi"},
    "/v1/responses": {"model": "mock-echo", "input": "hi"},
    "/v1/messages": {"model": "mock-echo", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
    "/v1/messages/count_tokens": {"model": "mock-echo", "messages": [{"role": "user", "content": "hi"}]},
    "/v1/embeddings": {"model": "embed", "input": "hi"},
}
FIELDS: dict[str, list[str]] = {
    "/v1/chat/completions": ["model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens",
                             "n", "seed", "temperature", "top_p", "presence_penalty", "frequency_penalty", "tools",
                             "tool_choice", "response_format", "user", "metadata", "stop", "logit_bias"],
    "/v1/completions": ["model", "prompt", "max_tokens", "n", "stream", "echo", "suffix", "best_of", "logprobs",
                        "stop", "temperature", "user"],
    "/v1/responses": ["model", "input", "instructions", "stream", "store", "previous_response_id",
                      "max_output_tokens", "tools", "text", "temperature", "metadata", "user"],
    "/v1/messages": ["model", "max_tokens", "messages", "system", "stream", "stop_sequences", "temperature",
                     "top_p", "top_k", "tools", "tool_choice", "metadata"],
    "/v1/messages/count_tokens": ["model", "messages", "system", "tools"],
    "/v1/embeddings": ["model", "input", "dimensions", "encoding_format", "user"],
}
MESSAGE_FIELDS = {"/v1/chat/completions": ["role", "content", "name", "tool_calls", "tool_call_id"],
                  "/v1/messages": ["role", "content"]}


@dataclass
class Sent:
    path: str
    body: bytes
    content_type: str | None = "application/json"
    what: str = ""


def with_field(body: dict[str, object], name: str, raw: bytes) -> bytes:
    rest = {k: v for k, v in body.items() if k != name}
    head = orjson.dumps(rest)[:-1]
    return head + (b", " if rest else b"") + b'"' + name.encode() + b'": ' + raw + b"}"


def corpus() -> Iterator[Sent]:
    for path, base in ROUTES.items():
        for name in FIELDS[path]:
            for raw in WRONG_VALUES:
                yield Sent(path, with_field(base, name, raw), what=f"{name}={raw!r}")
        for name in ("max_tokens", "max_completion_tokens", "n", "temperature", "max_output_tokens", "dimensions"):
            for raw in HUGE:
                yield Sent(path, with_field(base, name, raw), what=f"{name}={raw[:20]!r}")
        for name in ("model", "user", "metadata"):
            for raw in POISON_STRINGS:
                value = b'{"feature": ' + raw + b"}" if name == "metadata" else raw
                yield Sent(path, with_field(base, name, value), what=f"{name}={value!r}")
        for depth in (63, 65, 300, 1000, 5000):
            nested = b"[" * depth + b"1" + b"]" * depth
            yield Sent(path, with_field(base, "metadata", nested), what=f"depth {depth}")
            yield Sent(path, b'{"a": ' * depth + b"1" + b"}" * depth, what=f"object depth {depth}")
        raw_base = orjson.dumps(base)
        yield Sent(path, b'{"model": 5, ' + raw_base[1:], what="duplicate model key (first wrong)")
        yield Sent(path, raw_base[:-1] + b', "model": {"x": 1}}', what="duplicate model key (last wrong)")
        yield Sent(path, raw_base[:-1] + b', "model": "a\\u0000b"}', what="duplicate model key (NUL)")
        for body in (b"", b"null", b"[]", b"1", b'"s"', b"{", b'{"model":', b"\xef\xbb\xbf" + raw_base,
                     b"\xff\xfe" + raw_base, raw_base.replace(b"hi", b"h\xffi"), raw_base + b"garbage",
                     b"{" * 100_000, b'{"model": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}'):
            yield Sent(path, body, what=f"body {body[:30]!r}")
        for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                             "application/json; charset=latin-1", None):
            yield Sent(path, raw_base, content_type, what=f"content-type {content_type}")
            yield Sent(path, b"model=mock-echo&messages=hi", content_type, what=f"form body as {content_type}")
        for name in MESSAGE_FIELDS.get(path, []):
            message_base = {**base}
            for raw in WRONG_VALUES:
                message = with_field({"role": "user", "content": "hi"}, name, raw)
                yield Sent(path, with_field(message_base, "messages", b"[" + message + b"]"),
                           what=f"messages[0].{name}={raw!r}")
    admin_bodies: tuple[tuple[str, dict[str, Any]], ...] = (("/admin/tenants", {"name": "t"}),
                                                            ("/admin/tenants/x/keys", {"label": "l"}))
    for path, admin_body in admin_bodies:
        for name in ("name", "tier", "models", "limits", "label", "expires_in", "pii_mode"):
            for raw in WRONG_VALUES:
                yield Sent(path, with_field(admin_body, name, raw), what=f"{name}={raw!r}")
        yield Sent(path, with_field(admin_body, "limits", b"[" * 5000 + b"]" * 5000), what="admin depth 5000")
        yield Sent(path, b"{" * 100_000, what="admin unclosed depth")


def test_the_corpus_gets_no_5xx_and_every_4xx_in_its_apis_shape(fuzz_target: FuzzTarget) -> None:
    problems: list[str] = []
    statuses: dict[int, int] = {}
    started = time.monotonic()
    cases = list(corpus())
    with httpx.Client(base_url=fuzz_target.gw.url, timeout=30) as client:
        for sent in cases:
            headers = fuzz_target.headers(sent.path)
            if sent.content_type is not None:
                headers["Content-Type"] = sent.content_type
            response = client.post(sent.path, content=sent.body, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code >= 500:
                problems.append(f"{sent.path} {sent.what}: {response.status_code} {response.text[:150]}")
            elif (problem := error_shape_problem(sent.path, response.status_code, response.content)) is not None:
                problems.append(f"{sent.path} {sent.what}: {response.status_code} {problem}")
            assert time.monotonic() - started < 300, f"the corpus took over 300 s ({len(cases)} cases)"
    print(f"\ncorpus: {len(cases)} requests in {time.monotonic() - started:.1f}s, statuses {sorted(statuses.items())}")
    assert problems == [], f"{len(problems)} problems:\n" + "\n".join(problems[:40])


def raw_exchange(target: FuzzTarget, request: bytes, *, half_close: bool = False) -> tuple[int, bytes]:
    port = int(target.gw.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        if half_close:   # nothing more comes: a body that broke off
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def chunked(body: bytes, size: int = 7) -> bytes:
    parts = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n"


@pytest.mark.parametrize(("path", "body", "expect"), [
    ("/v1/chat/completions", chunked(orjson.dumps(CHAT)), 200),
    ("/v1/chat/completions", chunked(b'{"model": 5, "messages": []}'), 400),
    ("/v1/chat/completions", chunked(b"[" * 3000 + b"]" * 3000), 400),
    ("/v1/chat/completions", chunked(b'{"model": "' + b"x" * (MAX_BODY_BYTES + 10) + b'"}', 65536), 413),
    ("/v1/messages", chunked(b'{"model": "mock-echo", "messages": 1}'), 400),
    ("/v1/messages", chunked(b"{" * 3000), 400),
])
def test_chunked_bodies_are_read_and_judged_like_any_other(fuzz_target: FuzzTarget, path: str, body: bytes,
                                                           expect: int) -> None:
    key = fuzz_target.key
    status, answer = raw_exchange(fuzz_target, (
        f"POST {path} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\nx-api-key: {key}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + body)
    assert status == expect, answer[:300]
    if status >= 400:
        assert error_shape_problem(path, status, answer) is None, answer[:300]


def test_a_chunked_body_that_breaks_off_is_never_a_5xx(fuzz_target: FuzzTarget) -> None:
    key = fuzz_target.key
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {key}\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    for tail in (b"zz\r\n{}\r\n0\r\n\r\n", b"5\r\n{\"mod\r\n0\r\n\r\n", b"5\r\n{\"mo"):
        try:
            status, _ = raw_exchange(fuzz_target, request + tail, half_close=True)
        except (IndexError, ValueError):
            continue     # the connection closed without an answer: the framing was broken
        assert status < 500
