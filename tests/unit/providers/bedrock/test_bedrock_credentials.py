"""Credentials from boto3's chain: environment, profile (credential_process), none; refreshed
in a worker thread before expiry without making requests wait."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from providers.base import ErrorKind, ProviderError
from providers.bedrock.credentials import CredentialSource
from tests.fakes.bedrock_server import isolate_aws

# A credential_process (part of boto3's profile chain): each run hands out the next key, valid
# for as many seconds as `lifetime` holds, after sleeping `delay` seconds.
PROCESS = """
import datetime, json, pathlib, sys, time
state = pathlib.Path(sys.argv[1])
count = int((state / "count").read_text() or 0) + 1 if (state / "count").exists() else 1
(state / "count").write_text(str(count))
time.sleep(float((state / "delay").read_text()) if count > 1 else 0)
lifetime = float((state / "lifetime").read_text())
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
print(json.dumps({"Version": 1, "AccessKeyId": f"ASIAPROC{count:04d}", "SecretAccessKey": f"secret-{count}",
                  "SessionToken": f"token-{count}", "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}))
"""


@pytest.fixture
def bare_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An AWS environment with nothing in it: no keys, no files, no instance metadata."""
    isolate_aws(monkeypatch, tmp_path)
    return tmp_path


def process_profile(tmp_path: Path, *, lifetime: float, delay: float = 0.0) -> None:
    (tmp_path / "proc.py").write_text(PROCESS)
    (tmp_path / "lifetime").write_text(str(lifetime))
    (tmp_path / "delay").write_text(str(delay))
    (tmp_path / "config").write_text(
        f"[profile gateway]\ncredential_process = {sys.executable} {tmp_path / 'proc.py'} {tmp_path}\n")


async def test_environment_credentials(bare_aws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    source = CredentialSource(provider="b", region="us-east-1")
    await source.start()
    credentials = await source.get()
    assert (credentials.access_key, credentials.secret_key, credentials.token) == ("AKIDENV", "env-secret", None)
    assert source.problem == ""


async def test_no_credentials_is_an_auth_error_not_a_crash(bare_aws: Path) -> None:
    source = CredentialSource(provider="bedrock-use1", region="us-east-1")
    await source.start()
    assert source.problem
    with pytest.raises(ProviderError) as caught:
        await source.get()
    assert caught.value.kind is ErrorKind.AUTH and caught.value.status == 502
    assert "bedrock-use1" in caught.value.message


async def test_unknown_profile_is_named(bare_aws: Path) -> None:
    source = CredentialSource(provider="b", profile="nope", region="us-east-1")
    await source.start()
    with pytest.raises(ProviderError, match="nope"):
        await source.get()


async def test_profile_credentials_refresh_in_the_background_before_expiry(bare_aws: Path) -> None:
    # 14 minutes left: inside botocore's 15-minute advisory window, far from expiry.
    process_profile(bare_aws, lifetime=14 * 60, delay=0.5)
    source = CredentialSource(provider="b", profile="gateway", region="us-east-1")
    await source.start()
    assert source.frozen is not None
    first = source.frozen.access_key
    credentials = await source.get()
    # The request got the still-valid key at once; the refresh runs in a thread meanwhile.
    assert credentials.access_key == first
    assert source._running()
    for _ in range(100):  # bounded: 10 s at most
        if not source._running():
            break
        await asyncio.sleep(0.1)
    assert (await source.get()).access_key > first
    await source.close()


async def test_nearly_expired_credentials_make_the_request_wait_for_fresh_ones(bare_aws: Path) -> None:
    process_profile(bare_aws, lifetime=30)  # under MUST_REFRESH_SECONDS
    source = CredentialSource(provider="b", profile="gateway", region="us-east-1")
    await source.start()
    assert source.frozen is not None
    first = source.frozen.access_key
    assert (await source.get()).access_key > first
    await source.close()
