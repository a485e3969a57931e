"""The request line's short path: the same line JsonFormatter writes, level honoured, keys
masked; and the writer thread: every line out, whole, in order, never torn across writes."""

from __future__ import annotations

import json
import logging
import os
import re
import threading

from gateway.telemetry.line_sink import LineSink
from gateway.telemetry.logging import JsonFormatter, RequestLog

KEY = "sk-acme-" + "Q" * 43
FIELDS = {"request_id": "req_1", "client_request_id": None, "tenant": "acme", "status": 200, "cost_usd": "0.01",
          "latency_ms": 12.5, "upstream_errors": ["openai:timeout"], "stream": False}


class Lines:
    """A LineSink stand-in that keeps what it is given."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def write(self, line: bytes) -> None:
        self.lines.append(line)


def request_log(level: int = logging.INFO) -> tuple[RequestLog, Lines]:
    logger = logging.getLogger("gateway.request.test")
    logger.setLevel(level)
    log = RequestLog(logger)
    sink = Lines()
    log.use(sink)  # type: ignore[arg-type]
    return log, sink


def test_the_line_has_the_fields_and_order_of_the_formatter() -> None:
    log, sink = request_log()
    log.log(logging.INFO, "request", extra=FIELDS)
    (line,) = sink.lines
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    fast = json.loads(line)
    record = logging.getLogger("gateway.request.test").makeRecord("gateway.request.test", logging.INFO, __file__, 1,
                                                                  "request", (), None, extra=FIELDS)
    reference = json.loads(JsonFormatter().format(record))
    assert list(fast) == list(reference)
    assert {k: v for k, v in fast.items() if k != "ts"} == {k: v for k, v in reference.items() if k != "ts"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", fast["ts"]), fast["ts"]


def test_a_warning_is_written_as_one_and_info_is_dropped_above_its_level() -> None:
    log, sink = request_log(logging.WARNING)
    log.log(logging.INFO, "request", extra=FIELDS)
    assert sink.lines == []
    log.log(logging.WARNING, "request", extra=FIELDS)
    assert json.loads(sink.lines[0])["level"] == "warning"


def test_keys_are_masked_on_the_short_path_too() -> None:
    log, sink = request_log()
    log.log(logging.INFO, "request", extra={**FIELDS, "tenant": KEY, "feature": f"Bearer {KEY}"})
    line = sink.lines[0].decode()
    assert KEY not in line and "Q" * 20 not in line
    assert json.loads(line)["tenant"] == "sk-[MASKED]"


def test_without_a_sink_the_line_is_an_ordinary_log_record(caplog: object) -> None:
    logger = logging.getLogger("gateway.request.plain")
    logger.setLevel(logging.INFO)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.addHandler(Keep())
    try:
        RequestLog(logger).log(logging.INFO, "request", extra=FIELDS)
    finally:
        logger.handlers.clear()
    assert records[0].__dict__["request_id"] == "req_1"


class RecordingSink(LineSink):
    """Keeps the size of every write (the sink's own method, observed)."""

    def __init__(self, fd: int, interval: float) -> None:
        self.writes: list[bytes] = []
        super().__init__(fd, interval=interval)

    def _write_all(self, data: bytes) -> None:
        self.writes.append(data)
        super()._write_all(data)


def test_the_writer_thread_writes_every_line_whole_and_in_order_in_pipe_sized_chunks() -> None:
    read_fd, write_fd = os.pipe()
    received = bytearray()

    def reader() -> None:
        while data := os.read(read_fd, 65536):
            received.extend(data)

    thread = threading.Thread(target=reader)
    thread.start()
    sink = RecordingSink(write_fd, interval=0.01)
    lines = [(f'{{"n":{i},"pad":"' + "x" * (i % 300) + '"}\n').encode() for i in range(5000)]
    lines.insert(2500, b'{"big":"' + b"y" * 10000 + b'"}\n')
    for line in lines:
        sink.write(line)
    sink.close()
    os.close(write_fd)
    thread.join(10)
    os.close(read_fd)
    assert bytes(received) == b"".join(lines)
    assert all(write.endswith(b"\n") for write in sink.writes)               # whole lines only
    assert all(len(write) <= 4096 for write in sink.writes if b'"big"' not in write)
    assert [write for write in sink.writes if b'"big"' in write] == [lines[2500]]   # alone
    assert len(sink.writes) < len(lines) / 5                                  # batched, not one per line


def test_close_writes_what_is_left_and_a_second_close_is_harmless(tmp_path: object) -> None:
    read_fd, write_fd = os.pipe()
    sink = LineSink(write_fd, interval=60)   # the thread would not wake by itself for a minute
    sink.write(b'{"last":true}\n')
    sink.close()
    sink.close()
    os.close(write_fd)
    assert os.read(read_fd, 1000) == b'{"last":true}\n'
    os.close(read_fd)
