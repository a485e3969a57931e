"""Azure OpenAI: OpenAI's wire format at Azure's URLs, with Azure's credentials.

URLs: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...` (and
`/embeddings`), the catalog's upstream model being the deployment name; with
`api_version: v1` the newer `{endpoint}/openai/v1/chat/completions` style, the deployment name
travelling as the body's `model`.

Credentials: an `api-key` header, or a Microsoft Entra ID bearer token got by the OAuth2
client-credentials flow from `{authority}/oauth2/v2.0/token` for the Cognitive Services scope,
cached until shortly before it expires. Everything else (bodies, streams, error classes) is the
OpenAI-compatible base's.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import aiohttp
import orjson

from providers.base import ErrorKind, ProviderConfig, ProviderError, Timeouts
from providers.http import Transport
from providers.openai_compat import OpenAICompatibleProvider

DEFAULT_API_VERSION = "2024-10-21"          # the latest GA data-plane version
V1 = "v1"                                   # api_version value selecting the /openai/v1/ routes
DEFAULT_AUTHORITY = "https://login.microsoftonline.com/{tenant_id}"
DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
# A token is renewed this long before it expires (or at half its life, if that is sooner).
REFRESH_MARGIN_SECONDS = 300.0


_FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded"}


class EntraToken:
    """One client-credentials token, fetched on first use and again shortly before it expires;
    concurrent callers share one fetch. Failures never carry the secret or the token."""

    def __init__(self, provider: str, *, token_url: str, client_id: str, client_secret: str, scope: str,
                 session: Callable[[], Transport], timeouts: Timeouts,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.provider = provider
        self.token_url = token_url
        self._form = urlencode({"grant_type": "client_credentials", "client_id": client_id,
                                "client_secret": client_secret, "scope": scope}).encode()
        self._session = session
        self._timeouts = timeouts
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self._token is not None and self._clock() < self._renew_at:
            return self._token
        async with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = await self._fetch()
                self._renew_at = self._clock() + max(0.0, lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2))
            return self._token

    async def _fetch(self) -> tuple[str, float]:
        try:
            async with asyncio.timeout(self._timeouts.connect + self._timeouts.first_byte):
                response = await self._session().post(
                    self.token_url, data=self._form, headers=_FORM_HEADERS,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._timeouts.connect))
                try:
                    raw = await response.read()
                    status = response.status
                finally:
                    response.release()
        except TimeoutError:
            raise self._error(ErrorKind.TIMEOUT, "no answer from the Entra ID token endpoint in time",
                              504) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise self._error(ErrorKind.CONNECT, f"cannot reach the Entra ID token endpoint "
                                                 f"({type(exc).__name__})") from None
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            body = {}
        if status != 200:
            # `error` is an OAuth2 code (invalid_client, unauthorized_client...); the description
            # carries correlation ids and stays out of the message.
            code = str(body.get("error") or f"HTTP {status}")[:64]
            kind = ErrorKind.SERVER if status >= 500 or status == 429 else ErrorKind.AUTH
            raise self._error(kind, f"Entra ID refused the gateway's client credentials ({code}); check "
                                    f"providers.{self.provider}.tenant_id / client_id / client_secret")
        token, lifetime = body.get("access_token"), body.get("expires_in")
        if isinstance(lifetime, str) and lifetime.isdigit():
            lifetime = int(lifetime)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise self._error(ErrorKind.AUTH, "the Entra ID token endpoint answered without a token")
        return token, float(lifetime)

    def _error(self, kind: ErrorKind, message: str, status: int = 502) -> ProviderError:
        return ProviderError(kind, f"{message} (provider {self.provider})", status=status, provider=self.provider)


class AzureOpenAIProvider(OpenAICompatibleProvider):
    type = "azure_openai"
    genai_system: ClassVar[str] = "azure.ai.openai"
    options: ClassVar[frozenset[str]] = frozenset(
        {"endpoint", "api_version", "api_key", "tenant_id", "client_id", "client_secret", "authority", "scope",
         "timeouts", "headers"})
    identity_options: ClassVar[tuple[str, ...]] = ("endpoint",)

    def __init__(self, name: str, endpoint: str, *, api_version: str = DEFAULT_API_VERSION,
                 api_key: str | None = None, timeouts: Timeouts | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(name, [endpoint], timeouts=timeouts, headers=headers)
        self.api_version = api_version
        self._azure_key = api_key
        self.token: EntraToken | None = None

    @classmethod
    def from_config(cls, config: ProviderConfig) -> AzureOpenAIProvider:
        options, name = config.options, config.name
        unknown = sorted(set(options) - cls.options - {"type"})
        if unknown:
            raise ValueError(f"provider {name!r}: unknown azure_openai options: {', '.join(unknown)}")
        endpoint = options.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("https://", "http://")):
            raise ValueError(f"provider {name!r}: azure_openai needs `endpoint`, the resource's URL "
                             "(https://<resource>.openai.azure.com)")
        entra = {k: options.get(k) for k in ("tenant_id", "client_id", "client_secret")}
        api_key = options.get("api_key")
        if api_key and any(entra.values()):
            raise ValueError(f"provider {name!r}: give either `api_key` or tenant_id/client_id/client_secret")
        if any(entra.values()) and not all(entra.values()):
            missing = ", ".join(k for k, v in entra.items() if not v)
            raise ValueError(f"provider {name!r}: Entra ID sign-in needs {missing} as well")
        if not any(entra.values()):
            api_key = api_key or os.environ.get("AZURE_OPENAI_API_KEY")
            if not api_key:
                raise ValueError(f"provider {name!r}: azure_openai needs `api_key` (or AZURE_OPENAI_API_KEY) "
                                 "or tenant_id/client_id/client_secret")
        provider = cls(name, endpoint.rstrip("/").removesuffix("/openai"),
                       api_version=str(options.get("api_version") or DEFAULT_API_VERSION),
                       api_key=str(api_key) if api_key else None,
                       timeouts=Timeouts.from_options(options.get("timeouts")), headers=options.get("headers"))
        if all(entra.values()):
            authority = str(options.get("authority") or DEFAULT_AUTHORITY).format(tenant_id=entra["tenant_id"])
            provider.token = EntraToken(name, token_url=authority.rstrip("/") + "/oauth2/v2.0/token",
                                        client_id=str(entra["client_id"]), client_secret=str(entra["client_secret"]),
                                        scope=str(options.get("scope") or DEFAULT_SCOPE),
                                        session=lambda: provider.session, timeouts=provider.timeouts)
        return provider

    # -- the two hooks of the OpenAI-compatible base ------------------------------------------

    def url(self, endpoint: str, route: str, upstream_model: str) -> str:
        if self.api_version == V1:
            return f"{endpoint}/openai/v1/{route}"
        return (f"{endpoint}/openai/deployments/{quote(upstream_model, safe='')}/{route}"
                f"?api-version={quote(self.api_version, safe='')}")

    async def auth_headers(self) -> Mapping[str, str]:
        if self.token is not None:
            return {"Authorization": f"Bearer {await self.token.get()}"}
        return {"api-key": self._azure_key} if self._azure_key else {}
