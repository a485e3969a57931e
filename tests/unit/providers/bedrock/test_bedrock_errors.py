"""Bedrock error answers -> ProviderError kinds, statuses and client-visible bodies."""

from __future__ import annotations

import orjson
import pytest

from providers.base import ErrorKind
from providers.bedrock.errors import classify, from_response, from_stream_exception

MODEL = "us.anthropic.claude-sonnet-4-20250514-v1:0"


def answer(error_type: str, status: int, message: str = "m", **headers: str) -> tuple[int, dict[str, str], bytes]:
    return status, {"x-amzn-errortype": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
                    **headers}, orjson.dumps({"message": message})


@pytest.mark.parametrize(("error_type", "status", "kind", "client_status", "retryable"), [
    ("ThrottlingException", 429, ErrorKind.RATE_LIMITED, 429, True),
    ("ServiceQuotaExceededException", 400, ErrorKind.RATE_LIMITED, 429, True),
    ("ServiceUnavailableException", 503, ErrorKind.SERVER, 503, True),
    ("ModelNotReadyException", 429, ErrorKind.SERVER, 503, True),
    ("InternalServerException", 500, ErrorKind.SERVER, 502, True),
    ("ModelErrorException", 424, ErrorKind.SERVER, 502, True),
    ("ModelTimeoutException", 408, ErrorKind.TIMEOUT, 504, True),
    ("ValidationException", 400, ErrorKind.BAD_REQUEST, 400, False),
    ("AccessDeniedException", 403, ErrorKind.AUTH, 502, False),
    ("UnrecognizedClientException", 403, ErrorKind.AUTH, 502, False),
    ("ExpiredTokenException", 403, ErrorKind.AUTH, 502, False),
    ("ResourceNotFoundException", 404, ErrorKind.BAD_REQUEST, 404, False),
])
def test_http_errors(error_type: str, status: int, kind: ErrorKind, client_status: int, retryable: bool) -> None:
    error = from_response(*answer(error_type, status), provider="bedrock-use1", model=MODEL)
    assert (error.kind, error.status, error.retryable) == (kind, client_status, retryable)
    assert error.provider == "bedrock-use1"


def test_validation_message_goes_to_the_client_body_not_the_log_message() -> None:
    error = from_response(*answer("ValidationException", 400, "messages.0: text is blank for user EMP-123456"),
                          provider="p", model=MODEL)
    assert error.body == {"error": {"message": "messages.0: text is blank for user EMP-123456",
                                    "type": "invalid_request_error", "param": None, "code": None}}
    assert "EMP-123456" not in error.message and "ValidationException" in error.message


def test_access_denied_names_the_iam_problem() -> None:
    text = ("User: arn:aws:sts::123456789012:assumed-role/gateway/i-1 is not authorized to perform: "
            "bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/x")
    error = from_response(*answer("AccessDeniedException", 403, text), provider="p", model=MODEL)
    assert "bedrock:InvokeModel" in error.message and MODEL in error.message
    # the gateway's AWS identity is not the tenant's business
    assert "123456789012" not in error.message and "assumed-role" not in error.message


def test_throttling_keeps_retry_after_and_openai_shape() -> None:
    error = from_response(*answer("ThrottlingException", 429, "Too many requests", **{"Retry-After": "3"}),
                          provider="p", model=MODEL)
    assert error.retry_after == 3.0
    assert error.body is not None and error.body["error"]["type"] == "rate_limit_error"


def test_error_type_from_body_or_status_when_header_missing() -> None:
    error = from_response(400, {}, b'{"__type": "com.amazon.coral#ValidationException", "message": "bad"}',
                          provider="p", model=MODEL)
    assert error.kind is ErrorKind.BAD_REQUEST
    assert from_response(503, {}, b"<html>", provider="p", model=MODEL).kind is ErrorKind.SERVER
    assert from_response(429, {}, b"", provider="p", model=MODEL).kind is ErrorKind.RATE_LIMITED
    assert from_response(302, {}, b"", provider="p", model=MODEL).kind is ErrorKind.BAD_RESPONSE


def test_stream_exception_before_first_chunk_keeps_its_kind() -> None:
    error = from_stream_exception("throttlingException", b'{"message": "slow"}', provider="p", model=MODEL,
                                  started=False)
    assert error.kind is ErrorKind.RATE_LIMITED and error.retryable


@pytest.mark.parametrize("exception", ["modelStreamErrorException", "throttlingException", "validationException",
                                       "internalServerException", "serviceUnavailableException"])
def test_stream_exception_after_first_chunk_is_a_stream_error(exception: str) -> None:
    error = from_stream_exception(exception, b'{"message": "x"}', provider="p", model=MODEL, started=True)
    assert error.kind is ErrorKind.STREAM and not error.retryable and error.status == 502
    assert error.body is not None and exception[:1].upper() + exception[1:] in error.body["error"]["message"]


def test_classify_unknown_is_server_side() -> None:
    assert classify("", "", status=500, provider="p", model=MODEL).kind is ErrorKind.SERVER
