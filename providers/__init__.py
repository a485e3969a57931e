"""Upstream providers. Adding one is one module and one line here: no router change."""

from __future__ import annotations

import importlib

from providers.base import Provider, ProviderConfig

# type -> "module:Class"; imported on use so an unused provider costs nothing at start.
PROVIDER_TYPES: dict[str, str] = {
    "mock": "providers.mock:MockProvider",
    "openai": "providers.openai:OpenAIProvider",
    "vllm": "providers.vllm:VLLMProvider",
    "bedrock": "providers.bedrock:BedrockProvider",
    "local": "providers.local:LocalProvider",
}

# The keys each type accepts in gateway.yaml (checked at load time, before anything runs).
PROVIDER_OPTIONS: dict[str, frozenset[str]] = {
    "mock": frozenset({"delay_ms", "chunk_delay_ms", "timeouts"}),
    "openai": frozenset({"base_url", "api_key", "organization", "timeouts", "headers"}),
    "vllm": frozenset({"endpoints", "api_key", "timeouts", "headers"}),
    "bedrock": frozenset({"region", "endpoint_url", "profile", "timeouts"}),
    "local": frozenset({"max_batch", "threads", "timeouts"}),
}


def missing_requirements(type_name: str) -> str | None:
    """What a provider type needs and is not installed (an optional extra), or None. A module
    that has such needs says so in a `missing_requirements()` of its own."""
    module_name = PROVIDER_TYPES[type_name].partition(":")[0]
    check = getattr(importlib.import_module(module_name), "missing_requirements", None)
    return check() if callable(check) else None


def build_provider(config: ProviderConfig) -> Provider:
    module_name, _, class_name = PROVIDER_TYPES[config.type].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    provider: Provider = cls.from_config(config)
    return provider


__all__ = ["PROVIDER_OPTIONS", "PROVIDER_TYPES", "Provider", "ProviderConfig", "build_provider", "missing_requirements"]
