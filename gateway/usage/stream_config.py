"""What the two sides of the Redis Stream outbox share: the stream's names and timings, the
entry's one field, the errors that mean "Redis is not answering", and a throttled warning."""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass

from redis.exceptions import RedisError

log = logging.getLogger("gateway.usage")

FIELD = b"r"
REDIS_ERRORS = (RedisError, OSError)
_WARN_EVERY_SECONDS = 5.0


def default_consumer_name() -> str:
    """Unique per process: a restarted drain is a new consumer, and what the old one left
    pending is claimed like any dead consumer's."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True, slots=True)
class StreamConfig:
    key: str
    group: str
    consumer: str
    batch_size: int = 500
    interval: float = 0.5          # how long a read waits for new entries
    # After a batch short of `batch_size`, wait this long before reading again, so that the
    # next batch is bigger: a transaction and an acknowledgement per handful of records cost
    # more CPU than the records (bench/profile.py). The records wait in the stream meanwhile.
    linger: float = 0.1
    claim_idle: float = 30.0       # pending this long under another consumer: claimed
    prune_idle: float = 600.0      # a consumer with nothing pending, silent this long: removed
    redis_retry: float = 1.0       # after a failed append, skip Redis this long
    write_timeout: float = 30.0
    watch_interval: float = 5.0    # how often a serving process looks at who drains the stream
    # A consumer that has not read for this long is not counted as draining. A drain reads
    # at least every second (its blocking read is capped below that).
    drainer_idle: float = 15.0


class ThrottledWarnings:
    """One warning per kind every few seconds: an outage must not flood the log."""

    def __init__(self, every: float = _WARN_EVERY_SECONDS) -> None:
        self._every = every
        self._warned_at: dict[str, float] = {}

    def warn(self, what: str, message: str, exc: BaseException | None = None, **fields: object) -> None:
        now = time.monotonic()
        if now - self._warned_at.get(what, -self._every) >= self._every:
            self._warned_at[what] = now
            extra = dict(fields)
            if exc is not None:
                extra["error"] = type(exc).__name__
            log.warning(message, extra=extra)
