"""Signing in and out of the console: OpenID Connect when GATEWAY_OIDC_ISSUER is set, the
admin key otherwise. A session starts only for a person the identity provider gives one of
the roles viewer, operator or admin; anyone else is told so and gets no session."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway.api.auth import admin_key_principal, session_store
from gateway.api.deps import RuntimeDep
from gateway.console.oidc import PENDING_COOKIE, PENDING_SECONDS, LoginError, OidcClient, Pending
from gateway.console.web import (
    PREFIX,
    clear_session_cookie,
    read_form,
    redirect,
    render,
    safe_next,
    secure_cookies,
    set_session_cookie,
)
from gateway.identity.sessions import COOKIE
from gateway.runtime import Runtime

router = APIRouter(prefix=PREFIX)
_CALLBACK = "/auth/callback"


def oidc_client(request: Request, runtime: Runtime) -> OidcClient | None:
    """One client per app (it keeps the provider's metadata and keys), built on first use."""
    if not runtime.settings.oidc_enabled:
        return None
    client: OidcClient | None = getattr(request.app.state, "console_oidc", None)
    if client is None:
        client = OidcClient(runtime.settings)
        request.app.state.console_oidc = client
    return client


def redirect_uri(request: Request, runtime: Runtime) -> str:
    base = runtime.settings.console_url
    origin = base.rstrip("/") if base else f"{request.url.scheme}://{request.url.netloc}"
    return origin + PREFIX + _CALLBACK


@router.get("/login")
async def login_page(request: Request, runtime: RuntimeDep, next: str | None = None) -> Response:
    principal = await session_store(runtime).principal(request.cookies.get(COOKIE))
    if principal is not None:
        return redirect(safe_next(next))
    return render(request, "login.html", None, next=safe_next(next), oidc=runtime.settings.oidc_enabled,
                  error=None)


@router.post("/login")
async def login_with_admin_key(request: Request, runtime: RuntimeDep) -> Response:
    """Without single sign-on, the admin key signs in (as admin)."""
    form = await read_form(request, limit=8192)
    next_path = safe_next(form.get("next"))
    if runtime.settings.oidc_enabled:
        return render(request, "login.html", None, status=400, next=next_path, oidc=True,
                      error="This gateway signs in through its identity provider.")
    if not await runtime.admin_key.matches(form.get("admin_key") or None):
        return render(request, "login.html", None, status=401, next=next_path, oidc=False,
                      error="That is not the admin key.")
    who = admin_key_principal()
    token = await session_store(runtime).create(subject=who.subject, role=who.role, email=None, name=who.name)
    response = redirect(next_path)
    set_session_cookie(response, request, runtime, token)
    return response


@router.get("/auth/start")
async def oidc_start(request: Request, runtime: RuntimeDep, next: str | None = None) -> Response:
    client = oidc_client(request, runtime)
    if client is None:
        return redirect(PREFIX + "/login")
    try:
        url, pending = await client.start(redirect_uri(request, runtime), safe_next(next))
    except LoginError as exc:
        return render(request, "login.html", None, status=502, next=safe_next(next), oidc=True, error=str(exc))
    response = redirect(url)
    response.set_cookie(PENDING_COOKIE, pending.encode(), max_age=PENDING_SECONDS, path=PREFIX + "/auth",
                        httponly=True, samesite="lax", secure=secure_cookies(request, runtime))
    return response


@router.get(_CALLBACK)
async def oidc_callback(request: Request, runtime: RuntimeDep, code: str | None = None,
                        state: str | None = None, error: str | None = None) -> Response:
    client = oidc_client(request, runtime)
    pending = Pending.decode(request.cookies.get(PENDING_COOKIE))
    if client is None or pending is None:
        return _refused(request, "The sign-in expired or was started elsewhere; start again.", 400)
    if error:
        return _refused(request, "The identity provider did not sign you in.", 401)
    try:
        identity = await client.finish(redirect_uri(request, runtime), pending, state=state, code=code)
    except LoginError as exc:
        return _refused(request, str(exc), 401)
    if identity.role is None:
        return _refused(request, f"You are signed in to the identity provider as {identity.email or identity.subject}, "
                                 "but it gives you none of the console's roles (viewer, operator, admin). "
                                 "Ask an administrator to assign one.", 403)
    token = await session_store(runtime).create(subject=identity.subject, role=identity.role,
                                                email=identity.email, name=identity.name)
    response = redirect(safe_next(pending.next))
    response.delete_cookie(PENDING_COOKIE, path=PREFIX + "/auth")
    set_session_cookie(response, request, runtime, token)
    return response


@router.post("/logout")
async def logout(request: Request, runtime: RuntimeDep) -> Response:
    """Ends the session on the server (every replica) and clears the cookie. Logging out is not
    a change worth forging, so it needs no CSRF token; SameSite=Lax keeps other sites from it."""
    await session_store(runtime).end(request.cookies.get(COOKIE))
    response = redirect(PREFIX + "/login?signed_out=1")
    clear_session_cookie(response)
    return response


def _refused(request: Request, message: str, status: int) -> Response:
    response = render(request, "login.html", None, status=status, next=PREFIX + "/", oidc=True, error=message)
    response.delete_cookie(PENDING_COOKIE, path=PREFIX + "/auth")
    return response
