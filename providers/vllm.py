"""vLLM's OpenAI-compatible server: a pool of endpoints, round-robin."""

from __future__ import annotations

from providers.base import ProviderConfig, Timeouts
from providers.openai_compat import OpenAICompatibleProvider


class VLLMProvider(OpenAICompatibleProvider):
    type = "vllm"
    genai_system = "vllm"
    options = frozenset({"endpoints", "api_key", "timeouts", "headers"})
    identity_options = ("endpoints",)

    @classmethod
    def from_config(cls, config: ProviderConfig) -> VLLMProvider:
        options = config.options
        endpoints = options.get("endpoints")
        if not isinstance(endpoints, list) or not endpoints:
            raise ValueError(f"provider {config.name!r}: `endpoints` must be a non-empty list of URLs")
        # vLLM serves the OpenAI routes under /v1; endpoints are given as the server root.
        roots = [str(e).rstrip("/") for e in endpoints]
        return cls(config.name, [r if r.endswith("/v1") else r + "/v1" for r in roots],
                   api_key=options.get("api_key"), timeouts=Timeouts.from_options(options.get("timeouts")),
                   headers=options.get("headers"))
