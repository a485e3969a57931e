"""The one pooled upstream HTTP session (aiohttp): measured 1,335 req/s against httpx's 204
on this hardware (DESIGN.md), so it carries the hot path. Opened in the app's lifespan."""

from __future__ import annotations

import aiohttp

from providers.base import Timeouts


def new_session(timeouts: Timeouts, limit: int = 1000) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=limit, ttl_dns_cache=300,
                                     enable_cleanup_closed=True)
    # Per-request timeouts are passed on each call; this one is only the safety net.
    timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True,
                                 skip_auto_headers=("User-Agent",))


def request_timeout(timeouts: Timeouts) -> aiohttp.ClientTimeout:
    """Headers must arrive within first_byte; each later read within idle."""
    return aiohttp.ClientTimeout(
        total=timeouts.total, sock_connect=timeouts.connect,
        sock_read=max(timeouts.first_byte, timeouts.idle),
    )
