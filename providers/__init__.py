"""Upstream providers. Adding one is one module and one line here: no router change."""

from __future__ import annotations

import importlib
from typing import Any

from providers.base import Provider, ProviderConfig

# type -> "module:Class"; imported on use so an unused provider costs nothing at start.
PROVIDER_TYPES: dict[str, str] = {
    "mock": "providers.mock:MockProvider",
    "openai": "providers.openai:OpenAIProvider",
    "vllm": "providers.vllm:VLLMProvider",
    "bedrock": "providers.bedrock:BedrockProvider",
}

# The keys each type accepts in gateway.yaml (checked at load time, before anything runs).
PROVIDER_OPTIONS: dict[str, frozenset[str]] = {
    "mock": frozenset({"delay_ms", "chunk_delay_ms", "timeouts"}),
    "openai": frozenset({"base_url", "api_key", "organization", "timeouts", "headers"}),
    "vllm": frozenset({"endpoints", "discovery", "picker", "weights", "saturation", "scrape", "prefix", "breaker",
                       "api_key", "timeouts", "headers"}),
    "bedrock": frozenset({"region", "endpoint_url", "profile", "timeouts"}),
}


def provider_class(type_name: str) -> type[Provider]:
    module_name, _, class_name = PROVIDER_TYPES[type_name].partition(":")
    cls: type[Provider] = getattr(importlib.import_module(module_name), class_name)
    return cls


def check_options(type_name: str, name: str, options: dict[str, Any]) -> None:
    """Checks an entry's option values at load, for the types that can (a `check_options`
    classmethod); raises ValueError naming the key."""
    check = getattr(provider_class(type_name), "check_options", None)
    if check is not None:
        check(name, options)


def build_provider(config: ProviderConfig) -> Provider:
    cls: Any = provider_class(config.type)
    provider: Provider = cls.from_config(config)
    return provider


__all__ = ["PROVIDER_OPTIONS", "PROVIDER_TYPES", "Provider", "ProviderConfig", "build_provider", "check_options",
           "provider_class"]
