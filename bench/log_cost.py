"""What the request log line costs on the event loop's thread, before and after issue 21:

    python -m bench.log_cost             # ~15 s
    python -m bench.log_cost --n 50000

before  the stdlib path the gateway used: a LogRecord (caller lookup, thread and process
        fields), JsonFormatter's dict of the record's attributes, the secret-masking regex
        over every line, a StreamHandler writing and flushing to stdout on the caller's thread;
after   gateway.telemetry.logging.RequestLog: one orjson call behind a cached prefix, the
        regex only on lines holding `sk-` or `Bearer `, the line handed to a writer thread.

Both write the same fields to a file (here: a temporary file, not a terminal). Rounds take
turns and the median is printed: the machine is shared and timings swing.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.telemetry.line_sink import LineSink
from gateway.telemetry.logging import _STANDARD, JsonFormatter, RequestLog

FIELDS: dict[str, Any] = {
    "request_id": "0f8e" * 8, "client_request_id": None, "trace_id": "a1" * 16, "span_id": "b2" * 8,
    "tenant": "acme", "feature": "support-bot", "model": "gpt-4o-mini", "provider": "openai", "status": 200,
    "outcome": "ok", "error_code": None, "prompt_tokens": 412, "completion_tokens": 96, "cost_usd": "0.0001194",
    "latency_ms": 812.41, "ttft_ms": None, "overhead_ms": 0.912, "upstream_ms": 811.2, "cache": "miss",
    "fallbacks": 0, "upstream_errors": [], "redactions": 0, "stream": False}
_OLD_SECRET = re.compile(rb"(sk-)[A-Za-z0-9_\-]{20,}|(Bearer )[A-Za-z0-9_\-.=]{8,}")


class BeforeFormatter(JsonFormatter):
    """JsonFormatter as it was: the masking regex over every line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "msg": record.getMessage(),
            "pid": record.process}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        return _OLD_SECRET.sub(lambda m: (m.group(1) or m.group(2)) + b"[MASKED]",
                               orjson.dumps(line, default=str)).decode()


def per_line_us(emit: Callable[[], None], n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        emit()
    return (time.perf_counter() - started) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000, help="lines per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before_file = open(os.path.join(tmp, "before.log"), "w")
        handler = logging.StreamHandler(before_file)
        handler.setFormatter(BeforeFormatter())
        before_logger = logging.getLogger("bench.before")
        before_logger.handlers[:] = [handler]
        before_logger.propagate = False
        before_logger.setLevel(logging.INFO)

        after_fd = os.open(os.path.join(tmp, "after.log"), os.O_WRONLY | os.O_CREAT)
        sink = LineSink(after_fd)
        after_logger = logging.getLogger("bench.after")
        after_logger.setLevel(logging.INFO)
        after = RequestLog(after_logger)
        after.use(sink)

        results: dict[str, list[float]] = {"before": [], "after": []}
        for _ in range(args.rounds):
            results["before"].append(per_line_us(
                lambda: before_logger.log(logging.INFO, "request", extra=dict(FIELDS)), args.n))
            results["after"].append(per_line_us(
                lambda: after.log(logging.INFO, "request", extra=dict(FIELDS)), args.n))
        sink.close()
        before_file.close()
        os.close(after_fd)
    print(f"request log line on the caller's thread, median of {args.rounds} rounds of {args.n}:")
    for name, values in results.items():
        print(f"  {name:<7} {statistics.median(values):7.1f} us/line   (rounds: "
              f"{', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
