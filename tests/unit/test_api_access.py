"""The HTTP boundary without an engine: 413 for large bodies, 401/403 by role, the audit rows."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ctoengine.agents.http import AgentRoutes
from ctoengine.api.http import MAX_BODY, HttpApi, json_body
from ctoengine.app import Engine
from ctoengine.config import RoutingConfig
from ctoengine.errors import DatabaseError, Unauthorized
from ctoengine.federation.service import STATUS_PATH
from ctoengine.metrics.registry import Metrics
from ctoengine.settings import Settings
from ctoengine.users.http import UserRoutes
from ctoengine.users.policy import POLICY, Principal, Role
from ctoengine.users.store import AuditEntry

USERS = {
    "tok-op1": Principal("op1", Role.OPERATOR, "op1"),
    "tok-sup": Principal("supervisor", Role.SUPERVISOR),
}


async def _health() -> dict[str, Any]:
    return {"ari": True, "database": True}


async def _db_down() -> asyncpg.Pool:
    raise DatabaseError("PostgreSQL is unreachable (test)")


class Api:
    def __init__(self, pool: Any = None) -> None:
        self.http = HttpApi("boot", Metrics(), _health, pool)
        self.audited: list[AuditEntry] = []
        self.http.access.call_owner = {"c-op1": "op1"}.get
        app = self.http.app

        async def pause(request: web.Request) -> web.Response:
            body = await json_body(request)
            return web.json_response({"agent": request.match_info["agent"], "reason": body.get("reason")})

        async def reload(_: web.Request) -> web.Response:
            return web.json_response({"ok": True})

        app.router.add_post("/api/v1/agents/{agent}/pause", pause)
        app.router.add_post("/api/v1/config/reload", reload)
        app.router.add_post("/api/v1/calls/{call_id}/transfer", reload)

    def fake_users(self) -> None:
        boot = self.http.access.authenticate

        async def authenticate(request: web.Request) -> Principal:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token in USERS:
                return USERS[token]
            return await boot(request)

        async def audit(entry: AuditEntry) -> None:
            self.audited.append(entry)

        self.http.access.authenticate = authenticate  # type: ignore[method-assign]
        self.http.access.audit = audit  # type: ignore[method-assign]


@pytest.fixture
async def api() -> AsyncIterator[tuple[Api, TestClient]]:
    a = Api()
    a.fake_users()
    client = TestClient(TestServer(a.http.app))
    await client.start_server()
    try:
        yield a, client
    finally:
        await client.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_large_body_is_413_json_not_500(api: tuple[Api, TestClient]) -> None:
    _, client = api
    big = io.BytesIO(b'{"reason": "' + b"x" * (1024 * 1024) + b'"}')
    r = await client.post("/api/v1/agents/op1/pause", data=big, headers=bearer("boot"))
    assert r.status == 413
    body = await r.json()
    assert body["error"] == "too_large"
    assert body["details"] == {"limit": MAX_BODY}


async def test_a_large_chunked_body_is_413_from_aiohttp_translated(api: tuple[Api, TestClient]) -> None:
    _, client = api

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: aiohttp's own limit answers
        yield b'{"reason": "'
        for _ in range(32):
            yield b"x" * 4096
        yield b'"}'

    r = await client.post("/api/v1/agents/op1/pause", data=chunks(), headers=bearer("boot"))
    assert r.status == 413
    assert (await r.json())["error"] == "too_large"


async def test_a_body_under_the_limit_passes(api: tuple[Api, TestClient]) -> None:
    _, client = api
    r = await client.post("/api/v1/agents/op1/pause", json={"reason": "x" * 60_000}, headers=bearer("boot"))
    assert r.status == 200


async def test_no_token_is_401_and_not_audited(api: tuple[Api, TestClient]) -> None:
    a, client = api
    r = await client.post("/api/v1/config/reload")
    assert r.status == 401
    assert (await r.json())["error"] == "unauthorized"
    r = await client.post("/api/v1/config/reload", headers=bearer("cto_unknown"))
    assert r.status == 401  # no database here: an unknown user token is refused
    assert a.audited == []


async def test_roles_are_checked_on_the_server(api: tuple[Api, TestClient]) -> None:
    a, client = api
    r = await client.post("/api/v1/config/reload", headers=bearer("tok-op1"))
    assert r.status == 403
    body = await r.json()
    assert body["error"] == "forbidden"
    assert "admin" in body["message"]
    r = await client.post("/api/v1/agents/op2/pause", json={"reason": "break"}, headers=bearer("tok-op1"))
    assert r.status == 403
    assert "own agent" in (await r.json())["message"]
    r = await client.post("/api/v1/agents/op1/pause", json={"reason": "break"}, headers=bearer("tok-op1"))
    assert r.status == 200
    r = await client.post("/api/v1/calls/c-op1/transfer", headers=bearer("tok-op1"))
    assert r.status == 200
    r = await client.post("/api/v1/calls/c-op2/transfer", headers=bearer("tok-op1"))
    assert r.status == 403
    r = await client.post("/api/v1/agents/op2/pause", json={"reason": "break"}, headers=bearer("tok-sup"))
    assert r.status == 200
    r = await client.post("/api/v1/config/reload", headers=bearer("tok-sup"))
    assert r.status == 403
    r = await client.post("/api/v1/config/reload", headers=bearer("boot"))
    assert r.status == 200
    seen = [(e.user, e.role, e.action, e.target, e.status, e.result) for e in a.audited]
    assert seen == [
        ("op1", "operator", "config.reload", None, 403, "denied"),
        ("op1", "operator", "agent.pause", "op2", 403, "denied"),
        ("op1", "operator", "agent.pause", "op1", 200, "ok"),
        ("op1", "operator", "call.transfer", "c-op1", 200, "ok"),
        ("op1", "operator", "call.transfer", "c-op2", 403, "denied"),
        ("supervisor", "supervisor", "agent.pause", "op2", 200, "ok"),
        ("supervisor", "supervisor", "config.reload", None, 403, "denied"),
        ("bootstrap", "admin", "config.reload", None, 200, "ok"),
    ]
    assert all(e.address == "127.0.0.1" for e in a.audited)
    assert a.audited[2].details == {"method": "POST", "path": "/api/v1/agents/op1/pause", "reason": "break"}


async def test_forwarded_for_is_not_trusted(api: tuple[Api, TestClient]) -> None:
    a, client = api
    headers = {**bearer("tok-sup"), "X-Forwarded-For": "203.0.113.9"}
    await client.post("/api/v1/agents/op2/pause", json={"reason": "break"}, headers=headers)
    assert a.audited[-1].address == "127.0.0.1"


async def test_no_password_reaches_the_audit(api: tuple[Api, TestClient]) -> None:
    a, client = api
    body = {"reason": "break", "password": "secret-pw-123", "new_token": "t"}
    await client.post("/api/v1/agents/op1/pause", json=body, headers=bearer("boot"))
    assert a.audited[-1].details == {"method": "POST", "path": "/api/v1/agents/op1/pause", "reason": "break"}


async def test_unknown_path_stays_404_with_a_token(api: tuple[Api, TestClient]) -> None:
    _, client = api
    r = await client.get("/api/v1/no-such-thing", headers=bearer("boot"))
    assert r.status == 404
    assert (await r.json())["error"] == "not_found"


async def test_the_audit_never_breaks_the_call_when_the_database_is_down() -> None:
    a = Api(pool=_db_down)
    client = TestClient(TestServer(a.http.app))
    await client.start_server()
    try:
        r = await client.post("/api/v1/config/reload", headers=bearer("boot"))
        assert r.status == 200
        assert a.http.metrics.audit_write_failures._value.get() == 1
        r = await client.post("/api/v1/config/reload", headers=bearer("cto_" + "x" * 43))
        assert r.status == 503  # a user's token cannot be checked: not a 401 that would log it out
        assert (await r.json())["error"] == "auth_unavailable"
    finally:
        await client.close()


async def test_the_login_is_rate_limited_per_address() -> None:
    a = Api(pool=_db_down)
    a.fake_users()
    routes = UserRoutes(a.http.access, lambda _: True, clock=lambda: 0.0)
    routes.register(a.http.routes)
    for _ in range(10):
        routes.limiter.failed("127.0.0.1", 0.0)
    client = TestClient(TestServer(a.http.app))
    await client.start_server()
    try:
        r = await client.post("/api/v1/tokens", json={"name": "op1", "password": "whatever-it-is"})
        assert r.status == 429
        assert r.headers["Retry-After"] == "61"
        assert (await r.json())["error"] == "too_many_requests"
        assert [(e.user, e.action, e.status) for e in a.audited] == [("op1", "login", 429)]
    finally:
        await client.close()


async def test_every_route_of_the_engine_has_a_rule(demo: RoutingConfig, tmp_path: Path) -> None:
    settings = Settings(
        ari_url="http://127.0.0.1:9",
        ari_password="x",  # type: ignore[arg-type]
        database_url="postgresql://u:p@127.0.0.1:9/db",  # type: ignore[arg-type]
        api_token="t",  # type: ignore[arg-type]
        spool_dir=tmp_path,
        instance="unit",
    )
    engine = Engine(settings, demo)
    app = engine.http.app
    engine._register_admin_routes()
    AgentRoutes(object(), lambda: []).register(engine.http.routes)  # type: ignore[arg-type]
    UserRoutes(engine.http.access, lambda _: True).register(engine.http.routes)

    async def status(_: web.Request) -> web.Response:
        raise Unauthorized("x")

    app.router.add_get(STATUS_PATH, status)
    own_or_public = {STATUS_PATH, "/api/v1/openapi.json", "/api/v1/docs"}
    routes = {
        (r.method, r.resource.canonical)
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/") and r.method != "HEAD"
    }
    missing = {r for r in routes if r not in POLICY and r[1] not in own_or_public}
    assert missing == set()
