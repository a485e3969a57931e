"""Reads the few series the picker needs from a vLLM server's Prometheus `/metrics`.

vLLM exports hundreds of lines (histograms per model); only these are parsed, summed over
their label sets:
- `vllm:num_requests_waiting`, `vllm:num_requests_running`
- `vllm:kv_cache_usage_perc` (a fraction 0..1; vLLM before v0.10: `vllm:gpu_cache_usage_perc`)
- `vllm:cache_config_info{block_size="16",...}` for the KV block size in tokens
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_WAITING = "vllm:num_requests_waiting"
_RUNNING = "vllm:num_requests_running"
_KV = ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc")
_CACHE_INFO = "vllm:cache_config_info"
_BLOCK_SIZE = re.compile(r'block_size="(\d+)"')


class ScrapeError(ValueError):
    """The page was not vLLM's metrics (a required series is missing or malformed)."""


@dataclass(frozen=True, slots=True)
class Figures:
    """One replica's load at `at` (the monotonic time the scrape finished)."""

    waiting: float
    running: float
    kv_cache: float             # 0..1
    block_size: int | None      # tokens per KV block, when the replica reports it
    at: float


def _value(line: str) -> float:
    # `name{labels} value [timestamp]`: the value is the first field after the labels.
    rest = line[line.rindex("}") + 1:] if "}" in line else line.split(" ", 1)[1]
    return float(rest.split()[0])


def parse_metrics(text: str, at: float) -> Figures:
    waiting = running = kv = None
    block_size: int | None = None
    for line in text.splitlines():
        if not line.startswith("vllm:"):
            continue
        brace = line.find("{")
        end = brace if brace >= 0 else line.find(" ")
        name = line[:end]
        try:
            if name == _WAITING:
                waiting = (waiting or 0.0) + _value(line)
            elif name == _RUNNING:
                running = (running or 0.0) + _value(line)
            elif name in _KV:
                kv = max(kv or 0.0, _value(line))      # one engine per server; max if several
            elif name == _CACHE_INFO:
                match = _BLOCK_SIZE.search(line)
                if match:
                    block_size = int(match.group(1))
        except (ValueError, IndexError):
            raise ScrapeError(f"malformed metrics line for {name}") from None
    if waiting is None or running is None or kv is None:
        missing = [n for n, v in ((_WAITING, waiting), (_RUNNING, running), (_KV[0], kv)) if v is None]
        raise ScrapeError(f"missing series: {', '.join(missing)}")
    return Figures(waiting=waiting, running=running, kv_cache=min(1.0, max(0.0, kv)),
                   block_size=block_size, at=at)
