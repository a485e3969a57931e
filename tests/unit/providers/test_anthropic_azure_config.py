"""Configuration of the Anthropic and Azure OpenAI providers, and Azure's two hooks (URL and
credential headers), without a network."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from providers import build_provider, provider_class
from providers.anthropic import AnthropicProvider
from providers.azure_openai import AzureOpenAIProvider
from providers.base import ProviderConfig

ENTRA = {"tenant_id": "t-1", "client_id": "c-1", "client_secret": "s-1"}


def azure(**options: Any) -> AzureOpenAIProvider:
    provider = build_provider(ProviderConfig("az", "azure_openai", {"endpoint": "https://res.openai.azure.com/",
                                                                     **options}))
    assert isinstance(provider, AzureOpenAIProvider)
    return provider


def anthropic(**options: Any) -> AnthropicProvider:
    provider = build_provider(ProviderConfig("claude", "anthropic", {"api_key": "sk-ant-x", **options}))
    assert isinstance(provider, AnthropicProvider)
    return provider


def test_each_type_is_served_by_its_one_module() -> None:
    assert provider_class("anthropic") is AnthropicProvider
    assert provider_class("azure_openai") is AzureOpenAIProvider


def test_azure_deployment_urls() -> None:
    provider = azure(api_key="k")
    endpoint = provider.endpoints[0]
    assert endpoint == "https://res.openai.azure.com"
    assert provider.url(endpoint, "chat/completions", "gpt-4o prod") == (
        "https://res.openai.azure.com/openai/deployments/gpt-4o%20prod/chat/completions?api-version=2024-10-21")
    assert provider.url(endpoint, "embeddings", "e") == (
        "https://res.openai.azure.com/openai/deployments/e/embeddings?api-version=2024-10-21")


def test_azure_api_version_written_as_a_yaml_date_and_the_v1_routes() -> None:
    dated = azure(api_key="k", api_version=datetime.date(2024, 6, 1))
    assert dated.url("https://e", "chat/completions", "d").endswith("?api-version=2024-06-01")
    v1 = azure(api_key="k", api_version="v1", endpoint="https://res.openai.azure.com/openai/")
    assert v1.url(v1.endpoints[0], "chat/completions", "d") == "https://res.openai.azure.com/openai/v1/chat/completions"


async def test_azure_api_key_header() -> None:
    assert await azure(api_key="k").auth_headers() == {"api-key": "k"}


def test_azure_entra_authority_default_and_override() -> None:
    provider = azure(**ENTRA)
    assert provider.token is not None
    assert provider.token.token_url == "https://login.microsoftonline.com/t-1/oauth2/v2.0/token"
    sovereign = azure(**ENTRA, authority="https://login.microsoftonline.us/{tenant_id}/")
    assert sovereign.token is not None
    assert sovereign.token.token_url == "https://login.microsoftonline.us/t-1/oauth2/v2.0/token"


def test_azure_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "from-env")
    assert azure()._azure_key == "from-env"


@pytest.mark.parametrize(("options", "problem"), [
    ({"api_key": "k", "endpoint": "res.openai.azure.com"}, "endpoint"),
    ({"api_key": "k", **ENTRA}, "either"),
    ({"tenant_id": "t", "client_id": "c"}, "client_secret"),
    ({}, "api_key"),
    ({"api_key": "k", "deployment": "x"}, "unknown"),
])
def test_azure_configuration_errors(monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], problem: str) -> None:
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    with pytest.raises(ValueError, match=problem):
        azure(**options)


def test_anthropic_defaults_and_base_url_forms() -> None:
    provider = anthropic()
    assert provider.messages_url == "https://api.anthropic.com/v1/messages" and provider.max_tokens == 4096
    assert anthropic(base_url="http://127.0.0.1:9/v1/").messages_url == "http://127.0.0.1:9/v1/messages"
    assert anthropic(max_tokens=64).max_tokens == 64


@pytest.mark.parametrize(("options", "problem"), [
    ({"api_key": ""}, "api_key"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"headers": ["x"]}, "headers"),
    ({"region": "x"}, "unknown"),
])
def test_anthropic_configuration_errors(monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], problem: str) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ValueError, match=problem):
        anthropic(**options)


def test_genai_names_and_breaker_identity_come_from_the_classes() -> None:
    from gateway.catalog import Catalog
    from gateway.routing.breaker import provider_identities
    assert AnthropicProvider.genai_system == "anthropic"
    assert AzureOpenAIProvider.genai_system == "azure.ai.openai"
    catalog = Catalog.model_validate({"providers": {
        "eu": {"type": "azure_openai", "endpoint": "https://eu.openai.azure.com", "api_key": "one"},
        "claude": {"type": "anthropic", "base_url": "https://api.anthropic.com", "api_key": "two"}}, "models": {}})
    identities = provider_identities(catalog)
    assert "endpoint=https://eu.openai.azure.com" in identities["eu"] and "one" not in identities["eu"]
    assert "base_url=https://api.anthropic.com" in identities["claude"] and "two" not in identities["claude"]
