"""gateway.yaml's vLLM pool options are checked at load, naming file, line and key."""

from __future__ import annotations

import pytest

from gateway.catalog import CatalogError, parse_catalog

POOL = """
providers:
  pool:
    type: vllm
    endpoints: [http://vllm-0:8000, http://vllm-1:8000]
    picker: load-aware
    weights: {queue: 2, kv_cache: 2, prefix: 3}
models:
  llama:
    price: {input: 0, output: 0}
    deployments: [{provider: pool, upstream: meta-llama/Llama-3.1-8B-Instruct}]
"""


def test_a_pool_with_every_section_loads() -> None:
    text = POOL.replace("    picker: load-aware\n", """    picker: round-robin
    saturation: {queue_depth: 8, kv_cache: 0.9, policy: reject, retry_after_seconds: 2}
    scrape: {interval_seconds: 0.1, stale_seconds: 0.5}
    prefix: {chars_per_token: 4, max_blocks: 128}
    breaker: {cooldown_seconds: 3}
""")
    assert parse_catalog(text).providers["pool"].options["picker"] == "round-robin"


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    ("picker: load-aware", "picker: fastest", 6, "providers.pool.picker: Input should be"),
    ("kv_cache: 2,", "kv_cache: -2,", 7, "providers.pool.weights.kv_cache"),
    ("kv_cache: 2,", "kv: 2,", 7, "providers.pool.weights.kv: Extra inputs"),
    ("    endpoints: [http://vllm-0:8000, http://vllm-1:8000]\n", "", 3, "give either `endpoints`"),
])
def test_bad_pool_options_name_line_and_key(old: str, new: str, line: int, message: str) -> None:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(POOL.replace(old, new), "gateway.yaml")
    text = str(caught.value)
    assert message in text and f"gateway.yaml:{line}:" in text, text
