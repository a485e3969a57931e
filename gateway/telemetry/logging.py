"""Structured JSON logs on stdout: one line per request (`gateway.request`), lines for the
lifecycle (`gateway.lifecycle`: start, workers, stop) and for errors. Callers pass only
bounded fields -- never a key, never message content -- and as a last guard the formatter
masks anything shaped like an API key or bearer token before the line is written.

Once `configure` has run, every line goes to stdout through a writer thread (line_sink.py),
never blocking the event loop, and the request line takes a short path (`RequestLog`): no
LogRecord, no caller lookup, no second dict; its fields are serialised once by orjson
behind a prefix of the same fields JsonFormatter writes first. Before `configure` (a test
that embeds the app), the request line is an ordinary logging record.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.telemetry.line_sink import LineSink

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}
# Gateway and provider keys are `sk-` plus a long random tail; display prefixes are short.
_SECRET = re.compile(rb"(sk-)[A-Za-z0-9_\-]{20,}|(Bearer )[A-Za-z0-9_\-.=]{8,}")


def _mask(match: re.Match[bytes]) -> bytes:
    return (match.group(1) or match.group(2)) + b"[MASKED]"


def mask_secrets(line: bytes) -> bytes:
    """The regex costs ~100 us on a request line (it tries both branches at every byte);
    the substring checks, done in C, spare it on the lines that hold neither marker."""
    if b"sk-" in line or b"Bearer " in line:
        return _SECRET.sub(_mask, line)
    return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The type and where it was raised; not the text, which may quote a request.
            line["exc_type"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                line["exc_at"] = f"{os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}"
        return mask_secrets(orjson.dumps(line, default=str)).decode()


class SinkHandler(logging.Handler):
    """Formats with JsonFormatter and hands the line to the writer thread."""

    def __init__(self, sink: LineSink) -> None:
        super().__init__()
        self.sink = sink
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.write(self.format(record).encode() + b"\n")
        except Exception:
            self.handleError(record)


class RequestLog:
    """`gateway.request`: the one line per request. Same call as a logger's
    (`log(level, msg, extra={...})`), same level and same fields as the logging path."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._sink: LineSink | None = None
        self._pid = os.getpid()
        self._second = -1
        self._second_text = ""
        self._middles: dict[tuple[int, str], bytes] = {}

    def use(self, sink: LineSink | None) -> None:
        self._sink = sink
        self._pid = os.getpid()   # a worker process forked after import
        self._middles.clear()

    def isEnabledFor(self, level: int) -> bool:
        return self._logger.isEnabledFor(level)

    def log(self, level: int, msg: str, *, extra: Mapping[str, Any]) -> None:
        if not self._logger.isEnabledFor(level):
            return
        sink = self._sink
        if sink is None:
            self._logger.log(level, msg, extra=extra)
            return
        sink.write(self.line(level, msg, extra))

    def line(self, level: int, msg: str, fields: Mapping[str, Any]) -> bytes:
        """The JSON line JsonFormatter would write for this record, newline included."""
        middle = self._middles.get((level, msg))
        if middle is None:   # what follows the timestamp, the same for every line of this level
            middle = self._middles[(level, msg)] = orjson.dumps({
                "level": logging.getLevelName(level).lower(), "logger": self._logger.name, "msg": msg,
                "pid": self._pid})[1:-1]
        body = orjson.dumps(fields, default=str)
        line = b"".join((b'{"ts":"', self._timestamp().encode(), b'",', middle,
                         b"," + body[1:] if len(body) > 2 else b"}", b"\n"))
        return mask_secrets(line)

    def _timestamp(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((now - second) * 1000):03d}+00:00"


_sink: LineSink | None = None


def configure(level: str = "info") -> None:
    global _sink
    if _sink is not None:
        _sink.close()
    _sink = LineSink()
    handler = SinkHandler(_sink)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    request_log.use(_sink)
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    # Alembic announces each of its plugins and its dialect at INFO on every start; the
    # "Running upgrade" lines (alembic.runtime.migration) are the ones worth reading.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


request_log = RequestLog(logging.getLogger("gateway.request"))
lifecycle_log = logging.getLogger("gateway.lifecycle")
