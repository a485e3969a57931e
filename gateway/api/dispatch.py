"""The request path's POST routes, dispatched before FastAPI's routing.

FastAPI's layers around an endpoint (included-router matching, dependency solving) were
~20% of the gateway's CPU per request in a py-spy profile (python -m bench.profile); the
busiest routes need none of them. `HotRoutes` is an ASGI middleware, installed first, so it
sits inside every middleware added after it (none is skipped) and in front of FastAPI's
router: a POST to one of its paths is answered by the route function directly, anything
else goes on to FastAPI. The routes stay registered with FastAPI too (same handlers), so
other paths -- a trailing slash, a HEAD -- get FastAPI's answers. Errors take the one error
path (gateway/api/errors.py), as on FastAPI's routes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.api.errors import response_for
from gateway.runtime import Runtime

HotRoute = Callable[[Request, Runtime], Awaitable[Response]]


class HotRoutes:
    def __init__(self, app: ASGIApp, routes: MutableMapping[str, HotRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            route = self.routes.get(scope["path"])
            if route is not None:
                request = Request(scope, receive)
                try:
                    response = await route(request, scope["app"].state.runtime)
                except Exception as exc:
                    response = response_for(exc, request)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
