"""The incremental event-stream decoder, against frames built independently and botocore's decoder."""

from __future__ import annotations

import struct
import uuid
import zlib

import pytest
from botocore.eventstream import EventStreamBuffer

from providers.bedrock.eventstream import EventStreamDecoder, EventStreamError, decode_headers
from tests.fakes.bedrock_server import Reply, encode_frame, event_frame, exception_frame, stream_frames

REPLY = Reply(text="one two three", tool_uses=[("t1", "lookup", {"q": "x"}), ("t2", "lookup", {"q": "y"})])


def _frames() -> bytes:
    return b"".join(stream_frames(REPLY))


def test_one_whole_frame() -> None:
    frame = event_frame("messageStart", {"role": "assistant"})
    (message,) = EventStreamDecoder().feed(frame)
    assert message.message_type == "event"
    assert message.event_type == "messageStart"
    assert message.headers[":content-type"] == "application/json"
    assert message.payload.startswith(b'{"role":"assistant"')


@pytest.mark.parametrize("size", [1, 2, 3, 7, 12, 13, 64, 1000])
def test_any_slicing_yields_the_same_messages(size: int) -> None:
    data = _frames()
    whole = EventStreamDecoder().feed(data)
    decoder = EventStreamDecoder()
    sliced = [m for start in range(0, len(data), size) for m in decoder.feed(data[start:start + size])]
    assert sliced == whole
    assert decoder.pending_bytes == 0
    assert len(whole) == len(stream_frames(REPLY)) == 15


def test_agrees_with_botocore_decoder() -> None:
    data = _frames() + exception_frame("throttlingException", "slow down")
    ours = EventStreamDecoder().feed(data)
    reference = EventStreamBuffer()
    reference.add_data(data)
    theirs = list(reference)
    assert [(m.headers, m.payload) for m in ours] == [(m.headers, m.payload) for m in theirs]
    assert ours[-1].message_type == "exception"
    assert ours[-1].exception_type == "throttlingException"


def test_incomplete_frame_stays_pending() -> None:
    frame = event_frame("messageStop", {"stopReason": "end_turn"})
    decoder = EventStreamDecoder()
    assert decoder.feed(frame[:-1]) == []
    assert decoder.pending_bytes == len(frame) - 1
    assert len(decoder.feed(frame[-1:])) == 1
    assert decoder.pending_bytes == 0


def test_prelude_crc_mismatch_is_detected_at_once() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[3] ^= 0x01  # total length corrupted: the prelude CRC no longer matches
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamDecoder().feed(bytes(frame[:12]))


def test_message_crc_mismatch() -> None:
    frame = bytearray(event_frame("messageStart", {"role": "assistant"}))
    frame[-6] ^= 0x20  # a payload byte
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(bytes(frame))


def _raw_frame(headers: bytes, payload: bytes, total: int | None = None) -> bytes:
    total = total if total is not None else 16 + len(headers) + len(payload)
    prelude = struct.pack(">II", total, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + payload
    return message + struct.pack(">I", zlib.crc32(message))


def test_impossible_lengths_are_rejected() -> None:
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(EventStreamError, match="invalid message length"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))
    prelude = struct.pack(">II", 20, 10)
    with pytest.raises(EventStreamError, match="invalid headers length"):
        EventStreamDecoder().feed(prelude + struct.pack(">I", zlib.crc32(prelude)))


def test_every_header_value_type() -> None:
    ident = uuid.uuid4()
    headers = b"".join([
        b"\x01t\x00", b"\x01f\x01", b"\x01b\x02" + struct.pack(">b", -3),
        b"\x01s\x03" + struct.pack(">h", -300), b"\x01i\x04" + struct.pack(">i", 70000),
        b"\x01l\x05" + struct.pack(">q", 2**40), b"\x02ba\x06" + struct.pack(">H", 3) + b"\x00\x01\x02",
        b"\x03str\x07" + struct.pack(">H", 2) + b"ok", b"\x02ts\x08" + struct.pack(">q", 1_700_000_000_000),
        b"\x02id\x09" + ident.bytes,
    ])
    (message,) = EventStreamDecoder().feed(_raw_frame(headers, b"{}"))
    assert message.headers == {"t": True, "f": False, "b": -3, "s": -300, "i": 70000, "l": 2**40,
                               "ba": b"\x00\x01\x02", "str": "ok", "ts": 1_700_000_000_000, "id": ident}
    assert message.payload == b"{}"


@pytest.mark.parametrize("headers", [
    b"\x01x\x0a",                                   # unknown value type
    b"\x01x\x07" + struct.pack(">H", 10) + b"ab",   # string longer than the section
    b"\x01x\x04\x00",                               # truncated integer
    b"\x01a\x00\x01a\x01",                          # duplicate name
])
def test_malformed_headers(headers: bytes) -> None:
    with pytest.raises(EventStreamError):
        decode_headers(headers)


def test_frames_after_a_message_in_the_same_slice() -> None:
    first = encode_frame({":message-type": "event", ":event-type": "a"}, b"{}")
    second = encode_frame({":message-type": "event", ":event-type": "b"}, b"{}")
    decoder = EventStreamDecoder()
    messages = decoder.feed(first + second[:5])
    assert [m.event_type for m in messages] == ["a"]
    assert [m.event_type for m in decoder.feed(second[5:])] == ["b"]
