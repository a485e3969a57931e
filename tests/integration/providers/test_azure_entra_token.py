"""The Entra ID client-credentials token of the Azure OpenAI provider against the fake token
endpoint: one fetch for concurrent callers, and failures that are classified and carry no secret."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from providers import build_provider
from providers.azure_openai import AzureOpenAIProvider
from providers.base import ErrorKind, ProviderConfig, ProviderError
from tests.fakes import azure_openai_upstream as azure
from tests.fakes.azure_openai_upstream import FakeAzureOpenAI, running_fake_azure


@pytest.fixture
def fake() -> Iterator[FakeAzureOpenAI]:
    with running_fake_azure() as server:
        yield server


@asynccontextmanager
async def provider_for(authority: str, secret: str = azure.CLIENT_SECRET) -> AsyncIterator[AzureOpenAIProvider]:
    provider = build_provider(ProviderConfig("az", "azure_openai", {
        "endpoint": "http://127.0.0.1:9", "tenant_id": azure.TENANT, "client_id": azure.CLIENT_ID,
        "client_secret": secret, "authority": authority, "timeouts": {"connect": 1, "first_byte": 2}}))
    assert isinstance(provider, AzureOpenAIProvider)
    await provider.start()
    try:
        yield provider
    finally:
        await provider.close()


async def test_concurrent_callers_share_one_token_fetch(fake: FakeAzureOpenAI) -> None:
    async with provider_for(fake.authority) as provider:
        headers = await asyncio.gather(*(provider.auth_headers() for _ in range(20)))
        assert fake.token_requests == 1
        assert len({h["Authorization"] for h in headers}) == 1
        assert headers[0]["Authorization"].startswith("Bearer ") and len(headers[0]["Authorization"]) > 20


async def test_refused_secret_is_an_auth_error_without_the_secret(fake: FakeAzureOpenAI) -> None:
    async with provider_for(fake.authority, secret="not-the-secret-42") as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.auth_headers()
        error = caught.value
        assert error.kind is ErrorKind.AUTH and error.status == 502 and not error.retryable
        assert "invalid_client" in error.message and "not-the-secret-42" not in error.message
        assert "AADSTS" not in error.message


async def test_unreachable_token_endpoint_is_a_connect_error() -> None:
    async with provider_for("http://127.0.0.1:9/{tenant_id}") as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.auth_headers()
        assert caught.value.kind is ErrorKind.CONNECT and caught.value.retryable
