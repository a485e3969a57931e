"""The admin console at /admin/ui/: server-rendered pages (Jinja2), charts drawn as SVG on the
server, one small script (the copy button), every asset served from here. Mounted beside the
admin API by `gateway.app.create_app`, so it is on the admin port and in `serve --admin-only`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from gateway.api.auth import CsrfRejected, RoleRequired
from gateway.console import login, pages_audit, pages_providers, pages_tenants, pages_usage
from gateway.console.web import PREFIX, FormError, LoginRequired, login_path, redirect, render
from gateway.identity.roles import parse_role_map
from gateway.settings import Settings

STATIC = Path(__file__).parent / "static"


def mount_console(app: FastAPI, settings: Settings) -> None:
    """Adds the console's routes, assets and error pages. A malformed GATEWAY_OIDC_ROLE_MAP
    stops the start here (ValueError naming the entry), not at someone's first sign-in."""
    parse_role_map(settings.oidc_role_map)
    for module in (login, pages_usage, pages_tenants, pages_audit, pages_providers):
        app.include_router(module.router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(LoginRequired, _login_required)  # type: ignore[arg-type]
    app.add_exception_handler(RoleRequired, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(CsrfRejected, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(FormError, _bad_form)  # type: ignore[arg-type]


def _is_console(request: Request) -> bool:
    return request.url.path == PREFIX or request.url.path.startswith(PREFIX + "/")


async def _login_required(request: Request, exc: LoginRequired) -> Response:
    return redirect(login_path(exc.next_path))


async def _refused(request: Request, exc: RoleRequired | CsrfRejected) -> Response:
    """403: a console page for the console, the API's own JSON shape for the admin API."""
    if _is_console(request):
        return render(request, "forbidden.html", None, status=403, message=exc.message)
    return Response(exc.to_bytes(), status_code=exc.status, media_type="application/json")


async def _bad_form(request: Request, exc: FormError) -> Response:
    return render(request, "forbidden.html", None, status=400, message=str(exc))
