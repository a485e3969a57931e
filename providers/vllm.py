"""vLLM's OpenAI-compatible server: a pool of endpoints, round-robin, with `/health`."""

from __future__ import annotations

import asyncio

import aiohttp

from providers.base import Health, ProviderConfig, Timeouts
from providers.openai_compat import OpenAICompatibleProvider


class VLLMProvider(OpenAICompatibleProvider):
    type = "vllm"

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

    async def health(self) -> Health:
        async def one(endpoint: str) -> bool:
            root = endpoint.removesuffix("/v1")
            try:
                async with asyncio.timeout(self.timeouts.connect + 2):
                    async with self.session.get(root + "/health") as response:
                        return response.status == 200
            except (aiohttp.ClientError, OSError, TimeoutError):
                return False

        results = await asyncio.gather(*(one(e) for e in self.endpoints))
        healthy = sum(results)
        return Health(ok=healthy > 0, detail=f"{healthy}/{len(results)} endpoints healthy")
