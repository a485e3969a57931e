"""Bedrock Runtime URLs and SigV4 signatures.

The model id is one path segment, percent-encoded the way botocore's rest-json serializer does
it: inference profile ids and ARNs hold ':' and '/', which must reach AWS as %3A and %2F.
SigV4 then encodes the path once more for its canonical request (every AWS service but S3),
which botocore's signer does. The HTTP client must send the path exactly as built here
(see `providers.bedrock.provider`, which hands aiohttp an already-encoded URL).

The signature is SigV4 as botocore's `SigV4Auth` computes it (tests/unit/providers/bedrock
checks the two agree), without its per-request machinery: the signing key -- four HMACs --
is derived once per secret, day and region, and a URL's canonical path and host once per
URL. botocore's signer took ~130 us per request (bench/sign_cost.py).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from functools import lru_cache
from urllib.parse import quote, urlsplit

from botocore.credentials import ReadOnlyCredentials
from botocore.utils import normalize_url_path

SIGNING_NAME = "bedrock"  # the service name in the credential scope (not bedrock-runtime)

EVENT_STREAM = "application/vnd.amazon.eventstream"


def default_endpoint(region: str) -> str:
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def model_path(model_id: str, action: str) -> str:
    """`/model/{modelId}/{action}` with the id percent-encoded as botocore does (safe: -_.~)."""
    return f"/model/{quote(model_id, safe='-_.~')}/{action}"


def sign(credentials: ReadOnlyCredentials, region: str, url: str, body: bytes,
         headers: dict[str, str], *, now: float | None = None) -> dict[str, str]:
    """Headers to send for a POST of `body` to `url`: the given ones plus X-Amz-Date,
    X-Amz-Security-Token (temporary credentials) and Authorization."""
    amz_date = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    out = dict(headers)
    out["X-Amz-Date"] = amz_date
    if credentials.token:
        out["X-Amz-Security-Token"] = credentials.token
    canonical_uri, host, query = _target(url)
    signed: dict[str, str] = {}
    for name, value in out.items():
        lowered = name.lower()
        if lowered not in _UNSIGNED:
            value = " ".join(value.split())
            signed[lowered] = f"{signed[lowered]},{value}" if lowered in signed else value
    signed.setdefault("host", host)
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical = "\n".join(("POST", canonical_uri, query, "".join(f"{n}:{signed[n]}\n" for n in names),
                           signed_headers, hashlib.sha256(body).hexdigest()))
    day = amz_date[:8]
    scope = f"{day}/{region}/{SIGNING_NAME}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(credentials.secret_key, day, region), to_sign.encode(),
                         hashlib.sha256).hexdigest()
    out["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key}/{scope}, "
                            f"SignedHeaders={signed_headers}, Signature={signature}")
    return out


# As botocore's SIGNED_HEADERS_BLACKLIST: headers a proxy or tracer may change on the way.
_UNSIGNED = frozenset({"authorization", "baggage", "connection", "expect", "keep-alive", "proxy-authenticate",
                       "proxy-authorization", "te", "traceparent", "tracestate", "trailer", "transfer-encoding",
                       "upgrade", "user-agent", "x-amzn-trace-id"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=64)
def _signing_key(secret_key: str, day: str, region: str) -> bytes:
    """kSigning of SigV4: a new one a day, or when the credentials rotate."""
    key = f"AWS4{secret_key}".encode()
    for part in (day, region, SIGNING_NAME, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


@lru_cache(maxsize=1024)
def _target(url: str) -> tuple[str, str, str]:
    """(canonical path, host header, canonical query) of a URL: a handful of models and actions."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None and parts.port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{parts.port}"
    # Every service but S3 encodes the already-encoded path once more.
    canonical_uri = quote(normalize_url_path(parts.path), safe="/~")
    # The query as botocore canonicalises a URL's own: pairs sorted, taken as already encoded.
    pairs = sorted((key, value) for key, _, value in (pair.partition("=") for pair in parts.query.split("&")))
    query = "&".join(f"{key}={value}" for key, value in pairs) if parts.query else ""
    return canonical_uri, host, query
