"""A fault-injecting TCP proxy on loopback, for outage tests: put it between the gateway and
PostgreSQL (or Redis), then `cut()` -- every open connection is reset and new ones are
refused --, or `partition()` -- connections stay open and new ones are accepted, but no byte
passes either way, as a security-group change or a dead NAT looks --, and `restore()`.

    with TcpProxy("127.0.0.1", 5432) as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/db"
        ...
        proxy.cut()
        ...
        proxy.restore()
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType

from tests.support.threads import LoopThread, free_port

_CHUNK = 64 * 1024


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.connections_refused = 0
        self._cut = False
        self._partitioned = False
        self._thread: LoopThread | None = None
        self._server: asyncio.Server | None = None
        self._live: set[asyncio.StreamWriter] = set()

    # -- the test's side --------------------------------------------------------------

    def __enter__(self) -> TcpProxy:
        self._thread = LoopThread("tcp-proxy")
        self.port = free_port()
        self._thread.call(self._start)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        assert self._thread is not None
        with contextlib.suppress(Exception):
            self._thread.call(self._stop, timeout=10)
        self._thread.stop()

    def cut(self) -> None:
        """Resets every open connection and refuses new ones until `restore`."""
        assert self._thread is not None
        self._thread.call(self._cut_now)

    def partition(self) -> None:
        """Silently drops every byte, both ways, on open and new connections until `restore`."""
        assert self._thread is not None
        self._thread.call(self._partition_now)

    def restore(self) -> None:
        assert self._thread is not None
        self._thread.call(self._restore_now)

    @property
    def is_cut(self) -> bool:
        return self._cut

    # -- the proxy's loop -------------------------------------------------------------

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _stop(self) -> None:
        await self._cut_now()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _cut_now(self) -> None:
        self._cut = True
        for writer in list(self._live):
            writer.transport.abort()     # RST, as a dead host or a dropped route looks to a driver
        self._live.clear()

    async def _partition_now(self) -> None:
        self._partitioned = True

    async def _restore_now(self) -> None:
        self._cut = False
        self._partitioned = False

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._cut:
            self.connections_refused += 1
            client_writer.transport.abort()
            return
        if self._partitioned:            # the SYN is answered (by the kernel), nothing after it
            self._live.add(client_writer)
            with contextlib.suppress(ConnectionError, OSError):
                while await client_reader.read(_CHUNK):
                    pass
            self._live.discard(client_writer)
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_writer.transport.abort()
            return
        self._live.update((client_writer, upstream_writer))
        try:
            await asyncio.gather(self._pipe(client_reader, upstream_writer),
                                 self._pipe(upstream_reader, client_writer))
        finally:
            for writer in (client_writer, upstream_writer):
                self._live.discard(writer)
                writer.transport.abort()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while not self._cut:
                data = await reader.read(_CHUNK)
                if not data:
                    break
                if self._partitioned:
                    continue             # swallowed: the other side waits, as on a dead route
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.transport.abort()
