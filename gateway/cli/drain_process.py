"""The `llm-gateway usage-drain` process that `serve` runs beside itself (GATEWAY_USAGE_DRAIN=
process, the default with Redis), so that a gateway upgraded from the in-process drain keeps
writing its usage records with no change to its deployment.

The child gets its own session (a Ctrl-C in a terminal reaches the server, which stops the
child last, after the last request's record is appended) and exits by itself if the server
dies (`--parent-pid`). If it exits on its own, it is started again after a backoff.
With `--workers N` the supervisor starts one drain for all workers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

from gateway.telemetry.logging import lifecycle_log
from gateway.telemetry.multiprocess import ENV as METRICS_DIR_ENV

_MAX_BACKOFF_SECONDS = 30.0
_HEALTHY_RUN_SECONDS = 60.0   # a child that ran this long before exiting restarts without delay growth


class DrainProcess:
    def __init__(self) -> None:
        # The workers' metrics directory is theirs: the drain serves no /metrics.
        self._env = {k: v for k, v in os.environ.items() if k != METRICS_DIR_ENV}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="usage-drain-supervisor", daemon=True)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def start(self) -> None:
        self._spawn()
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """SIGTERM, then up to `timeout` seconds for the child to write what it holds."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                lifecycle_log.error("usage drain did not stop in time; killed (what it held is claimed "
                                    "by the next drain)")
                process.kill()
                process.wait()
        self._thread.join(timeout=5)

    def _spawn(self) -> None:
        command = [sys.executable, "-m", "gateway.cli", "usage-drain", "--parent-pid", str(os.getpid())]
        with self._lock:
            if not self._stopping.is_set():
                self._process = subprocess.Popen(command, env=self._env, start_new_session=True)

    def _supervise(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            process = self._process
            assert process is not None
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= _HEALTHY_RUN_SECONDS:
                backoff = 1.0
            lifecycle_log.warning("usage drain exited; starting it again",
                                  extra={"exit_code": code, "after_seconds": backoff})
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
            self._spawn()
