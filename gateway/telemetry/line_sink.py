"""Log lines written to stdout by a thread of their own, so that the event loop never waits
on a write (a pipe to a slow log collector, a full disk buffer).

`write` appends the line to a deque (no lock, no syscall); the writer thread wakes every
`interval` seconds, or at once when `wake_bytes` are waiting, and writes the lines in
chunks of whole lines no larger than PIPE_BUF, so that lines of several worker processes
sharing one pipe never interleave mid-line. `close` (also at interpreter exit) writes what
is left; a process killed with SIGKILL loses at most the last `interval` of lines.
"""

from __future__ import annotations

import atexit
import os
import select
import threading
from collections import deque

_PIPE_BUF = 4096   # writes up to this size on a pipe are atomic (POSIX)


class LineSink:
    def __init__(self, fd: int = 1, *, interval: float = 0.05, wake_bytes: int = 64 * 1024) -> None:
        self._fd = fd
        self._interval = interval
        self._wake_bytes = wake_bytes
        self._lines: deque[bytes] = deque()
        self._waiting = 0
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    def write(self, line: bytes) -> None:
        """`line` ends with a newline."""
        self._lines.append(line)
        self._waiting += len(line)   # approximate under threads; only decides when to wake early
        if self._waiting >= self._wake_bytes:
            self._wake.set()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)
        self._flush()
        atexit.unregister(self.close)

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval)
            self._wake.clear()
            self._flush()

    def _flush(self) -> None:
        chunk: list[bytes] = []
        size = 0
        lines = self._lines
        while lines:
            line = lines.popleft()
            if size + len(line) > _PIPE_BUF and chunk:
                self._write_all(b"".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        self._waiting = 0
        if chunk:
            self._write_all(b"".join(chunk))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:   # a non-blocking stdout that is full: wait until it drains
                select.select([], [self._fd], [], 1.0)
                continue
            except OSError:
                return                # stdout closed: nothing to write to
            view = view[written:]
