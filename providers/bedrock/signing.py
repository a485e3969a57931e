"""Bedrock Runtime URLs and SigV4 signatures (botocore's signer, no botocore HTTP stack).

The model id is one path segment, percent-encoded the way botocore's rest-json serializer does
it: inference profile ids and ARNs hold ':' and '/', which must reach AWS as %3A and %2F.
SigV4 then encodes the path once more for its canonical request (every AWS service but S3),
which botocore's signer does. The HTTP client must send the path exactly as built here
(see `providers.bedrock.provider`, which hands aiohttp an already-encoded URL).
"""

from __future__ import annotations

from urllib.parse import quote

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

SIGNING_NAME = "bedrock"  # the service name in the credential scope (not bedrock-runtime)

EVENT_STREAM = "application/vnd.amazon.eventstream"


def default_endpoint(region: str) -> str:
    return f"https://bedrock-runtime.{region}.amazonaws.com"


def model_path(model_id: str, action: str) -> str:
    """`/model/{modelId}/{action}` with the id percent-encoded as botocore does (safe: -_.~)."""
    return f"/model/{quote(model_id, safe='-_.~')}/{action}"


def sign(credentials: ReadOnlyCredentials, region: str, url: str, body: bytes,
         headers: dict[str, str]) -> dict[str, str]:
    """Headers to send for a POST of `body` to `url`: the given ones plus X-Amz-Date,
    X-Amz-Security-Token (temporary credentials) and Authorization."""
    request = AWSRequest(method="POST", url=url, data=body, headers=headers)
    SigV4Auth(credentials, SIGNING_NAME, region).add_auth(request)
    return dict(request.headers.items())
