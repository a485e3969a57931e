"""Upstream providers. Adding one is one module and one line here: no router change.

`PROVIDER_TYPES` is the catalog's provider table; everything else about a type (its
options, the options that identify its upstream, its GenAI system name) is declared on
its class.
"""

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
    "local": "providers.local:LocalProvider",
}


def provider_class(type_: str) -> type[Provider]:
    """The class serving gateway.yaml `type: <type_>`; KeyError for an unknown type."""
    module_name, _, class_name = PROVIDER_TYPES[type_].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise TypeError(f"{PROVIDER_TYPES[type_]} is not a Provider")
    return cls


def build_provider(config: ProviderConfig) -> Provider:
    return provider_class(config.type).from_config(config)


__all__ = ["PROVIDER_TYPES", "Provider", "ProviderConfig", "build_provider", "provider_class"]
