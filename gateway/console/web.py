"""What every console page shares: the template environment and its filters, the response
headers (a strict Content-Security-Policy: scripts and styles only from the gateway itself),
the page guard (signed in, with the role the page needs) and the checked form of a change."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from gateway.api.auth import CsrfRejected, RoleRequired, csrf_matches, session_store
from gateway.identity.roles import Principal, Role
from gateway.identity.sessions import COOKIE
from gateway.runtime import Runtime

PREFIX = "/admin/ui"
MAX_FORM_BYTES = 64 * 1024
DASH = "\u2013"     # an en dash: "no value"
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class FormError(ValueError):
    """A change request the console cannot read (not a form, too large)."""


def _money(value: Decimal | float | int | None) -> str:
    amount = Decimal(value or 0)
    if amount == 0:
        return "$0.00"
    return f"${amount:,.2f}" if abs(amount) >= 1 else f"${amount:,.4f}"


def _num(value: int | float | None) -> str:
    number = float(value or 0)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e4, "k")):
        if abs(number) >= limit:
            return f"{number / limit:.1f}{suffix}".replace(".0", "")
    return f"{int(number):,}" if number.is_integer() else f"{number:,.2f}"


def _pct(value: float | None) -> str:
    return DASH if value is None else f"{100 * value:.1f}%"


def _when(value: str | datetime | None) -> str:
    if not value:
        return DASH
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _ago(value: str | datetime | None) -> str:
    if not value:
        return "never"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    seconds = (datetime.now(UTC) - moment.astimezone(UTC)).total_seconds()
    if seconds < 0:
        seconds = -seconds
        for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
            if seconds >= size:
                return f"in {int(seconds // size)} {unit}"
        return "in <1 min"
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


templates = Environment(loader=PackageLoader("gateway.console", "templates"),
                        autoescape=select_autoescape(["html"]), undefined=StrictUndefined,
                        trim_blocks=True, lstrip_blocks=True)
templates.filters.update(money=_money, num=_num, pct=_pct, when=_when, ago=_ago)
templates.globals.update(prefix=PREFIX, Role=Role)


def render(request: Request, name: str, principal: Principal | None, status: int = 200,
           **context: Any) -> HTMLResponse:
    html = templates.get_template(name).render(request=request, me=principal, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303, headers={"Cache-Control": "no-store"})


def login_path(next_path: str) -> str:
    return f"{PREFIX}/login?next={quote(next_path, safe='/')}"


def safe_next(text: str | None) -> str:
    """Only a console path may be returned to after login (never another site)."""
    if text and text.startswith(PREFIX + "/") and "//" not in text and "\\" not in text:
        return text
    return PREFIX + "/"


async def viewer(request: Request, runtime: Runtime, role: Role = Role.VIEWER) -> Principal:
    """The page guard: the signed-in person, or a redirect to the login page (absent or
    expired session); 403 below the page's role."""
    principal = await session_store(runtime).principal(request.cookies.get(COOKIE))
    if principal is None:
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(path if request.method == "GET" else PREFIX + "/")
    if not principal.can(role):
        raise RoleRequired(f"This needs the {role.label} role; you are signed in as {principal.role.label}.")
    return principal


class Form:
    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self._fields = fields

    def get(self, name: str, default: str = "") -> str:
        values = self._fields.get(name)
        return values[0].strip() if values else default

    def has(self, name: str) -> bool:
        return name in self._fields


async def read_form(request: Request, limit: int = MAX_FORM_BYTES) -> Form:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormError("Changes are sent as HTML forms.")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise FormError("The form is too large.")
    try:
        return Form(parse_qs(body.decode(), keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError):
        raise FormError("The form could not be read.") from None


async def change(request: Request, runtime: Runtime, role: Role) -> tuple[Principal, Form]:
    """A change from a console form: signed in, with `role`, and the session's CSRF token in
    the form's `csrf` field. Refused (403) before anything is changed otherwise."""
    principal = await viewer(request, runtime, role)
    form = await read_form(request)
    if principal.csrf is None or not csrf_matches(principal, form.get("csrf") or None):
        raise CsrfRejected("The form's CSRF token is missing or wrong; reload the page and try again.")
    return principal, form


def secure_cookies(request: Request, runtime: Runtime) -> bool:
    """Secure cookies behind https: the request came over TLS, or the console's public URL says so."""
    public = runtime.settings.console_url
    return request.url.scheme == "https" or bool(public and public.startswith("https://"))


def set_session_cookie(response: Response, request: Request, runtime: Runtime, token: str) -> None:
    response.set_cookie(COOKIE, token, max_age=runtime.settings.console_session_seconds, path="/admin",
                        httponly=True, samesite="lax", secure=secure_cookies(request, runtime))


def clear_session_cookie(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/admin", httponly=True, samesite="lax")
