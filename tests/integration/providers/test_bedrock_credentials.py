"""The provider with credentials from boto3's chain, end to end: a shared-credentials profile,
and IRSA (web identity) with STS answered by the fake, refreshed before expiry."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from providers.base import ChatRequest, ChatResult, ErrorKind, ProviderConfig, ProviderError
from providers.bedrock import BedrockProvider
from tests.fakes.bedrock_server import FakeBedrock, isolate_aws

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"
BODY = {"messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def empty_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_aws(monkeypatch, tmp_path)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBedrock]:
    async with FakeBedrock.running() as server:
        yield server


async def call(fake: FakeBedrock, **options: str) -> tuple[BedrockProvider, ChatResult]:
    provider = BedrockProvider.from_config(ProviderConfig("bedrock-use1", "bedrock", {
        "region": "us-east-1", "endpoint_url": fake.url, **options}))
    await provider.start()
    try:
        result = await provider.chat(ChatRequest(BODY), MODEL)
    except BaseException:
        await provider.close()
        raise
    assert isinstance(result, ChatResult)
    return provider, result


async def test_named_profile_from_the_shared_credentials_file(fake: FakeBedrock, tmp_path: Path) -> None:
    fake.credentials["AKIDPROFILE"] = ("profile-secret", None)
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = wrong\n"
        "[gateway-prod]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n")
    provider, _ = await call(fake, profile="gateway-prod")
    await provider.close()
    assert fake.received[-1].access_key == "AKIDPROFILE"


async def test_irsa_web_identity_with_refresh_before_expiry(fake: FakeBedrock, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("eyJhbGciOiJSUzI1NiJ9.fake-service-account-token.sig")
    monkeypatch.setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/gateway")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", fake.url + "/sts")
    # STS hands out credentials that are already inside botocore's 15-minute refresh window.
    fake.sts_lifetime = timedelta(minutes=14)
    provider, _ = await call(fake)
    try:
        first_key = fake.received[-1].access_key
        assert first_key.startswith("ASIAFAKESTS")
        assert fake.received[-1].headers["X-Amz-Security-Token"].startswith("sts-token-")
        calls_before = fake.sts_calls
        # The next request is signed at once with the valid key while a thread refreshes.
        await provider.chat(ChatRequest(BODY), MODEL)
        assert fake.received[-1].access_key == first_key
        for _ in range(100):  # bounded: 10 s at most
            if fake.sts_calls > calls_before and not provider.credentials._running():
                break
            await asyncio.sleep(0.1)
        await provider.chat(ChatRequest(BODY), MODEL)
        assert fake.received[-1].access_key > first_key
    finally:
        await provider.close()


async def test_expired_token_is_an_auth_error(fake: FakeBedrock, tmp_path: Path) -> None:
    fake.credentials["AKIDOLD"] = ("old-secret", None)
    fake.expired_keys.add("AKIDOLD")
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = AKIDOLD\naws_secret_access_key = old-secret\n")
    with pytest.raises(ProviderError) as caught:
        await call(fake)
    assert caught.value.kind is ErrorKind.AUTH and "ExpiredTokenException" in caught.value.message


async def test_no_credentials_anywhere(fake: FakeBedrock) -> None:
    provider = BedrockProvider.from_config(ProviderConfig("bedrock-use1", "bedrock", {
        "region": "us-east-1", "endpoint_url": fake.url}))
    await provider.start()
    try:
        assert provider.credentials.problem
        with pytest.raises(ProviderError) as caught:
            await provider.chat(ChatRequest(BODY), MODEL)
        assert caught.value.kind is ErrorKind.AUTH and fake.received == []
    finally:
        await provider.close()
