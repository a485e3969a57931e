"""gateway.yaml for a vLLM pool over simulated replicas (tests/fakes/vllm_replica.py)."""

from __future__ import annotations


def pool_catalog(urls: list[str], *, picker: str = "load-aware", pool_options: str = "") -> str:
    """`pool_options`: more keys of the pool entry, one per line, e.g. `saturation: {policy: reject}`."""
    more = "".join(f"    {line.strip()}\n" for line in pool_options.splitlines() if line.strip())
    endpoints = ", ".join(f'"{u}"' for u in urls)
    return f"""
providers:
  pool:
    type: vllm
    endpoints: [{endpoints}]
    picker: {picker}
    scrape: {{interval_seconds: 0.05, stale_seconds: 1.0, timeout_seconds: 0.5}}
    timeouts: {{connect: 2, first_byte: 10, idle: 10, total: 60}}
{more}models:
  sim-model:
    price: {{input: 1, output: 2, cached_input: 0.5}}
    deployments: [{{provider: pool, upstream: sim-model}}]
tiers:
  pro: {{rpm: 100000, tpm: 100000000}}
cache: {{mode: "off"}}
"""
