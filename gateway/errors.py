"""The gateway's error hierarchy. Every error a client can see is one of these, with the
status the OpenAI SDK maps to its own exception classes (401 AuthenticationError, 429
RateLimitError, ...). An API shape renders it (OpenAI's `{"error": {"message", "type",
"param", "code"}}` is `to_bytes()`); routes never build error bodies of their own.

    Exception
    └── GatewayError                  500 api_error (never for anything a client sent)
        ├── InvalidRequest            400 invalid_request_error
        │   ├── ContentBlocked        400 content_blocked (guardrails)
        │   └── BlockedByGuardrail    400 blocked_by_guardrail (a guardrail webhook)
        ├── AuthenticationFailed      401 invalid_api_key
        ├── PermissionDenied          403 model_not_allowed
        ├── NotFound                  404 model_not_found / not_found
        ├── PayloadTooLarge           413
        ├── RateLimited               429 <limit>_exceeded, Retry-After
        ├── UpstreamError             502 upstream_error
        │   └── ResponseValidationFailed  502 response_validation_failed (JSON Schema)
        ├── UpstreamStatusError       an upstream's own 4xx, passed through
        ├── NoProviderAvailable       503 no_provider_available, Retry-After
        ├── ServiceUnavailable        503 service_unavailable (draining)
        └── UpstreamTimeout           504 upstream_timeout

    providers.base.ProviderError      what a provider raises; never reaches a client as
                                      itself: `client_error` and `exhausted` below are the
                                      one mapping to the classes above.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from providers.base import ErrorKind, ProviderError


class GatewayError(Exception):
    status: int = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.headers = headers or {}
        self._body = body

    def to_dict(self) -> dict[str, Any]:
        if self._body is not None:  # an upstream's own OpenAI-shaped error, passed through
            return self._body
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.to_dict())


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class ContentBlocked(InvalidRequest):
    default_code = "content_blocked"


class BlockedByGuardrail(InvalidRequest):
    """A guardrail webhook blocked the request or its answer (or failed, and fails closed)."""

    default_code = "blocked_by_guardrail"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "invalid_request_error"
    default_code = "invalid_api_key"

    def __init__(self, message: str = "Incorrect or missing API key.") -> None:
        super().__init__(message)


class PermissionDenied(GatewayError):
    status = 403
    type = "permission_error"
    default_code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    default_code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    default_code = "payload_too_large"


class RateLimited(GatewayError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"

    def __init__(self, message: str, *, limit: str, retry_after: float,
                 headers: dict[str, str] | None = None) -> None:
        self.limit = limit
        self.retry_after = retry_after
        merged = retry_after_header(retry_after)
        merged.update(headers or {})
        super().__init__(message, code=f"{limit}_exceeded", headers=merged)


class UpstreamError(GatewayError):
    status = 502
    type = "upstream_error"
    default_code = "upstream_error"


class ResponseValidationFailed(UpstreamError):
    """The model's answer did not match the JSON Schema the request asked for, and the
    policy rejects it (the call is still charged)."""

    default_code = "response_validation_failed"


class UpstreamStatusError(GatewayError):
    """A non-retryable upstream answer (e.g. a 400) returned to the client as it came."""

    type = "invalid_request_error"

    def __init__(self, message: str, *, status: int, body: dict[str, Any] | None) -> None:
        super().__init__(message, body=_openai_shaped(body, message) if body is not None else None)
        self.status = status


def _openai_shaped(body: dict[str, Any], message: str) -> dict[str, Any]:
    """An upstream's error body with OpenAI's four fields: what it sent, and `param` and
    `code` null (`message`, `type` filled) where it left them out, as the SDKs expect."""
    error = body.get("error")
    error = dict(error) if isinstance(error, dict) else {}
    if not isinstance(error.get("message"), str):
        error["message"] = message
    if not isinstance(error.get("type"), str):
        error["type"] = UpstreamStatusError.type
    error.setdefault("param", None)
    error.setdefault("code", None)
    return {**body, "error": error}


class NoProviderAvailable(GatewayError):
    status = 503
    type = "service_unavailable"
    default_code = "no_provider_available"


class Internal(GatewayError):
    """The gateway itself failed (a bug): the client gets a 500 in OpenAI's shape."""

    status = 500
    type = "api_error"
    default_code = "internal_error"


class ServiceUnavailable(GatewayError):
    status = 503
    type = "service_unavailable"
    default_code = "service_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    type = "timeout"
    default_code = "upstream_timeout"


def retry_after_header(seconds: float) -> dict[str, str]:
    """`Retry-After` in whole seconds, rounded up, at least 1: the one rounding rule."""
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}


# A provider failure the client is told about as it is (not retried, or after a stream's
# first byte): the one table from what went wrong upstream to what the client sees. A
# BAD_REQUEST carrying the upstream's own 4xx passes through as UpstreamStatusError; a
# failure with status 504 (a stream gone idle or over its time limit) is a timeout.
_CLIENT_ERRORS: dict[ErrorKind, type[GatewayError]] = {
    ErrorKind.CONNECT: UpstreamError,
    ErrorKind.TIMEOUT: UpstreamTimeout,
    ErrorKind.RATE_LIMITED: UpstreamError,
    ErrorKind.SERVER: UpstreamError,
    ErrorKind.BAD_REQUEST: UpstreamError,
    ErrorKind.AUTH: UpstreamError,
    ErrorKind.BAD_RESPONSE: UpstreamError,
    ErrorKind.STREAM: UpstreamError,
}


def client_error(exc: ProviderError) -> GatewayError:
    """What the client sees of one provider failure: the upstream's own 4xx body when it sent
    one, else a 502 (504 for timeouts) that names the provider and never a credential."""
    if exc.kind is ErrorKind.BAD_REQUEST and 400 <= exc.status < 500:
        return UpstreamStatusError(exc.message, status=exc.status, body=exc.body)
    cls = UpstreamTimeout if exc.status == 504 else _CLIENT_ERRORS[exc.kind]
    return cls(f"{exc.provider or 'upstream'}: {exc.message}")
