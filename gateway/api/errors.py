"""The one error path of the HTTP surface: any exception a route raises becomes a
GatewayError and then a response in an API shape, with the client's x-request-id echoed.
FastAPI's exception handlers (gateway/app.py) and the request path's dispatcher
(gateway/api/dispatch.py) both end here; nothing else builds an error response."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from gateway.errors import GatewayError, Internal, InvalidRequest, NotFound
from gateway.tenancy.service import NotFoundError, TenancyError

log = logging.getLogger("gateway.app")

JSON_TYPE = "application/json"
_REQUEST_ID_MAX = 128


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"


def new_request_id() -> str:
    return f"req_{os.urandom(16).hex()}"   # 128 random bits, like uuid4's hex without building a UUID


def client_request_id(headers: Mapping[str, str]) -> str | None:
    """The client's x-request-id, when it is one we can echo and store (checked here only)."""
    given = headers.get("x-request-id", "")
    if given and len(given) <= _REQUEST_ID_MAX and given.isprintable():
        return given
    return None


def request_id_of(request: Request) -> str:
    """The id a client knows this request by: its own x-request-id, or a new one."""
    return client_request_id(request.headers) or new_request_id()


def error_response(error: GatewayError, headers: Mapping[str, str], body: bytes | None = None,
                   status: int | None = None) -> Response:
    """`error` with its headers; `body` and `status` in the API's shape (default OpenAI's)."""
    return Response(error.to_bytes() if body is None else body, status_code=error.status if status is None else status,
                    media_type=JSON_TYPE, headers={**headers, **error.headers})


def as_gateway_error(exc: Exception, request: Request) -> GatewayError:
    """What the client is told about `exc`: unexpected exceptions are logged, never shown."""
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, NotFoundError):
        return NotFound(str(exc), code="not_found")
    if isinstance(exc, TenancyError):
        return InvalidRequest(str(exc))
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":   # its loc is a byte offset, not a parameter
            return InvalidRequest("The request body is not valid JSON.")
        param = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        return InvalidRequest(f"{param or 'request'}: {first.get('msg')}", param=param)
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 405:
            return MethodNotAllowed("Method not allowed.")
        if exc.status_code == 404:
            return NotFound(f"No route {request.url.path}.", code="not_found")
        return InvalidRequest(str(exc.detail))
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    return Internal("The gateway failed to handle this request.")


def response_for(exc: Exception, request: Request) -> Response:
    """The response for an exception no route turned into an answer of its own."""
    if isinstance(exc, ClientDisconnect):   # the client left mid-body: nobody to answer, nothing broke
        log.info("client disconnected before its request body arrived", extra={"path": request.url.path})
        return Response(status_code=499)
    error = as_gateway_error(exc, request)
    request_id = client_request_id(request.headers)
    return error_response(error, {"x-request-id": request_id} if request_id else {})
