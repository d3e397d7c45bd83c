"""The aiohttp application: error translation, who may call what, the audit, and the routes.

Every error leaves as JSON ``{"error": id, "message": ..., "details": ...}``
with a 4xx status for the caller's mistakes; no traceback reaches a client.

Every request under ``/api/`` (but the OpenAPI document, its page and the
federation's own-token route) goes through ``Access.middleware``: the body size
is checked (413), the bearer token names a principal (the bootstrap
``CTO_API_TOKEN`` is the admin ``bootstrap``; any other token is looked up,
hashed, in ``api_tokens``), the policy table of ``ctoengine.users.policy``
decides (403), and a state-changing call leaves one row in ``audit_log``.

Routes are added through ``HttpApi.routes`` (``ctoengine.api.routes``): each with
its pydantic models, from which ``/api/v1/openapi.json`` and ``/api/v1/docs`` are
generated.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ctoengine.api.body import BODY, json_body
from ctoengine.api.docs import render_docs
from ctoengine.api.openapi import Access as RouteAccess
from ctoengine.api.openapi import build_spec
from ctoengine.api.routes import Route, Routes
from ctoengine.api.schemas import Liveness, Readiness
from ctoengine.db.pool import DB_ERRORS
from ctoengine.errors import (
    ApiError,
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
from ctoengine.users.store import AuditEntry, PgUserStore, UserStore

log = get_logger("ctoengine.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PoolGetter = Callable[[], Awaitable[asyncpg.Pool]]
PUBLIC = frozenset({"/metrics", "/livez", "/readyz", "/healthz", "/api/v1/openapi.json", "/api/v1/docs"})
# Between centres: the peers' own token, checked by ctoengine.federation; the web pages:
# their session cookie, role and CSRF token, checked by ctoengine.web on every route.
OWN_AUTH = ("/api/v1/federation/", "/ui/")
MAX_BODY = 64 * 1024  # bytes of a request body; more is 413
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
DB_TIMEOUT_S = 2.0
STORE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, TimeoutError, *DB_ERRORS)
# Of the request being handled (one task per request): who it acts for (the body is
# ctoengine.api.body's BODY). A context variable rather than request storage: aiohttp wants
# typed RequestKeys, which the oldest aiohttp we support lacks.
PRINCIPAL: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)
__all__ = ["BODY", "MAX_BODY", "Access", "HttpApi", "json_body"]


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
    """What of a request body goes into the audit: scalars, never a password or a token, and
    never free text about a citizen (an appeal's note: personal data, erased on retention in
    its own table, and the audit is kept longer)."""
    if not isinstance(body, dict):
        return {}
    out: dict[str, Any] = {}
    for key, value in list(body.items())[:20]:
        k = str(key)[:64]
        if any(word in k.lower() for word in ("password", "token", "secret", "note")):
            continue
        if isinstance(value, str):
            out[k] = value[:200]
        elif value is None or isinstance(value, bool | int | float):
            out[k] = value
    return out


class Access:
    """Authentication, the policy check and the audit of the HTTP API (one place)."""

    def __init__(self, bootstrap_token: str, metrics: Metrics, store: UserStore | None = None) -> None:
        self._bootstrap = bootstrap_token.encode()
        self.metrics = metrics
        self.store = store  # None: no database; only the bootstrap token is known
        # The agent connected to a call (set once the queues run): operators act on their own calls.
        self.call_owner: Callable[[str], str | None] = lambda _: None

    async def authenticate(self, request: web.Request) -> Principal:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("send Authorization: Bearer <token> (from POST /api/v1/tokens)")
        if hmac.compare_digest(token.encode(), self._bootstrap):
            return BOOTSTRAP
        if self.store is None or not token.startswith(TOKEN_PREFIX) or len(token) > 128:
            raise Unauthorized("the token is not valid")
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                who = await self.store.principal_for(token)
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
            if self.store is None:
                raise DatabaseError("no database")
            async with asyncio.timeout(DB_TIMEOUT_S):
                await self.store.write_audit(entry)
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
        if request.method in WRITES or rule.audit_reads:
            await self.audit_request(request, rule, who, response.status)
        return response


class HttpApi:
    def __init__(
        self,
        token: str,
        metrics: Metrics,
        health: Callable[[], Awaitable[dict[str, Any]]],
        pool: PoolGetter | None = None,
        *,
        store: UserStore | None = None,
    ) -> None:
        """``store`` defaults to PostgreSQL through ``pool``; in-process tests give a fake."""
        self.metrics = metrics
        self._health = health
        if store is None and pool is not None:
            store = PgUserStore(pool)
        self.access = Access(token, metrics, store)
        self.app = web.Application(
            middlewares=[errors_middleware, self.access.middleware], client_max_size=MAX_BODY
        )
        self.routes = Routes(self.app)
        self._spec: tuple[int, dict[str, Any]] | None = None  # (routes described, the document)
        add = self.routes.add
        add("GET", "/livez", self._livez, op="livez", tag="service", summary="Liveness", output=Liveness)
        add(
            "GET",
            "/readyz",
            self._readyz,
            op="readyz",
            tag="service",
            summary="Readiness",
            output=Readiness,
            also=(503,),
        )
        add(
            "GET",
            "/healthz",
            self._healthz,
            op="healthz",
            tag="service",
            summary="Readiness (the older name, kept for existing probes)",
            output=Readiness,
            also=(503,),
        )
        add(
            "GET",
            "/metrics",
            self._metrics,
            op="metrics",
            tag="service",
            summary="Prometheus metrics (text exposition format)",
            output=None,
            media="text/plain",
        )
        add(
            "GET",
            "/api/v1/openapi.json",
            self._openapi,
            op="openapi",
            tag="service",
            summary="This OpenAPI 3.1 document",
            output=None,
            media="application/json",
        )
        add(
            "GET",
            "/api/v1/docs",
            self._docs,
            op="docs",
            tag="service",
            summary="The browsable API page (HTML, generated from the OpenAPI document)",
            output=None,
            media="text/html",
        )
        self._runner: web.AppRunner | None = None

    @staticmethod
    def access_of(route: Route) -> RouteAccess:
        """What a caller of ``route`` must show, as ``Access.middleware`` decides it."""
        if not route.path.startswith("/api/") or route.path in PUBLIC:
            return "none"
        if route.path.startswith(OWN_AUTH):
            return "peer"
        return "none" if rule_for(route.method, route.path).public else "bearer"

    def spec(self) -> dict[str, Any]:
        """The OpenAPI document of the routes added so far (made again when routes were added)."""
        if self._spec is None or self._spec[0] != len(self.routes.all):
            self._spec = (len(self.routes.all), build_spec(self.routes.all, self.access_of))
        return self._spec[1]

    async def _metrics(self, _: web.Request) -> web.Response:
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _livez(self, _: web.Request) -> Liveness:
        """Alive: the process and its event loop run (this answer proves it). No dependency is asked."""
        return Liveness(ok=True)

    async def _readyz(self, _: web.Request) -> Readiness | web.Response:
        """Ready: 200 when ARI is connected and the database answers within a second; else 503
        and which of them is false."""
        state = await self._health()
        ok = all(bool(v) for v in state.values())
        answer = Readiness.model_validate({"ok": ok, **state})
        if ok:
            return answer
        return web.json_response(answer.model_dump(mode="json"), status=503)

    async def _healthz(self, request: web.Request) -> Readiness | web.Response:
        """The same answer as /readyz."""
        return await self._readyz(request)

    async def _openapi(self, _: web.Request) -> web.Response:
        """Generated from the routes' pydantic models; validates with openapi-spec-validator."""
        return web.json_response(self.spec())

    async def _docs(self, _: web.Request) -> web.Response:
        """Every operation by tag with its parameters, body and answers; no script, no CDN."""
        return web.Response(text=render_docs(self.spec()), content_type="text/html", charset="utf-8")

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
