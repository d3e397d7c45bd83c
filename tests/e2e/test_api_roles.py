"""API users, roles, tokens and the audit against the real stack (issue 14, items 3 and 5).

The demo users (admin, supervisor, op1..op10) and their passwords come from
``scripts/stack env`` (``CTO_WEB_PASSWORD_*``). Logins that are meant to fail
come from 127.0.0.2 (still loopback), so the per-address login limit they
trip does not lock out the other tests' logins from 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import io
import secrets
from typing import Any

import aiohttp
import pytest

from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e


async def _audit(stack: Stack, admin: str, limit: int = 500) -> list[dict[str, Any]]:
    status, rows = await stack.call_as(admin, "GET", f"/api/v1/audit?limit={limit}")
    assert status == 200, rows
    return list(rows)


def _has(rows: list[dict[str, Any]], **want: Any) -> bool:
    return any(all(r.get(k) == v for k, v in want.items()) for r in rows)


async def test_demo_users_exist_with_their_roles(stack: Stack) -> None:
    admin = await stack.login("admin")
    status, users = await stack.call_as(admin, "GET", "/api/v1/users")
    assert status == 200, users
    by_name = {u["name"]: u for u in users}
    assert by_name["admin"]["role"] == "admin"
    assert by_name["supervisor"]["role"] == "supervisor"
    for i in range(1, 11):
        assert by_name[f"op{i}"]["role"] == "operator"
        assert by_name[f"op{i}"]["agent"] == f"op{i}"
    assert all("password" not in str(u) for u in users)


async def test_operator_acts_only_on_itself(stack: Stack) -> None:
    await stack.reset_agents()
    op1 = await stack.login("op1")
    status, body = await stack.call_as(op1, "POST", "/api/v1/config/reload")
    assert status == 403, body
    assert body["error"] == "forbidden"
    assert body["message"]
    before = await stack.get("/api/v1/emergency")
    status, body = await stack.call_as(op1, "POST", "/api/v1/emergency", {"enabled": True, "by": "op1"})
    assert status == 403, body
    after = await stack.get("/api/v1/emergency")
    assert after["enabled"] == before["enabled"]
    assert after["source"] == before["source"]
    status, body = await stack.call_as(op1, "POST", "/api/v1/agents/op2/login")
    assert status == 403, body
    status, body = await stack.call_as(op1, "POST", "/api/v1/agents/op2/pause", {"reason": "break"})
    assert status == 403, body
    assert (await stack.agent("op2"))["state"] == "logged_out"
    status, body = await stack.call_as(op1, "GET", "/api/v1/agents/op2")
    assert status == 403, body
    status, body = await stack.call_as(op1, "POST", "/api/v1/agents/op1/login")
    assert status == 200, body
    status, body = await stack.call_as(op1, "POST", "/api/v1/agents/op1/pause", {"reason": "break"})
    assert status == 200, body
    assert body["state"] == "paused"
    status, body = await stack.call_as(op1, "GET", "/api/v1/agents/op1")
    assert status == 200, body

    admin = await stack.login("admin")
    rows = await _audit(stack, admin)
    common = {"user": "op1", "role": "operator", "address": "127.0.0.1"}
    assert _has(rows, action="config.reload", status=403, result="denied", **common)
    assert _has(rows, action="emergency.set", status=403, result="denied", **common)
    assert _has(rows, action="agent.pause", target="op2", status=403, **common)
    assert _has(rows, action="agent.pause", target="op1", status=200, result="ok", **common)
    assert _has(rows, action="login", target="op1", status=200, **common)
    assert not _has(rows, action="agent.get")  # reading is not audited
    assert all("password" not in str(r["details"]) for r in rows)
    await stack.reset_agents()


async def test_supervisor_pauses_anyone_but_cannot_reload(stack: Stack) -> None:
    await stack.reset_agents()
    sup = await stack.login("supervisor")
    status, body = await stack.call_as(sup, "POST", "/api/v1/agents/op3/login")
    assert status == 200, body
    status, body = await stack.call_as(sup, "POST", "/api/v1/agents/op3/pause", {"reason": "lunch"})
    assert status == 200, body
    status, body = await stack.call_as(sup, "GET", "/api/v1/queues")
    assert status == 200, body
    status, body = await stack.call_as(sup, "POST", "/api/v1/config/reload")
    assert status == 403, body
    assert "admin" in body["message"]
    status, body = await stack.call_as(sup, "GET", "/api/v1/users")
    assert status == 403, body

    admin = await stack.login("admin")
    status, body = await stack.call_as(admin, "POST", "/api/v1/config/reload")
    assert status == 200, body
    rows = await _audit(stack, admin)
    assert _has(rows, user="supervisor", role="supervisor", action="agent.pause", target="op3", status=200)
    assert _has(rows, user="supervisor", action="config.reload", status=403, address="127.0.0.1")
    assert _has(rows, user="admin", role="admin", action="config.reload", status=200, result="ok")
    await stack.reset_agents()


async def test_bootstrap_token_is_admin_and_audited_as_bootstrap(stack: Stack) -> None:
    status, body = await stack.post("/api/v1/config/reload")
    assert status == 200, body
    admin = await stack.login("admin")
    rows = await _audit(stack, admin, limit=50)
    assert _has(rows, user="bootstrap", role="admin", action="config.reload", status=200)


async def test_wrong_password_is_401_and_repeats_are_429(stack: Stack) -> None:
    # From 127.0.0.2: the limit is per address and must not lock out the other tests.
    conn = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(connector=conn) as s:
        statuses = []
        for _ in range(12):
            body = {"name": "op4", "password": "not-the-password"}
            async with s.post(f"{stack.api}/api/v1/tokens", json=body) as r:
                statuses.append(r.status)
                answer = await r.json()
                assert "token" not in answer
        assert statuses[0] == 401
        assert statuses[:10] == [401] * 10
        assert statuses[10:] == [429, 429]
        # Even the right password is refused while the address is blocked.
        body = {"name": "op4", "password": stack.web_password("op4")}
        async with s.post(f"{stack.api}/api/v1/tokens", json=body) as r:
            assert r.status == 429
            assert int(r.headers["Retry-After"]) > 0
    await stack.login("op4")  # another address is not blocked
    admin = await stack.login("admin")
    rows = await _audit(stack, admin, limit=100)
    assert _has(rows, user="op4", action="login", status=401, result="denied", address="127.0.0.2")
    assert _has(rows, user="op4", action="login", status=429, address="127.0.0.2")


async def test_unknown_user_is_the_same_401(stack: Stack) -> None:
    conn = aiohttp.TCPConnector(local_addr=("127.0.0.3", 0))
    async with aiohttp.ClientSession(connector=conn) as s:
        body = {"name": "nobody-at-all", "password": "whatever-password"}
        async with s.post(f"{stack.api}/api/v1/tokens", json=body) as r:
            assert r.status == 401
            assert (await r.json())["error"] == "login_failed"


async def test_expired_token_is_401(stack: Stack) -> None:
    token = "cto_" + secrets.token_urlsafe(32)
    pool = await stack.db()
    await pool.execute(
        "INSERT INTO api_tokens (token_hash, user_name, expires_at)"
        " VALUES ($1, 'op5', now() - interval '1 s')",
        hashlib.sha256(token.encode()).hexdigest(),
    )
    status, body = await stack.call_as(token, "GET", "/api/v1/agents/op5")
    assert status == 401, body
    assert body["error"] == "unauthorized"
    fresh = await stack.login("op5")
    status, body = await stack.call_as(fresh, "GET", "/api/v1/agents/op5")
    assert status == 200, body


async def test_tokens_are_stored_hashed_and_expire_in_12_hours(stack: Stack) -> None:
    token = await stack.login("op6")
    pool = await stack.db()
    row = await pool.fetchrow(
        "SELECT token_hash, expires_at - created_at AS ttl FROM api_tokens WHERE token_hash = $1",
        hashlib.sha256(token.encode()).hexdigest(),
    )
    assert row is not None
    assert row["ttl"].total_seconds() == pytest.approx(12 * 3600, abs=5)
    assert await pool.fetchval("SELECT count(*) FROM api_tokens WHERE token_hash = $1", token) == 0


async def test_a_1_mib_body_is_413(stack: Stack) -> None:
    s = await stack.session()
    big = io.BytesIO(b'{"reason": "' + b"x" * (1024 * 1024) + b'"}')
    headers = {**stack.auth, "Content-Type": "application/json"}
    async with s.post(f"{stack.api}/api/v1/agents/op1/pause", data=big, headers=headers) as r:
        assert r.status == 413
        assert (await r.json())["error"] == "too_large"
    async with s.get(f"{stack.api}/livez") as r:
        assert r.status == 200  # still serving
