"""prometheus_client's multiprocess mode for `llm-gateway serve --workers N`: the directory
every worker writes its samples to, and the bookkeeping when a worker exits.

Each worker memory-maps its own files under PROMETHEUS_MULTIPROC_DIR; a scrape, whichever
worker answers it, merges them all (gateway.telemetry.exposition). The variable must be
set before prometheus_client is imported, which is why the supervisor sets it and the
workers -- fresh interpreters -- inherit it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import multiprocess
from uvicorn.supervisors import Multiprocess

ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def metrics_directory(given: str | None) -> Iterator[Path]:
    """The directory named by `given` (kept afterwards), else a fresh temporary one (removed
    afterwards). Emptied first: samples left by an earlier run would be added to this one's."""
    owned = not given
    path = Path(tempfile.mkdtemp(prefix="llm-gateway-metrics-")) if owned else Path(str(given))
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()
    previous = os.environ.get(ENV)
    os.environ[ENV] = str(path)
    try:
        yield path
    finally:
        if previous is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = previous
        if owned:
            shutil.rmtree(path, ignore_errors=True)


class MetricsSupervisor(Multiprocess):
    """uvicorn's worker supervisor that also calls `mark_process_dead` for every worker that
    exits -- crashed and replaced, scaled down, or stopped -- so that its `live*` gauges
    stop counting. Its counters and histograms stay: totals must never go backwards."""

    def _pids(self) -> set[int]:
        return {p.pid for p in self.processes if p.pid is not None}

    def _forget_exited(self, before: set[int]) -> None:
        for pid in before - self._pids():
            multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()
        self._forget_exited(before)

    def handle_signals(self) -> None:   # SIGHUP restarts and SIGTTOU retires workers
        before = self._pids()
        super().handle_signals()
        self._forget_exited(before)

    def run(self) -> None:
        try:
            super().run()
        finally:
            for pid in self._pids():
                multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
