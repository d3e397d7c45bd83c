"""Who may call what, through the real middleware and the policy table: 401 without a valid
token, 403 for a role that may not, and the audit rows of state-changing calls."""

from __future__ import annotations

import pytest

from ctoengine.api.http import HttpApi
from tests.api.conftest import BOOT, PEER_TOKEN, Api, bearer

OP, SUP, ADMIN = "cto_op1", "cto_sup", "cto_admin"

# (method, path, body) -> the status for operator op1, supervisor, admin. Each call is made on a
# fresh application (the fakes' state does not carry over), so 200 means "let through".
ROLES: list[tuple[str, str, dict[str, object] | None, tuple[int, int, int]]] = [
    ("GET", "/api/v1/agents", None, (403, 200, 200)),
    ("GET", "/api/v1/agents/op1", None, (200, 200, 200)),
    ("GET", "/api/v1/agents/op2", None, (403, 200, 200)),
    ("POST", "/api/v1/agents/op1/login", None, (200, 200, 200)),
    ("POST", "/api/v1/agents/op2/logout", None, (403, 200, 200)),
    ("POST", "/api/v1/agents/op2/pause", {"reason": "break"}, (403, 200, 200)),
    ("POST", "/api/v1/agents/op1/pause", {"reason": "break"}, (200, 200, 200)),
    ("GET", "/api/v1/queues", None, (403, 200, 200)),
    ("POST", "/api/v1/calls/c-op1/transfer", {"queue": "egrul"}, (200, 200, 200)),
    ("POST", "/api/v1/calls/c-op2/transfer", {"queue": "egrul"}, (403, 200, 200)),
    ("POST", "/api/v1/config/reload", None, (403, 403, 200)),
    ("GET", "/api/v1/emergency", None, (403, 200, 200)),
    ("POST", "/api/v1/emergency", {"enabled": True, "by": "duty"}, (403, 403, 200)),
    ("GET", "/api/v1/users", None, (403, 403, 200)),
    ("GET", "/api/v1/audit", None, (403, 403, 200)),
]


@pytest.mark.parametrize(("method", "path", "body", "want"), ROLES, ids=[f"{m} {p}" for m, p, _, _ in ROLES])
async def test_roles_per_the_policy_table(
    api: Api, method: str, path: str, body: dict[str, object] | None, want: tuple[int, int, int]
) -> None:
    for token, status in zip((OP, SUP, ADMIN), want, strict=True):
        r = await api.client.request(method, path, json=body, headers=bearer(token))
        answer = await r.json()
        assert r.status == status, (token, answer)
        if status == 403:
            assert answer["error"] == "forbidden"
            assert answer["message"]
        if method == "GET" or status != 200:
            continue
        # Undo a change so the next role finds the same state.
        if path.endswith("/login"):
            api.queues.states["op1"] = "logged_out"


async def test_every_route_needs_a_token_but_the_public_ones(api: Api) -> None:
    for route in api.http.routes.all:
        path = route.path.replace("{agent}", "op1").replace("{call_id}", "c-op1")
        r = await api.client.request(route.method, path)
        access = HttpApi.access_of(route)
        if access == "bearer":
            assert r.status == 401, route.op
            body = await r.json()
            assert body["error"] == "unauthorized"
            assert "Bearer" in body["message"]
        elif access == "peer":
            assert r.status == 401, route.op
        else:
            assert r.status != 401, route.op


async def test_an_unknown_or_malformed_token_is_401(api: Api) -> None:
    for header in ("Bearer cto_unknown", "Bearer ", "Basic Ym9vdDp4", "cto_admin", "Bearer " + "x" * 200):
        r = await api.client.get("/api/v1/agents", headers={"Authorization": header})
        assert r.status == 401, header
        assert (await r.json())["error"] == "unauthorized"


async def test_the_bootstrap_token_is_admin(api: Api) -> None:
    r = await api.client.post("/api/v1/config/reload", headers=bearer(BOOT))
    assert r.status == 200
    assert [(e.user, e.role, e.action, e.status) for e in api.store.audited] == [
        ("bootstrap", "admin", "config.reload", 200)
    ]


async def test_a_token_that_cannot_be_checked_is_503_not_401(api: Api) -> None:
    api.store.down = True
    r = await api.client.get("/api/v1/agents", headers=bearer(SUP))
    assert r.status == 503
    assert (await r.json())["error"] == "auth_unavailable"


async def test_the_federation_status_wants_the_peer_token_not_a_users(api: Api) -> None:
    r = await api.client.get("/api/v1/federation/status", headers=bearer(ADMIN))
    assert r.status == 401
    r = await api.client.get("/api/v1/federation/status", headers=bearer(PEER_TOKEN))
    assert r.status == 200


async def test_writes_are_audited_with_their_outcome_and_reads_are_not(api: Api) -> None:
    await api.client.post("/api/v1/agents/op2/pause", json={"reason": "lunch"}, headers=bearer(OP))
    await api.client.post("/api/v1/agents/op2/pause", json={"reason": "lunch"}, headers=bearer(SUP))
    await api.client.post("/api/v1/agents/op2/pause", json={"reason": "nap"}, headers=bearer(SUP))
    await api.client.get("/api/v1/agents/op2", headers=bearer(SUP))
    seen = [(e.user, e.action, e.target, e.status, e.result) for e in api.store.audited]
    assert seen == [
        ("op1", "agent.pause", "op2", 403, "denied"),
        ("supervisor", "agent.pause", "op2", 200, "ok"),
        ("supervisor", "agent.pause", "op2", 400, "failed"),
    ]
    assert api.store.audited[1].details == {
        "method": "POST",
        "path": "/api/v1/agents/op2/pause",
        "reason": "lunch",
    }
