"""Incremental decoder for the AWS event-stream framing (`application/vnd.amazon.eventstream`).

Each message on the wire is:

    prelude   total_length u32 | headers_length u32 | prelude_crc u32 (CRC32 of the first 8 bytes)
    headers   repeated: name_len u8 | name | value_type u8 | value
    payload   total_length - headers_length - 16 bytes
    trailer   message_crc u32 (CRC32 of every byte before it)

All integers are big-endian. Bytes arrive in arbitrary slices (a frame may be split anywhere,
several frames may share one slice), so the decoder buffers and yields whole messages only.
The prelude CRC is checked as soon as 12 bytes are there, so a corrupt length never makes us
wait for megabytes that will not come.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass

HeaderValue = bool | int | bytes | str | uuid.UUID

PRELUDE_LENGTH = 12
CRC_LENGTH = 4
MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + CRC_LENGTH
# Limits from the AWS event-stream specification.
MAX_MESSAGE_LENGTH = 16 * 1024 * 1024
MAX_HEADERS_LENGTH = 128 * 1024

_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")


class EventStreamError(Exception):
    """The byte stream is not valid event-stream framing (bad length, CRC or header)."""


@dataclass(frozen=True, slots=True)
class EventMessage:
    headers: dict[str, HeaderValue]
    payload: bytes

    def header(self, name: str) -> str:
        value = self.headers.get(name)
        return value if isinstance(value, str) else ""

    @property
    def message_type(self) -> str:
        """`event`, `exception` or `error`."""
        return self.header(":message-type")

    @property
    def event_type(self) -> str:
        return self.header(":event-type")

    @property
    def exception_type(self) -> str:
        return self.header(":exception-type")


class EventStreamDecoder:
    """Feed it byte slices as they arrive; it returns the messages completed so far."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete message still buffered (non-zero at EOF = truncated)."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[EventMessage]:
        self._buffer += data
        messages: list[EventMessage] = []
        offset = 0
        # The view must be released before the consumed bytes are deleted from the buffer.
        with memoryview(self._buffer) as view:
            while len(view) - offset >= PRELUDE_LENGTH:
                total_length, headers_length = _check_prelude(view, offset)
                if len(view) - offset < total_length:
                    break
                messages.append(_decode_message(view[offset:offset + total_length], headers_length))
                offset += total_length
        if offset:
            del self._buffer[:offset]
        return messages


def _check_prelude(view: memoryview, offset: int) -> tuple[int, int]:
    total_length, headers_length, prelude_crc = _PRELUDE.unpack_from(view, offset)
    computed = zlib.crc32(view[offset:offset + 8])
    if computed != prelude_crc:
        raise EventStreamError(f"prelude CRC mismatch: expected {prelude_crc:#010x}, got {computed:#010x}")
    if not MIN_MESSAGE_LENGTH <= total_length <= MAX_MESSAGE_LENGTH:
        raise EventStreamError(f"invalid message length {total_length}")
    if headers_length > MAX_HEADERS_LENGTH or headers_length > total_length - MIN_MESSAGE_LENGTH:
        raise EventStreamError(f"invalid headers length {headers_length}")
    return total_length, headers_length


def _decode_message(frame: memoryview, headers_length: int) -> EventMessage:
    (expected,) = _U32.unpack_from(frame, len(frame) - CRC_LENGTH)
    computed = zlib.crc32(frame[:-CRC_LENGTH])
    if computed != expected:
        raise EventStreamError(f"message CRC mismatch: expected {expected:#010x}, got {computed:#010x}")
    headers_end = PRELUDE_LENGTH + headers_length
    headers = decode_headers(bytes(frame[PRELUDE_LENGTH:headers_end]))
    return EventMessage(headers=headers, payload=bytes(frame[headers_end:-CRC_LENGTH]))


# value type -> (struct for fixed-size values, or None for the variable/special ones)
_FIXED: dict[int, struct.Struct] = {
    2: struct.Struct(">b"),   # byte
    3: struct.Struct(">h"),   # short
    4: struct.Struct(">i"),   # integer
    5: struct.Struct(">q"),   # long
    8: struct.Struct(">q"),   # timestamp, milliseconds since the epoch
}
_U16 = struct.Struct(">H")


def decode_headers(data: bytes) -> dict[str, HeaderValue]:
    headers: dict[str, HeaderValue] = {}
    pos = 0
    try:
        while pos < len(data):
            name_length = data[pos]
            name = data[pos + 1:pos + 1 + name_length].decode("utf-8")
            pos += 1 + name_length
            value_type = data[pos]
            pos += 1
            value: HeaderValue
            if value_type in (0, 1):
                value = value_type == 0
            elif value_type in _FIXED:
                fixed = _FIXED[value_type]
                (value,) = fixed.unpack_from(data, pos)
                pos += fixed.size
            elif value_type in (6, 7):
                (length,) = _U16.unpack_from(data, pos)
                raw = data[pos + 2:pos + 2 + length]
                if len(raw) != length:
                    raise EventStreamError("header value runs past the headers section")
                value = raw.decode("utf-8") if value_type == 7 else raw
                pos += 2 + length
            elif value_type == 9:
                if pos + 16 > len(data):
                    raise EventStreamError("header value runs past the headers section")
                value = uuid.UUID(bytes=data[pos:pos + 16])
                pos += 16
            else:
                raise EventStreamError(f"unknown header value type {value_type}")
            if name in headers:
                raise EventStreamError(f"duplicate header {name!r}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed headers: {exc}") from exc
    return headers
