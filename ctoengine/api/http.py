"""The aiohttp application: error translation, who may call what, the audit, and the routes.

Every error leaves as JSON ``{"error": id, "message": ..., "details": ...}``
with a 4xx status for the caller's mistakes; no traceback reaches a client.

Every request under ``/api/`` (but the OpenAPI document and the federation's
own-token route) goes through ``Access.middleware``: the body size is checked
(413), the bearer token names a principal (the bootstrap ``CTO_API_TOKEN`` is
the admin ``bootstrap``; any other token is looked up, hashed, in
``api_tokens``), the policy table of ``ctoengine.users.policy`` decides (403),
and a state-changing call leaves one row in ``audit_log``.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ctoengine.api.openapi import base_spec
from ctoengine.db.pool import DB_ERRORS
from ctoengine.errors import (
    ApiError,
    BadRequest,
    DatabaseError,
    Forbidden,
    NotFound,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics
from ctoengine.users.policy import BOOTSTRAP, Principal, Rule, decide, rule_for
from ctoengine.users.secrets import TOKEN_PREFIX
from ctoengine.users.store import AuditEntry, principal_for, write_audit

log = get_logger("ctoengine.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PoolGetter = Callable[[], Awaitable[asyncpg.Pool]]
PUBLIC = frozenset({"/metrics", "/livez", "/readyz", "/healthz", "/api/v1/openapi.json"})
# Between centres: the peers' own token, checked by ctoengine.federation; the web pages:
# their session cookie, role and CSRF token, checked by ctoengine.web on every route.
OWN_AUTH = ("/api/v1/federation/", "/ui/")
MAX_BODY = 64 * 1024  # bytes of a request body; more is 413
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DB_TIMEOUT_S = 2.0
STORE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, TimeoutError, *DB_ERRORS)
# Of the request being handled (one task per request): who it acts for, and its JSON body as
# parsed by json_body (what the audit shows of it). Context variables rather than request
# storage: aiohttp wants typed RequestKeys, which the oldest aiohttp we support lacks.
PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
BODY: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar("body", default=None)


def error_response(e: ApiError) -> web.Response:
    return web.json_response(e.body(), status=e.status, headers=e.headers or None)


async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's response, or its error as a JSON answer."""
    try:
        return await handler(request)
    except ApiError as e:
        return error_response(e)
    except web.HTTPRequestEntityTooLarge:
        return error_response(TooLarge(f"the request body is over {MAX_BODY // 1024} KiB", limit=MAX_BODY))
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
    except web.HTTPException as e:
        if e.status < 400:
            raise  # a redirect is an answer, not an error
        error_id = (e.reason or "error").lower().replace(" ", "_")
        return web.json_response({"error": error_id, "message": e.reason}, status=e.status)
    except Exception:
        log.exception("api_internal_error", path=request.path)
        return web.json_response({"error": "internal_error", "message": "internal error"}, status=500)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    return await answer(request, handler)


def _details(body: Any) -> dict[str, Any]:
    """What of a request body goes into the audit: scalars, never a password or a token."""
    if not isinstance(body, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in list(body.items())[:20]:
        k = str(key)[:64]
        if "password" in k.lower() or "token" in k.lower() or "secret" in k.lower():
            continue
        if isinstance(value, str):
            out[k] = value[:200]
        elif value is None or isinstance(value, bool | int | float):
            out[k] = value
    return out


class Access:
    """Authentication, the policy check and the audit of the HTTP API (one place)."""

    def __init__(self, bootstrap_token: str, metrics: Metrics, pool: PoolGetter | None = None) -> None:
        self._bootstrap = bootstrap_token.encode()
        self.metrics = metrics
        self.pool = pool
        # The agent connected to a call (set once the queues run): operators act on their own calls.
        self.call_owner: Callable[[str], str | None] = lambda _: None

    async def authenticate(self, request: web.Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("send Authorization: Bearer <token> (from POST /api/v1/tokens)")
        if hmac.compare_digest(token.encode(), self._bootstrap):
            return BOOTSTRAP
        if self.pool is None or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            raise Unauthorized("the token is not valid")
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                who = await principal_for(await self.pool(), token)
        except STORE_ERRORS as e:
            log.error("api_token_unchecked", error=str(e) or type(e).__name__)
            raise Unavailable(
                "the token cannot be checked: the database is unavailable", error_id="auth_unavailable"
            ) from None
        if who is None:
            raise Unauthorized("the token is unknown or expired")
        return who

    async def audit(self, entry: AuditEntry) -> None:
        """Write one audit row; a database that is down costs a log line and a count, never the call."""
        try:
            if self.pool is None:
                raise DatabaseError("no database")
            async with asyncio.timeout(DB_TIMEOUT_S):
                await write_audit(await self.pool(), entry)
        except Exception as e:
            self.metrics.audit_write_failures.inc()
            log.error(
                "audit_not_written",
                action=entry.action,
                user=entry.user,
                target=entry.target,
                status=entry.status,
                error=str(e) or type(e).__name__,
            )

    async def audit_request(
        self, request: web.Request, rule: Rule, who: Principal | None, status: int, claimed: str = ""
    ) -> None:
        body = BODY.get()
        target: str | None = None
        if rule.target is not None and rule.target.startswith("body."):
            value = body.get(rule.target.removeprefix("body.")) if isinstance(body, dict) else None
            target = str(value)[:200] if value is not None else None
        elif rule.target is not None:
            target = request.match_info.get(rule.target)
        details = {"method": request.method, "path": request.path[:300], **_details(body)}
        await self.audit(
            AuditEntry(
                user=who.name if who is not None else claimed[:64],
                role=who.role.value if who is not None else None,
                action=rule.action,
                target=target,
                address=request.remote,  # the connection's peer; X-Forwarded-For is not trusted
                status=status,
                details=details,
            )
        )

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        PRINCIPAL.set(None)  # a keep-alive connection may run its requests in one task
        BODY.set(None)
        if not path.startswith("/api/") or path in PUBLIC or path.startswith(OWN_AUTH):
            return await handler(request)
        length = request.content_length
        if length is not None and length > MAX_BODY:
            raise TooLarge(f"the request body is over {MAX_BODY // 1024} KiB", limit=MAX_BODY)
        match = request.match_info
        resource = match.route.resource
        rule = rule_for(request.method, resource.canonical if resource is not None else path)
        if rule.public:
            return await handler(request)  # the login: its handler audits it
        try:
            who = await self.authenticate(request)
        except Unauthorized:
            self.metrics.api_auth_failures.labels("unauthorized").inc()
            raise
        PRINCIPAL.set(who)
        if match.http_exception is not None:  # no such route: 404/405 for whoever asks
            return await handler(request)
        denied = decide(rule, who, match, self.call_owner)
        if denied is not None:
            self.metrics.api_auth_failures.labels("forbidden").inc()
            log.warning("api_forbidden", user=who.name, role=who.role.value, action=rule.action, path=path)
            response: web.StreamResponse = error_response(Forbidden(denied))
        else:
            response = await answer(request, handler)
        if request.method in WRITES:
            await self.audit_request(request, rule, who, response.status)
        return response


async def json_body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object; an empty body is ``{}``."""
    raw = await request.read()
    if not raw.strip():
        BODY.set({})
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"the body is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    BODY.set(data)  # what the audit shows of it (_details)
    return data


class HttpApi:
    def __init__(
        self,
        token: str,
        metrics: Metrics,
        health: Callable[[], Awaitable[dict[str, Any]]],
        pool: PoolGetter | None = None,
    ) -> None:
        self.metrics = metrics
        self._health = health
        self.spec = base_spec()
        self.access = Access(token, metrics, pool)
        self.app = web.Application(
            middlewares=[errors_middleware, self.access.middleware], client_max_size=MAX_BODY
        )
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
