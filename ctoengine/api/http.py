"""The aiohttp application: error translation, bearer auth, and the routes features add.

Every error leaves as JSON ``{"error": id, "message": ..., "details": ...}``
with a 4xx status for the caller's mistakes; no traceback reaches a client.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ctoengine.api.openapi import base_spec
from ctoengine.errors import ApiError, BadRequest, NotFound, Unauthorized
from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics

log = get_logger("ctoengine.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PUBLIC = frozenset({"/metrics", "/livez", "/readyz", "/healthz", "/api/v1/openapi.json"})
# Between centres: the peers' own token, checked by ctoengine.federation.
OWN_AUTH = ("/api/v1/federation/",)


def error_response(e: ApiError) -> web.Response:
    return web.json_response(e.body(), status=e.status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e)
    except web.HTTPNotFound:
        return error_response(NotFound(f"no such path: {request.path}"))
    except web.HTTPMethodNotAllowed as e:
        return web.json_response(
            {
                "error": "method_not_allowed",
                "message": f"{request.method} is not allowed here",
                "details": {"allowed": sorted(e.allowed_methods)},
            },
            status=405,
        )
    except Exception:
        log.exception("api_internal_error", path=request.path)
        return web.json_response({"error": "internal_error", "message": "internal error"}, status=500)


def auth_middleware(token: str) -> Any:
    expected = f"Bearer {token}".encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if (
            request.path.startswith("/api/")
            and request.path not in PUBLIC
            and not request.path.startswith(OWN_AUTH)
        ):
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                raise Unauthorized("send Authorization: Bearer <CTO_API_TOKEN>")
        return await handler(request)

    return check


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}``."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


class HttpApi:
    def __init__(self, token: str, metrics: Metrics, health: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        self.metrics = metrics
        self._health = health
        self.spec = base_spec()
        self.app = web.Application(middlewares=[errors_middleware, auth_middleware(token)])
        self.app.router.add_get("/metrics", self._metrics)
        self.app.router.add_get("/livez", self._livez)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/healthz", self._readyz)  # the older name of readiness
        self.app.router.add_get("/api/v1/openapi.json", self._openapi)
        self._runner: web.AppRunner | None = None

    def add_paths(self, paths: dict[str, Any]) -> None:
        self.spec["paths"].update(paths)

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _livez(self, _: web.Request) -> web.Response:
        """Alive: the process and its event loop run (this answer proves it). No dependency is asked."""
        return web.json_response({"ok": True})

    async def _readyz(self, _: web.Request) -> web.Response:
        """Ready: 200 when ARI is connected and the database answers; else 503 and which is false."""
        state = await self._health()
        ok = all(bool(v) for v in state.values())
        return web.json_response({"ok": ok, **state}, status=200 if ok else 503)

    async def _openapi(self, _: web.Request) -> web.Response:
        return web.json_response(self.spec)

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
