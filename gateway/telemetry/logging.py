"""Structured JSON logs on stdout: one line per request (`gateway.request`), lines for the
lifecycle (`gateway.lifecycle`: start, workers, stop) and for errors. Callers pass only
bounded fields -- never a key, never message content -- and as a last guard the formatter
masks anything shaped like an API key or bearer token before the line is written.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "color_message"}
# Gateway and provider keys are `sk-` plus a long random tail; display prefixes are short.
_SECRET = re.compile(rb"(sk-)[A-Za-z0-9_\-]{20,}|(Bearer )[A-Za-z0-9_\-.=]{8,}")


def _mask(match: re.Match[bytes]) -> bytes:
    return (match.group(1) or match.group(2)) + b"[MASKED]"


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
        return _SECRET.sub(_mask, orjson.dumps(line, default=str)).decode()


def configure(level: str = "info") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).disabled = True
    # Alembic announces each of its plugins and its dialect at INFO on every start; the
    # "Running upgrade" lines (alembic.runtime.migration) are the ones worth reading.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


request_log = logging.getLogger("gateway.request")
lifecycle_log = logging.getLogger("gateway.lifecycle")
