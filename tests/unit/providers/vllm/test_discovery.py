"""Where replicas come from: a fixed list (in its order) or a DNS name's addresses."""

from __future__ import annotations

from providers.vllm.config import Discovery
from providers.vllm.discovery import DnsDiscovery, StaticEndpoints, server_root


def test_endpoints_keep_their_order_without_duplicates_or_v1() -> None:
    source = StaticEndpoints(["http://b:8000/v1", "http://a:8000/", "http://b:8000"])
    assert source.roots == ["http://b:8000", "http://a:8000"]
    assert server_root("https://x:1/v1/") == "https://x:1"


async def test_a_name_resolves_to_one_replica_per_address() -> None:
    source = DnsDiscovery(Discovery(dns="localhost", port=8123))
    roots = await source.resolve()
    assert roots and all(r.endswith(":8123") for r in roots)
    assert "http://127.0.0.1:8123" in roots or "http://[::1]:8123" in roots
