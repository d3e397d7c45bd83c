"""Who may speak SIP to the centre (issue 14, item 1): an operator's phone proves
it is the operator (digest, the password of ``scripts/stack env``) before its
feature code does anything, a softphone may REGISTER with that password and
then takes its calls at the registered contact, and the public entry takes
nothing but the hotline. Peer trunks: test_federation.py (two centres).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from ctoengine.loadgen.runner import Softphone, call, register, start_softphone
from ctoengine.loadgen.scenario import Caller, operator_xml
from tests.e2e.stack import TEST_PORTS, Stack

pytestmark = pytest.mark.e2e
BASE = int(TEST_PORTS["CTO_OP_PORT_BASE"])
# A port no operator's static contact uses (those are BASE+1 … BASE+10).
REGISTERED_PORT = BASE + 90


@contextlib.asynccontextmanager
async def phone(port: int, answer: bool = True) -> AsyncIterator[Softphone]:
    """A softphone on ``port`` that answers after 0.3 s and talks 2 s (or never answers)."""
    xml = operator_xml(ring_ms=300, hold_ms=2000, answer=answer)
    p = await start_softphone(port, xml, media_port=28000 + port % 100 * 10)
    try:
        yield p
    finally:
        await p.stop()


@pytest.fixture(autouse=True)
async def clean_floor(stack: Stack) -> None:
    await stack.reset_agents()


async def test_sip_passwords_are_generated_private_and_printed(stack: Stack) -> None:
    passwords = [stack.exports[f"CTO_SIP_PASSWORD_OP{n}"] for n in range(1, 11)]
    assert len(set(passwords)) == 10 and all(len(p) >= 20 for p in passwords)
    secrets = stack.run_dir / "secrets.env"
    assert secrets.stat().st_mode & 0o777 == 0o600
    assert all(f"CTO_SIP_PASSWORD_OP{n}={p}" in secrets.read_text() for n, p in enumerate(passwords, 1))
    pjsip = stack.run_dir / "asterisk" / "etc" / "pjsip.conf"  # the rendered passwords
    assert pjsip.stat().st_mode & 0o777 == 0o600


async def test_a_feature_code_without_the_password_changes_nothing(stack: Stack) -> None:
    async with phone(BASE + 1):
        await stack.wait_phone("op1")
        status, _ = await stack.post("/api/v1/agents/op1/login")
        assert status == 200
        await stack.wait_agent("op1", "available")
        # An attacker on the network: "From: op1", no credentials, then a guessed password.
        refused = await call(Caller("op1", did="*13", refused_with=401), stack.sip)
        assert refused.ok, refused.errors  # challenged (401), never answered
        wrong = await call(
            Caller("op1", did="*13", auth=("op1", "guessed-password"), refused_with=401), stack.sip
        )
        assert wrong.ok, wrong.errors
        # Another operator's password does not make a call from op1.
        other = await call(
            Caller("op1", did="*13", auth=("op1", stack.sip_auth("op2")[1]), refused_with=401), stack.sip
        )
        assert other.ok, other.errors
        agent = await stack.agent("op1")
        assert agent["state"] == "available"
        # op1's phone with op1's password: the same feature code pauses op1.
        ok = await call(
            Caller(
                "op1", did="*13", auth=stack.sip_auth("op1"), expect_engine_hangup=True, wait_bye_ms=10000
            ),
            stack.sip,
        )
        assert ok.ok, ok.errors
        await stack.wait_agent("op1", "paused", timeout=5)


async def test_the_public_entry_takes_only_the_hotline(stack: Stack, caller_number: str) -> None:
    # A caller who is no operator (or claims to be the trunk itself) lands in from-pstn,
    # where nothing but the hotline number exists: 404, and no operator's state moves.
    for who in (caller_number, "pstn", "op99"):
        for code in ("*11", "*13"):
            result = await call(Caller(who, did=code, refused_with=404), stack.sip)
            assert result.ok, (who, code, result.errors)
    assert {a["state"] for a in await stack.get("/api/v1/agents")} == {"logged_out"}


async def test_register_needs_the_password(stack: Stack) -> None:
    password = stack.sip_auth("op3")[1]
    assert (await register(stack.sip, "op3", None, REGISTERED_PORT, expect=401)).ok
    assert (await register(stack.sip, "op3", "guessed-password", REGISTERED_PORT, expect=401)).ok
    assert (await register(stack.sip, "op3", stack.sip_auth("op4")[1], REGISTERED_PORT, expect=401)).ok
    try:
        assert (await register(stack.sip, "op3", password, REGISTERED_PORT, expires=60)).ok
    finally:
        assert (await register(stack.sip, "op3", password, REGISTERED_PORT, expires=0)).ok


async def test_a_registered_softphone_receives_the_queued_call(stack: Stack, caller_number: str) -> None:
    """op1 registers at a port of its own; its static contact's phone never answers.

    With a registration and a static contact on one AOR, Asterisk 22 dials the
    registered contact first (measured): the call is answered at once, op1 never
    misses a ring. Had it gone to the static contact, op1 would have rung out (4 s)
    and been paused for no answer.
    """
    user, password = stack.sip_auth("op1")
    async with phone(BASE + 1, answer=False), phone(REGISTERED_PORT) as registered:
        result = await register(stack.sip, user, password, REGISTERED_PORT, expires=60)
        assert result.ok, result.errors
        try:
            await stack.wait_phone("op1")
            status, _ = await stack.post("/api/v1/agents/op1/login")
            assert status == 200
            await stack.wait_agent("op1", "available")
            citizen = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=12000).pause(800).dtmf("1")
            answered = await call(citizen, stack.sip)
            assert answered.ok, (answered.errors, registered.errors)
        finally:
            assert (await register(stack.sip, user, password, REGISTERED_PORT, expires=0)).ok
    (row,) = await stack.wait_cdr(caller_number)
    assert (row["disposition"], row["agent_id"]) == ("answered", "op1")
    assert row["wait_seconds"] < 4  # no ring timeout on the silent static phone first
    pool = await stack.db()
    kinds = await pool.fetch(
        "SELECT kind, agent_id FROM queue_events WHERE call_id = $1 ORDER BY id", row["call_id"]
    )
    assert [(k["kind"], k["agent_id"]) for k in kinds] == [
        ("enter", None),
        ("ring", "op1"),
        ("answer", "op1"),
    ]


async def test_repeated_failures_block_the_address(stack: Stack) -> None:
    """Five wrong passwords from one address within a minute: that address gets 403 to
    everything for a while (ctoengine/sipguard: Asterisk's security log, a pjsip ACL),
    and the failures are counted. The stranger sends from 127.0.0.2, so the stack's
    own 127.0.0.1 (every other test's phones and callers) is never the one blocked."""
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        metrics = await r.text()
    if "ctoengine_sip_auth_failures" not in metrics:
        pytest.skip("the engine does not run the SIP guard (ctoengine/sipguard) yet")
    stranger = "127.0.0.2"
    for n in range(5):
        guess = Caller("op1", did="*13", auth=("op1", f"guess-{n}"), refused_with=401, source_ip=stranger)
        assert (await call(guess, stack.sip)).ok
    # Blocked: 403 before any challenge (until then this probe gets 401, which is no failure).
    blocked = Caller("op1", did="*13", refused_with=403, source_ip=stranger)
    for _ in range(50):  # the guard reads the log twice a second
        if (await call(blocked, stack.sip)).ok:
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError(f"{stranger} not blocked after 5 failed passwords")
    async with s.get(f"{stack.api}/metrics") as r:
        metrics = await r.text()
    assert 'ctoengine_sip_auth_failures_total{event="ChallengeResponseFailed"}' in metrics
    assert "ctoengine_sip_blocked_addresses 1.0" in metrics
    # Everyone else is served as before.
    ok = Caller("op1", did="*13", auth=stack.sip_auth("op1"), expect_engine_hangup=True, wait_bye_ms=10000)
    assert (await call(ok, stack.sip)).ok
    await stack.wait_agent("op1", "paused", timeout=5)
