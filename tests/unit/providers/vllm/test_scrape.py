"""Parsing vLLM's /metrics: only the series the picker needs, summed over label sets."""

from __future__ import annotations

import pytest

from providers.vllm.scrape import ScrapeError, parse_metrics
from tests.fakes.vllm_replica import ReplicaSpec, SimulatedReplica

REAL_SHAPE = """\
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 3.0
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
vllm:num_requests_waiting_by_reason{engine="0",reason="capacity"} 99.0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.4375
vllm:cache_config_info{block_size="32",cache_dtype="auto",enable_prefix_caching="True"} 1.0
vllm:time_to_first_token_seconds_bucket{le="0.01",model_name="m"} 12.0
"""


def test_reads_the_needed_series_and_nothing_else() -> None:
    figures = parse_metrics(REAL_SHAPE, at=5.0)
    assert (figures.waiting, figures.running, figures.kv_cache, figures.block_size, figures.at) == \
        (7.0, 3.0, 0.4375, 32, 5.0)


def test_sums_over_label_sets_and_reads_the_older_kv_name() -> None:
    text = ("vllm:num_requests_waiting{engine=\"0\"} 2\nvllm:num_requests_waiting{engine=\"1\"} 3\n"
            "vllm:num_requests_running 1 1700000000000\nvllm:gpu_cache_usage_perc{engine=\"0\"} 0.5\n")
    figures = parse_metrics(text, at=0.0)
    assert (figures.waiting, figures.running, figures.kv_cache, figures.block_size) == (5.0, 1.0, 0.5, None)


def test_the_simulated_replica_speaks_the_same_format() -> None:
    replica = SimulatedReplica(ReplicaSpec(block_size=16, legacy_metric_names=True))
    figures = parse_metrics(replica.metrics_text(), at=1.0)
    assert (figures.waiting, figures.running, figures.kv_cache, figures.block_size) == (0.0, 0.0, 0.0, 16)


@pytest.mark.parametrize(("text", "message"), [
    ("<html>not metrics</html>", "missing series"),
    ("vllm:num_requests_waiting{a=\"b\"} 1\nvllm:num_requests_running 1\n", "vllm:kv_cache_usage_perc"),
    ("vllm:num_requests_waiting{a=\"b\"} lots\n", "malformed metrics line for vllm:num_requests_waiting"),
])
def test_a_page_without_the_series_is_an_error_not_an_idle_replica(text: str, message: str) -> None:
    with pytest.raises(ScrapeError, match=message):
        parse_metrics(text, at=0.0)
