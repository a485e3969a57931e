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
    "anthropic": "providers.anthropic:AnthropicProvider",
    "azure_openai": "providers.azure_openai:AzureOpenAIProvider",
}

# The keys each type accepts in gateway.yaml (checked at load time, before anything runs).
PROVIDER_OPTIONS: dict[str, frozenset[str]] = {
    "mock": frozenset({"delay_ms", "chunk_delay_ms", "timeouts"}),
    "openai": frozenset({"base_url", "api_key", "organization", "timeouts", "headers"}),
    "vllm": frozenset({"endpoints", "api_key", "timeouts", "headers"}),
    "bedrock": frozenset({"region", "endpoint_url", "profile", "timeouts"}),
    # Until the issue-15 interface lands (then the classes' own `options` are read):
    "anthropic": frozenset({"base_url", "api_key", "anthropic_version", "max_tokens", "timeouts", "headers"}),
    "azure_openai": frozenset({"endpoint", "api_version", "api_key", "tenant_id", "client_id", "client_secret",
                               "authority", "scope", "timeouts", "headers"}),
}


def build_provider(config: ProviderConfig) -> Provider:
    module_name, _, class_name = PROVIDER_TYPES[config.type].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    provider: Provider = cls.from_config(config)
    return provider


__all__ = ["PROVIDER_OPTIONS", "PROVIDER_TYPES", "Provider", "ProviderConfig", "build_provider"]
