"""Who is calling the admin API or the console, and what they may do.

A caller is the admin key (bearer token; counts as admin) or a console session (cookie; the
role from the identity provider). Changes made with a session cookie must also carry the
session's CSRF token: a form field on console pages, the `x-csrf-token` header on the admin
API. A wrong or missing one is refused with 403 before anything changes."""

from __future__ import annotations

import secrets
from datetime import timedelta

from fastapi import Request

from gateway.api.deps import bearer_token
from gateway.errors import AuthenticationFailed, PermissionDenied
from gateway.identity.roles import ADMIN_KEY_SUBJECT, Principal, Role
from gateway.identity.sessions import COOKIE, SessionStore
from gateway.runtime import Runtime

CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class RoleRequired(PermissionDenied):
    default_code = "insufficient_role"


class CsrfRejected(PermissionDenied):
    default_code = "csrf_token_invalid"


def session_store(runtime: Runtime) -> SessionStore:
    return SessionStore(runtime.engine, timedelta(seconds=runtime.settings.console_session_seconds))


def admin_key_principal() -> Principal:
    return Principal(subject=ADMIN_KEY_SUBJECT, role=Role.ADMIN, name="admin key")


async def principal_of(request: Request, runtime: Runtime) -> Principal | None:
    """The bearer admin key when one is presented, else the session cookie's person."""
    token = bearer_token(request)
    if token is not None:
        return admin_key_principal() if await runtime.admin_key.matches(token) else None
    return await session_store(runtime).principal(request.cookies.get(COOKIE))


def csrf_matches(principal: Principal, presented: str | None) -> bool:
    return principal.csrf is None or (presented is not None and secrets.compare_digest(principal.csrf, presented))


async def api_caller(request: Request, runtime: Runtime, role: Role) -> Principal:
    """The admin API's check: 401 without a valid credential, 403 below `role` or without the
    CSRF header on a change made with a session cookie."""
    principal = await principal_of(request, runtime)
    if principal is None:
        raise AuthenticationFailed("Incorrect or missing admin key.")
    if not principal.can(role):
        raise RoleRequired(f"This needs the {role.label} role; you are {principal.role.label}.")
    if request.method not in SAFE_METHODS and not csrf_matches(principal, request.headers.get(CSRF_HEADER)):
        raise CsrfRejected(f"A change made with a console session needs the `{CSRF_HEADER}` header.")
    return principal
