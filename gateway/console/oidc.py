"""OpenID Connect sign-in for the console: authorization code with PKCE (S256), a nonce and a
state, through Authlib. The provider's metadata and signing keys are discovered from the
issuer (`/.well-known/openid-configuration`) on first use and kept; the keys are fetched
again once when an ID token names a key id not seen yet (the provider rotated its keys).

The pending login (state, nonce, PKCE verifier, the page to return to) travels in a short-lived
HttpOnly cookie of its own, so any replica of the admin deployment can finish it."""

from __future__ import annotations

import asyncio
import base64
import secrets
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from authlib.oauth2.rfc6749 import OAuth2Error
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from gateway.identity.roles import Role, parse_role_map, role_from_claims

if TYPE_CHECKING:
    from authlib.integrations.httpx_client import AsyncOAuth2Client
from gateway.settings import Settings

PENDING_COOKIE = "gw_console_login"
PENDING_SECONDS = 600
_TIMEOUT_SECONDS = 10.0
_TIMEOUT = httpx.Timeout(_TIMEOUT_SECONDS)
_LEEWAY_SECONDS = 120
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class LoginError(Exception):
    """A sign-in that cannot complete; the message is safe to show to the person."""


@dataclass(frozen=True, slots=True)
class Pending:
    state: str
    nonce: str
    verifier: str
    next: str

    def encode(self) -> str:
        raw = orjson.dumps({"s": self.state, "n": self.nonce, "v": self.verifier, "x": self.next})
        return base64.urlsafe_b64encode(raw).decode()

    @classmethod
    def decode(cls, text: str | None) -> Pending | None:
        if not text or len(text) > 2048:
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(text.encode()))
            return cls(state=str(data["s"]), nonce=str(data["n"]), verifier=str(data["v"]), next=str(data["x"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str
    email: str | None
    name: str | None
    role: Role | None


class OidcClient:
    def __init__(self, settings: Settings) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            raise ValueError("OIDC needs GATEWAY_OIDC_ISSUER and GATEWAY_OIDC_CLIENT_ID")
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        self._scopes = settings.oidc_scopes
        self._roles_claim = settings.oidc_roles_claim
        self._role_map = parse_role_map(settings.oidc_role_map)
        self._metadata: dict[str, Any] | None = None
        self._jwks: dict[str, Any] | None = None
        self._lock = asyncio.Lock()

    def _client(self, redirect_uri: str) -> AsyncOAuth2Client:
        with warnings.catch_warnings():
            # Imported on use (only with OIDC configured), quietly: Authlib 1.9 warns at import
            # that its httpx integration will move to `httpx2`; it works as it is, and the
            # warning otherwise greets every start of every gateway.
            warnings.simplefilter("ignore")
            from authlib.integrations.httpx_client import AsyncOAuth2Client
        return AsyncOAuth2Client(
            client_id=self.client_id, client_secret=self._secret, scope=self._scopes, redirect_uri=redirect_uri,
            code_challenge_method="S256", timeout=_TIMEOUT_SECONDS,
            token_endpoint_auth_method="client_secret_post" if self._secret else "none")

    async def metadata(self) -> dict[str, Any]:
        async with self._lock:
            if self._metadata is None:
                self._metadata = await _get_json(f"{self.issuer}/.well-known/openid-configuration")
                if str(self._metadata.get("issuer", "")).rstrip("/") != self.issuer:
                    self._metadata = None
                    raise LoginError("The identity provider's metadata names another issuer.")
            return self._metadata

    async def start(self, redirect_uri: str, next_path: str) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and the pending login to keep."""
        meta = await self.metadata()
        pending = Pending(state=secrets.token_urlsafe(24), nonce=secrets.token_urlsafe(24),
                          verifier=secrets.token_urlsafe(48), next=next_path)
        async with self._client(redirect_uri) as client:
            url, _ = client.create_authorization_url(meta["authorization_endpoint"], state=pending.state,
                                                     code_verifier=pending.verifier, nonce=pending.nonce)
        return url, pending

    async def finish(self, redirect_uri: str, pending: Pending, *, state: str | None, code: str | None) -> Identity:
        """Exchanges the code (with the PKCE verifier), checks the ID token and reads the person."""
        if not state or not secrets.compare_digest(state, pending.state):
            raise LoginError("The sign-in could not be matched to this browser; start again.")
        if not code:
            raise LoginError("The identity provider returned no authorization code.")
        meta = await self.metadata()
        try:
            async with self._client(redirect_uri) as client:
                token = await client.fetch_token(meta["token_endpoint"], grant_type="authorization_code",
                                                 code=code, code_verifier=pending.verifier)
        except (OAuth2Error, httpx.HTTPError) as exc:
            raise LoginError(f"The identity provider refused the code exchange ({type(exc).__name__}).") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise LoginError("The identity provider returned no ID token.")
        claims = await self._verify(id_token, pending.nonce)
        email = claims.get("email") or claims.get("preferred_username") or claims.get("upn")
        return Identity(subject=str(claims["sub"]), email=str(email) if email else None,
                        name=str(claims["name"]) if claims.get("name") else None,
                        role=role_from_claims(claims, self._roles_claim, self._role_map))

    async def _verify(self, id_token: str, nonce: str) -> dict[str, Any]:
        """The ID token's signature (the provider's published keys), issuer, audience, expiry
        and nonce; joserfc refuses `none` and symmetric algorithms with a public key."""
        meta = await self.metadata()
        registry = jwt.JWTClaimsRegistry(
            leeway=_LEEWAY_SECONDS, iss={"essential": True, "value": meta["issuer"]},
            aud={"essential": True, "value": self.client_id}, sub={"essential": True},
            exp={"essential": True}, nonce={"essential": True, "value": nonce})
        for attempt in range(2):
            keys = await self._keys(refresh=attempt > 0)
            try:
                token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
                registry.validate(token.claims)
                return dict(token.claims)
            except InvalidKeyIdError:   # a key id not seen yet: the provider rotated its keys
                continue
            except (JoseError, ValueError) as exc:
                code = exc.error if isinstance(exc, JoseError) else "malformed"
                raise LoginError(f"The ID token was not accepted ({code}).") from None
        raise LoginError("The ID token is signed with a key the provider does not publish.")

    async def _keys(self, *, refresh: bool) -> KeySet:
        if self._jwks is None or refresh:
            meta = await self.metadata()
            self._jwks = await _get_json(meta["jwks_uri"])
        return KeySet.import_key_set(self._jwks)  # type: ignore[arg-type]


async def _get_json(url: str) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
            response = await client.get(url)
            response.raise_for_status()
            data = response.json()
    except (httpx.HTTPError, ValueError):
        raise LoginError("The identity provider could not be reached.") from None
    if not isinstance(data, dict):
        raise LoginError("The identity provider answered with something other than a JSON object.")
    return data
