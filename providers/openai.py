"""OpenAI (and any OpenAI-compatible endpoint reached with an API key)."""

from __future__ import annotations

import os

from providers.base import ProviderConfig, Timeouts
from providers.openai_compat import OpenAICompatibleProvider


class OpenAIProvider(OpenAICompatibleProvider):
    type = "openai"
    genai_system = "openai"
    options = frozenset({"base_url", "api_key", "organization", "timeouts", "headers"})
    identity_options = ("base_url",)

    @classmethod
    def from_config(cls, config: ProviderConfig) -> OpenAIProvider:
        options = config.options
        headers = dict(options.get("headers") or {})
        if options.get("organization"):
            headers["OpenAI-Organization"] = str(options["organization"])
        api_key = options.get("api_key") or os.environ.get("OPENAI_API_KEY")
        return cls(config.name, [str(options.get("base_url") or "https://api.openai.com/v1")],
                   api_key=api_key, timeouts=Timeouts.from_options(options.get("timeouts")), headers=headers)
