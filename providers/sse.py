"""Server-sent events as OpenAI-compatible upstreams send them: `data: <json>` lines,
events separated by a blank line, `data: [DONE]` at the end."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

DONE = b"[DONE]"


async def iter_sse_data(readline: Callable[[], Awaitable[bytes]]) -> AsyncIterator[bytes]:
    """Yields each event's data payload; `readline` returns b"" at end of stream."""
    data: list[bytes] = []
    while True:
        line = await readline()
        if not line:
            if data:
                yield b"\n".join(data)
            return
        line = line.rstrip(b"\r\n")
        if not line:
            if data:
                yield b"\n".join(data)
                data = []
            continue
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
        # `event:`, `id:`, `retry:` and `:` comments carry nothing OpenAI clients use.


def encode_event(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


DONE_EVENT = b"data: [DONE]\n\n"
