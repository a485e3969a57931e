"""Running an asyncio server in a background thread, so that sync and async tests alike can
talk to it over a real socket."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from aiohttp import web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LoopThread:
    """An event loop in a daemon thread; `call` runs a coroutine on it and waits."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def call(self, factory: Callable[[], Awaitable[Any]], timeout: float = 30) -> Any:
        async def run() -> Any:
            return await factory()
        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextmanager
def serving(app: web.Application, port: int, name: str) -> Iterator[None]:
    """`app` on 127.0.0.1:`port`, in a LoopThread of its own, until the block ends (the fake
    upstreams' and hooks' one way to run)."""
    thread = LoopThread(name)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)

    async def start() -> None:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()

    try:
        thread.call(start)
        yield
    finally:
        try:
            thread.call(runner.cleanup, timeout=10)
        except Exception:   # a teardown that fails must not hide the test's own outcome
            pass
        thread.stop()
