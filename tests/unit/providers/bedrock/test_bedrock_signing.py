"""Bedrock URLs and SigV4 headers, checked against an independent SigV4 computation."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from urllib.parse import quote, urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from providers.bedrock.signing import _signing_key, default_endpoint, model_path, sign

CREDENTIALS = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)


@pytest.mark.parametrize(("model_id", "path"), [
    ("anthropic.claude-3-haiku-20240307-v1:0", "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"),
    ("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.meta.llama3-2-1b-instruct-v1:0",
     "/model/arn%3Aaws%3Abedrock%3Aeu-west-1%3A123456789012%3Ainference-profile%2Feu.meta.llama3-2-1b-instruct-v1%3A0"
     "/converse"),
])
def test_model_path_encodes_the_id_as_one_segment(model_id: str, path: str) -> None:
    assert model_path(model_id, "converse") == path


def test_default_endpoint() -> None:
    assert default_endpoint("eu-central-1") == "https://bedrock-runtime.eu-central-1.amazonaws.com"


def reference_signature(secret: str, region: str, method: str, url: str, headers: dict[str, str],
                        signed: list[str], body: bytes, amz_date: str) -> str:
    """SigV4 from the AWS specification, written without botocore."""
    parts = urlsplit(url)
    canonical_uri = quote(parts.path, safe="/~")  # every service but S3 encodes the path twice
    lowered = {k.lower(): " ".join(v.split()) for k, v in headers.items()}
    lowered.setdefault("host", parts.netloc)
    canonical_headers = "".join(f"{name}:{lowered[name]}\n" for name in signed)
    canonical = "\n".join([method, canonical_uri, "", canonical_headers, ";".join(signed),
                           hashlib.sha256(body).hexdigest()])
    scope = f"{amz_date[:8]}/{region}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (amz_date[:8], region, "bedrock", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("credentials", [CREDENTIALS, ReadOnlyCredentials("ASIATEMP", "s3cr3t", "session-token")])
def test_signature_matches_the_specification(credentials: ReadOnlyCredentials) -> None:
    model = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-sonnet-4-20250514-v1:0"
    url = "https://vpce-0abc.bedrock-runtime.us-west-2.vpce.amazonaws.com" + model_path(model, "converse-stream")
    body = b'{"messages":[{"role":"user","content":[{"text":"hi"}]}]}'
    headers = sign(credentials, "us-west-2", url, body,
                   {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"})
    match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=(\w+)/(\d{8})/us-west-2/bedrock/aws4_request, "
                         r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})", headers["Authorization"])
    assert match is not None, headers["Authorization"]
    access_key, date, signed, signature = match.groups()
    assert access_key == credentials.access_key and headers["X-Amz-Date"].startswith(date)
    assert {"host", "x-amz-date", "content-type"} <= set(signed.split(";"))
    if credentials.token:
        assert headers["X-Amz-Security-Token"] == credentials.token
        assert "x-amz-security-token" in signed.split(";")
    else:
        assert "X-Amz-Security-Token" not in headers
    expected = reference_signature(credentials.secret_key, "us-west-2", "POST", url,
                                   {k: v for k, v in headers.items() if k != "Authorization"},
                                   signed.split(";"), body, headers["X-Amz-Date"])
    assert signature == expected
    assert credentials.secret_key not in str(headers)


def botocore_headers(credentials: ReadOnlyCredentials, region: str, url: str, body: bytes,
                     headers: dict[str, str], now: float) -> dict[str, str]:
    """What botocore's SigV4Auth sends for the same request at the same instant."""
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    auth = SigV4Auth(credentials, "bedrock", region)
    request.context["timestamp"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    auth._modify_request_before_signing(request)
    del request.headers["X-Amz-Date"]                               # set from botocore's own clock
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    auth._inject_signature_to_request(request, signature)
    return dict(request.headers.items())


@pytest.mark.parametrize("url", [
    "https://bedrock-runtime.us-east-1.amazonaws.com" + model_path("anthropic.claude-3-haiku-20240307-v1:0", "converse"),
    "https://vpce-1.bedrock-runtime.eu-west-1.vpce.amazonaws.com:8443"
    + model_path("arn:aws:bedrock:eu-west-1:1:inference-profile/eu.x-v1:0", "converse-stream"),
    "http://[::1]:9000/model/m/invoke?b=2&a=1",
])
@pytest.mark.parametrize("credentials", [CREDENTIALS, ReadOnlyCredentials("ASIATEMP", "s3cr3t", "session-token")])
def test_the_same_headers_as_botocores_signer(url: str, credentials: ReadOnlyCredentials) -> None:
    body = b'{"messages":[{"role":"user","content":[{"text":"hi   there"}]}]}'
    headers = {"Content-Type": "application/json", "Accept": "  application/vnd.amazon.eventstream  ",
               "X-Custom": "a   b", "User-Agent": "not signed", "traceparent": "00-1-2-01"}
    for now in (1_795_000_000.0, 1_795_000_000.0 + 86_400 * 3 + 17):   # two days: two signing keys
        assert sign(credentials, "eu-west-1", url, body, headers, now=now) == \
            botocore_headers(credentials, "eu-west-1", url, body, headers, now)


def test_the_signing_key_is_derived_once_per_day_and_region() -> None:
    _signing_key.cache_clear()
    url = default_endpoint("us-east-1") + model_path("m", "converse")
    for i in range(50):
        sign(CREDENTIALS, "us-east-1", url, b"{}", {}, now=1_795_000_000.0 + i)
    sign(CREDENTIALS, "us-west-2", url, b"{}", {}, now=1_795_000_000.0)
    sign(CREDENTIALS, "us-east-1", url, b"{}", {}, now=1_795_000_000.0 + 86_400)
    info = _signing_key.cache_info()
    assert (info.misses, info.hits) == (3, 49)
