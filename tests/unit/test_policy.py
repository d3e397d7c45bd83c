"""The policy table (each role x route), tokens, passwords and the login limiter: no database."""

from __future__ import annotations

import pytest

from ctoengine.users.policy import (
    ADMIN,
    BOOTSTRAP,
    POLICY,
    FailureLimiter,
    Principal,
    Role,
    decide,
    rule_for,
)
from ctoengine.users.secrets import (
    TOKEN_PREFIX,
    hash_password,
    new_token,
    password_problem,
    token_hash,
    verify_password,
)

OP1 = Principal("op1", Role.OPERATOR, "op1")
SUP = Principal("supervisor", Role.SUPERVISOR)
ADM = Principal("admin", Role.ADMIN)

# (method, route, params) -> whether (op1 operator, supervisor, admin) may
CASES: list[tuple[str, str, dict[str, str], tuple[bool, bool, bool]]] = [
    ("GET", "/api/v1/agents", {}, (False, True, True)),
    ("GET", "/api/v1/agents/{agent}", {"agent": "op1"}, (True, True, True)),
    ("GET", "/api/v1/agents/{agent}", {"agent": "op2"}, (False, True, True)),
    ("POST", "/api/v1/agents/{agent}/login", {"agent": "op1"}, (True, True, True)),
    ("POST", "/api/v1/agents/{agent}/logout", {"agent": "op1"}, (True, True, True)),
    ("POST", "/api/v1/agents/{agent}/pause", {"agent": "op1"}, (True, True, True)),
    ("POST", "/api/v1/agents/{agent}/unpause", {"agent": "op1"}, (True, True, True)),
    ("POST", "/api/v1/agents/{agent}/pause", {"agent": "op2"}, (False, True, True)),
    ("POST", "/api/v1/agents/{agent}/login", {"agent": "op10"}, (False, True, True)),
    ("GET", "/api/v1/queues", {}, (False, True, True)),
    ("GET", "/api/v1/callbacks", {}, (False, True, True)),
    ("POST", "/api/v1/calls/{call_id}/transfer", {"call_id": "mine"}, (True, True, True)),
    ("POST", "/api/v1/calls/{call_id}/transfer", {"call_id": "theirs"}, (False, True, True)),
    ("POST", "/api/v1/calls/{call_id}/transfer", {"call_id": "nobody"}, (False, True, True)),
    ("POST", "/api/v1/calls/{call_id}/appeal", {"call_id": "mine"}, (True, True, True)),
    ("POST", "/api/v1/calls/{call_id}/appeal", {"call_id": "theirs"}, (False, True, True)),
    ("PATCH", "/api/v1/appeals/{appeal_id}", {"appeal_id": "1"}, (False, True, True)),
    ("GET", "/api/v1/history", {}, (False, True, True)),
    # Issue 18: recordings and live listening are for supervisors, even on the operator's own call.
    ("GET", "/api/v1/calls/{call_id}/recording", {"call_id": "mine"}, (False, True, True)),
    ("POST", "/api/v1/calls/{call_id}/listen", {"call_id": "mine"}, (False, True, True)),
    ("POST", "/api/v1/calls/{call_id}/listen/mode", {"call_id": "mine"}, (False, True, True)),
    ("DELETE", "/api/v1/calls/{call_id}/listen", {"call_id": "mine"}, (False, True, True)),
    ("POST", "/api/v1/config/reload", {}, (False, False, True)),
    ("GET", "/api/v1/emergency", {}, (False, True, True)),
    ("POST", "/api/v1/emergency", {}, (False, False, True)),
    ("GET", "/api/v1/users", {}, (False, False, True)),
    ("POST", "/api/v1/users", {}, (False, False, True)),
    ("GET", "/api/v1/audit", {}, (False, False, True)),
    ("POST", "/api/v1/tokens", {}, (True, True, True)),
    ("HEAD", "/api/v1/agents", {}, (False, True, True)),
    ("POST", "/api/v1/something/new", {}, (False, False, True)),  # unlisted: admins only
]


def _owner(call_id: str) -> str | None:
    return {"mine": "op1", "theirs": "op2"}.get(call_id)


@pytest.mark.parametrize(("method", "route", "params", "allowed"), CASES)
def test_policy_table(
    method: str, route: str, params: dict[str, str], allowed: tuple[bool, bool, bool]
) -> None:
    rule = rule_for(method, route)
    got = tuple(decide(rule, who, params, _owner) is None for who in (OP1, SUP, ADM))
    assert got == allowed
    assert decide(rule, BOOTSTRAP, params, _owner) is None  # the bootstrap token is admin


def test_every_listed_route_is_in_the_cases() -> None:
    assert {(m, r) for m, r, _, _ in CASES if m != "HEAD"} >= set(POLICY)


def test_refusals_say_why() -> None:
    msg = decide(rule_for("POST", "/api/v1/config/reload"), OP1, {})
    assert msg is not None
    assert "config.reload" in msg
    assert "admin" in msg
    msg = decide(rule_for("POST", "/api/v1/agents/{agent}/pause"), OP1, {"agent": "op2"})
    assert msg is not None
    assert "own agent (op1)" in msg
    unbound = Principal("x", Role.OPERATOR, None)
    assert decide(rule_for("POST", "/api/v1/agents/{agent}/pause"), unbound, {"agent": "op1"}) is not None


def test_unlisted_route_is_admin_only() -> None:
    rule = rule_for("DELETE", "/api/v1/whatever/{id}")
    assert rule.roles == ADMIN
    assert rule.action == "DELETE /api/v1/whatever/{id}"


def test_tokens_are_random_and_stored_as_sha256() -> None:
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    t = next(iter(tokens))
    assert t.startswith(TOKEN_PREFIX)
    assert len(t) >= len(TOKEN_PREFIX) + 43  # 256 bits, URL-safe base64
    h = token_hash(t)
    assert len(h) == 64
    assert int(h, 16) >= 0
    assert token_hash(t) == h
    assert t not in h


async def test_passwords_hash_with_argon2_off_the_loop() -> None:
    stored = await hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert "correct horse" not in stored
    assert await verify_password(stored, "correct horse battery")
    assert not await verify_password(stored, "wrong horse battery")
    assert not await verify_password(None, "correct horse battery")  # an unknown user
    assert not await verify_password("not a hash", "x")


def test_password_rules() -> None:
    assert password_problem("short") is not None
    assert password_problem(12345678901) is not None
    assert password_problem("long enough password") is None
    assert password_problem("x" * 2000) is not None


def test_login_limiter_blocks_after_ten_failures_a_minute() -> None:
    lim = FailureLimiter(limit=10, window_s=60.0)
    now = 1000.0
    for i in range(10):
        assert lim.retry_after("10.0.0.1", now + i) is None
        lim.failed("10.0.0.1", now + i)
    wait = lim.retry_after("10.0.0.1", now + 10)
    assert wait == pytest.approx(50.0)
    assert lim.retry_after("10.0.0.2", now + 10) is None  # per address
    assert lim.retry_after("10.0.0.1", now + 60.5) is None  # the first failure left the window


def test_login_limiter_forgets_the_stalest_addresses() -> None:
    lim = FailureLimiter(limit=1, window_s=60.0, max_keys=3)
    for i in range(5):
        lim.failed(f"a{i}", float(i))
    assert lim.retry_after("a0", 5.0) is None
    assert lim.retry_after("a4", 5.0) is not None
