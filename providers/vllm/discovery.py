"""Where a pool's replicas are: a fixed list, or every address a DNS name resolves to (a
Kubernetes headless service), re-read every `refresh_seconds` by the provider."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from typing import Protocol

from providers.vllm.config import Discovery


class ReplicaSource(Protocol):
    async def resolve(self) -> list[str]:
        """The replicas' server roots (`http://host:port`); raises OSError when the
        answer is unknown (the pool then keeps the replicas it has)."""
        ...


def server_root(url: str) -> str:
    """vLLM serves the OpenAI routes under /v1 and /metrics at the root: the root is kept."""
    return url.rstrip("/").removesuffix("/v1")


class StaticEndpoints:
    def __init__(self, urls: Sequence[str]) -> None:
        self.roots = list(dict.fromkeys(server_root(u) for u in urls))    # in the given order

    async def resolve(self) -> list[str]:
        return list(self.roots)


class DnsDiscovery:
    def __init__(self, options: Discovery) -> None:
        self.name = options.dns
        self.port = options.port
        self.scheme = options.scheme
        self.refresh_seconds = options.refresh_seconds

    async def resolve(self) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(self.name, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno == socket.EAI_NONAME:   # the name exists no more: no replica is ready
                return []
            raise
        addresses = sorted({str(info[4][0]) for info in infos})
        return [f"{self.scheme}://{_host(a)}:{self.port}" for a in addresses]


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
