"""Bedrock's errors -> ProviderError: which are retryable, and what the client is told.

Bedrock (rest-json) names the error in the `x-amzn-errortype` header
(`ThrottlingException:http://internal.amazon.com/coral/...`) and puts `{"message": ...}` in the
body; inside a ConverseStream an exception arrives as an event-stream message with
`:message-type: exception` and `:exception-type: throttlingException`.

The ProviderError *message* may reach logs, so for client faults it names only the error type;
Bedrock's own text (which can quote the request) goes into the OpenAI-shaped *body* for the
client. Auth errors carry Bedrock's text in the message with ARNs and account ids scrubbed: it
names the action an operator must allow, never a secret or the gateway's AWS identity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from providers.base import JSON, ErrorKind, ProviderError

RATE_LIMITED_TYPES = {"ThrottlingException", "ServiceQuotaExceededException", "TooManyRequestsException"}
UNAVAILABLE_TYPES = {"ServiceUnavailableException", "ModelNotReadyException"}
SERVER_TYPES = {"InternalServerException", "ModelErrorException", "ModelStreamErrorException",
                "InternalFailure", "ServiceFailure"}
TIMEOUT_TYPES = {"ModelTimeoutException", "RequestTimeout", "RequestTimeoutException"}
AUTH_TYPES = {"AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
              "ExpiredTokenException", "IncompleteSignatureException",
              "MissingAuthenticationTokenException", "InvalidClientTokenId", "NotAuthorized"}
BAD_REQUEST_TYPES = {"ValidationException", "SerializationException"}


_ARN = re.compile(r"arn:aws[a-z-]*:[^\s,;\"']+")
_ACCOUNT_ID = re.compile(r"\b\d{12}\b")


def scrub_identity(text: str) -> str:
    """Bedrock's AccessDenied text names the role ARN and the AWS account; a tenant has no
    business seeing either. The action and model that the IAM policy lacks stay."""
    return _ACCOUNT_ID.sub("<account>", _ARN.sub("<arn>", text))


def openai_error_body(message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                      code: str | None = None) -> JSON:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def bad_request(message: str, *, param: str | None = None, provider: str = "") -> ProviderError:
    """A request Bedrock cannot serve as asked: a 400 the gateway passes to the client."""
    return ProviderError(ErrorKind.BAD_REQUEST, message, status=400,
                         body=openai_error_body(message, param=param), provider=provider)


def error_type_from_header(value: str | None) -> str:
    """`ThrottlingException:http://internal...` -> `ThrottlingException`."""
    return value.split(":", 1)[0].strip() if value else ""


def _message_of(payload: Mapping[str, Any]) -> str:
    for key in ("message", "Message", "errorMessage"):
        value = payload.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def parse_error_body(body: bytes) -> tuple[str, str]:
    """(error type from `__type`, message) from an AWS JSON error body; blanks when unreadable."""
    try:
        payload = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(payload, dict):
        return "", ""
    return error_type_from_header(str(payload.get("__type") or "")).split("#")[-1], _message_of(payload)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def from_response(status: int, headers: Mapping[str, str], body: bytes, *, provider: str,
                  model: str) -> ProviderError:
    """An HTTP error answer from Bedrock (Converse, ConverseStream or InvokeModel)."""
    body_type, message = parse_error_body(body)
    error_type = error_type_from_header(headers.get("x-amzn-errortype")) or body_type
    return classify(error_type, message, status=status, provider=provider, model=model,
                    retry_after=_retry_after(headers))


def classify(error_type: str, message: str, *, status: int, provider: str, model: str,
             retry_after: float | None = None) -> ProviderError:
    """Maps one Bedrock error type (with its HTTP status as a fallback) to a ProviderError."""
    name = error_type or f"HTTP {status}"
    text = message or "no message"
    if error_type in RATE_LIMITED_TYPES or (not error_type and status == 429):
        return ProviderError(ErrorKind.RATE_LIMITED, f"Bedrock throttled the request ({name})", status=429,
                             body=openai_error_body(f"Bedrock: {text}", type_="rate_limit_error",
                                                    code="rate_limit_exceeded"),
                             retry_after=retry_after, provider=provider)
    if error_type in UNAVAILABLE_TYPES or (not error_type and status == 503):
        return ProviderError(ErrorKind.SERVER, f"Bedrock is unavailable for {model} ({name})", status=503,
                             retry_after=retry_after, provider=provider)
    if error_type in TIMEOUT_TYPES or (not error_type and status in (408, 504)):
        return ProviderError(ErrorKind.TIMEOUT, f"Bedrock timed out ({name})", status=504, provider=provider)
    if error_type in SERVER_TYPES or (not error_type and status >= 500):
        return ProviderError(ErrorKind.SERVER, f"Bedrock failed ({name})", status=502, provider=provider)
    if error_type in AUTH_TYPES or (not error_type and status in (401, 403)):
        return ProviderError(
            ErrorKind.AUTH,
            f"Bedrock refused the gateway's AWS credentials ({name}): {scrub_identity(text)}. "
            f"Check the IAM policy allows bedrock:InvokeModel / InvokeModelWithResponseStream on {model}.",
            status=502, provider=provider)
    if error_type == "ResourceNotFoundException" or (not error_type and status == 404):
        # A 4xx: says nothing against the deployment's health (one breaker rule for all).
        text = f"Bedrock does not know model {model} ({name}); check the catalog's upstream id and region"
        return ProviderError(ErrorKind.BAD_REQUEST, text, status=404,
                             body=openai_error_body(text, code="model_not_found"), provider=provider)
    if error_type in BAD_REQUEST_TYPES or 400 <= status < 500:
        return ProviderError(ErrorKind.BAD_REQUEST, f"Bedrock rejected the request ({name})", status=400,
                             body=openai_error_body(text), provider=provider)
    return ProviderError(ErrorKind.BAD_RESPONSE, f"unexpected answer from Bedrock ({name}, HTTP {status})",
                         status=502, provider=provider)


def from_stream_exception(exception_type: str, payload: bytes, *, provider: str, model: str,
                          started: bool) -> ProviderError:
    """An exception event inside ConverseStream. Before the first chunk reached the client it is
    classified like the HTTP error of the same name (so throttling stays retryable); after, the
    stream is broken and only ErrorKind.STREAM is honest."""
    _, message = parse_error_body(payload)
    # Event names are lowerCamel (`throttlingException`); the HTTP error names are UpperCamel.
    error_type = exception_type[:1].upper() + exception_type[1:]
    status = 429 if error_type in RATE_LIMITED_TYPES else 400 if error_type in BAD_REQUEST_TYPES else 502
    error = classify(error_type, message, status=status, provider=provider, model=model)
    if not started:
        return error
    return ProviderError(ErrorKind.STREAM, f"Bedrock stream failed mid-way ({error_type})", status=502,
                         body=openai_error_body(f"upstream stream failed: {error_type}",
                                                type_="server_error"),
                         provider=provider)
