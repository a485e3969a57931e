"""The ID token checks, against tokens made here: signature by a published key, issuer,
audience, nonce and expiry; an unsigned token and a token from another key are refused."""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from pydantic import SecretStr

from gateway.console.oidc import LoginError, OidcClient
from gateway.settings import Settings

ISSUER = "https://login.example.com/tenant/v2.0"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})


def client() -> OidcClient:
    oidc = OidcClient(Settings(oidc_issuer=ISSUER, oidc_client_id="console", oidc_client_secret=SecretStr("s")))
    oidc._metadata = {"issuer": ISSUER, "jwks_uri": "https://login.example.com/keys"}
    oidc._jwks = dict(KeySet([KEY]).as_dict(private=False))

    async def no_refresh(*, refresh: bool) -> KeySet:
        return KeySet.import_key_set(oidc._jwks)  # type: ignore[arg-type]
    oidc._keys = no_refresh  # type: ignore[method-assign]
    return oidc


def token(key: Any = KEY, alg: str = "RS256", **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "console", "sub": "u1", "nonce": "n1", "iat": now, "exp": now + 300,
              "email": "u1@example.com", **overrides}
    return str(jwt.encode({"alg": alg, "kid": "k1"}, claims, key))


async def test_a_good_token_gives_its_claims() -> None:
    claims = await client()._verify(token(), "n1")
    assert (claims["sub"], claims["email"]) == ("u1", "u1@example.com")


@pytest.mark.parametrize("overrides", [{"aud": "another-app"}, {"iss": "https://evil.example"},
                                       {"nonce": "replayed"}, {"exp": int(time.time()) - 3600}])
async def test_a_token_for_someone_else_or_too_old_is_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(LoginError, match="not accepted"):
        await client()._verify(token(**overrides), "n1")


async def test_a_token_signed_by_another_key_is_refused() -> None:
    other = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    with pytest.raises(LoginError):
        await client()._verify(token(key=other), "n1")


async def test_an_unsigned_token_is_refused() -> None:
    header = "eyJhbGciOiJub25lIiwia2lkIjoiazEifQ"   # {"alg":"none","kid":"k1"}
    body = token().split(".")[1]
    with pytest.raises(LoginError):
        await client()._verify(f"{header}.{body}.", "n1")
