"""Bedrock URLs and SigV4 headers, checked against an independent SigV4 computation."""

from __future__ import annotations

import hashlib
import hmac
import re
from urllib.parse import quote, urlsplit

import pytest
from botocore.credentials import ReadOnlyCredentials

from providers.bedrock.signing import default_endpoint, model_path, sign

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
