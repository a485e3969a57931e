"""vLLM replica pools: load-aware (or round-robin) picking over replicas that are listed or
discovered by DNS. Modules: config (options), scrape (/metrics), discovery, prefix (affinity),
picker (scores), breaker (per replica), replica (state), provider (the Provider)."""

from providers.vllm.provider import VLLMProvider

__all__ = ["VLLMProvider"]
