"""Two complete centres on one machine: two private Asterisks with a SIP trunk
between them, two engines, two databases. A has one passport operator, B has
spare ones; A's callers overflow to B by B's published load."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ctoengine.loadgen.runner import Softphone, call, start_call, start_softphone
from ctoengine.loadgen.scenario import Caller, operator_xml
from tests.e2e.stack import ROOT, Stack, parse_exports, run_stack, stack_env

pytestmark = pytest.mark.e2e

ROUTING = ROOT / "tests/e2e/routing"
TOKENS = {"A": "fed-token-of-a", "B": "fed-token-of-b"}
# The SIP trunk's secret of the pair A-B: each centre challenges the other with it.
PEER_SECRET = "fed-sip-secret-of-a-and-b"
PORTS = {
    "A": {"CTO_SIP_PORT": "6270", "CTO_OP_PORT_BASE": "6300", "CTO_ARI_PORT": "9188", "CTO_PG_PORT": "56532",
          "CTO_HTTP_PORT": "9180", "CTO_RTP_START": "24000", "CTO_RTP_END": "24499"},
    "B": {"CTO_SIP_PORT": "6470", "CTO_OP_PORT_BASE": "6500", "CTO_ARI_PORT": "9288", "CTO_PG_PORT": "56632",
          "CTO_HTTP_PORT": "9280", "CTO_RTP_START": "24500", "CTO_RTP_END": "24999"},
}  # fmt: skip


def _env(me: str, peer: str) -> dict[str, str]:
    return stack_env(
        ROOT / f"run/fed-{me.lower()}",
        ROUTING / f"fed-{me.lower()}.yaml",
        **PORTS[me],
        CTO_OPERATORS="3",
        CTO_CENTRE_ID=me,
        CTO_PEERS=f"{peer}:{PORTS[peer]['CTO_SIP_PORT']}",
        CTO_INSTANCE=f"e2e-{me.lower()}",
        CTO_FEDERATION_TOKEN=TOKENS[me],
        CTO_WRONG_TOKEN="not-the-token-of-b",
        **{f"CTO_PEER_{peer}_TOKEN": TOKENS[peer], f"CTO_PEER_SECRET_{peer}": PEER_SECRET},
    )


@pytest.fixture(scope="module")
async def centres() -> AsyncIterator[dict[str, Stack]]:
    envs = {"A": _env("A", "B"), "B": _env("B", "A")}
    stacks: dict[str, Stack] = {}
    try:
        for name, env in envs.items():
            up = await asyncio.to_thread(run_stack, env, "up", check=False)
            assert up.returncode == 0, up.stderr
            exports = parse_exports((await asyncio.to_thread(run_stack, env, "env")).stdout)
            stacks[name] = Stack(env=env, exports=exports, run_dir=Path(env["CTO_RUN_DIR"]))
            await stacks[name].reset_agents()  # a run dir kept from an earlier run keeps agent states
        yield stacks
    finally:
        for s in stacks.values():
            await s.close()
        for env in envs.values():
            await asyncio.to_thread(run_stack, env, "down", check=False)


@contextlib.asynccontextmanager
async def phones(centre: str, **hold_ms: int) -> AsyncIterator[dict[str, Softphone]]:
    """Softphones that answer after 0.3 s and hang up after ``hold_ms``."""
    base = int(PORTS[centre]["CTO_OP_PORT_BASE"])
    media = 27000 if centre == "A" else 27500
    started: dict[str, Softphone] = {}
    try:
        for op, hold in hold_ms.items():
            n = int(op.removeprefix("op"))
            xml = operator_xml(ring_ms=300, hold_ms=hold)
            started[op] = await start_softphone(base + n, xml, media_port=media + 10 * n)
        yield started
    finally:
        for phone in started.values():
            await phone.stop()


async def login(stack: Stack, *agents: str) -> None:
    for a in agents:
        status, body = await stack.post(f"/api/v1/agents/{a}/login")
        assert status == 200, body
    for a in agents:
        await stack.wait_agent(a, "available")


async def metric(stack: Stack, pattern: str) -> float | None:
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        text = await r.text()
    m = re.search(r"^" + re.escape(pattern) + r" (\S+)$", text, re.M)
    return None if m is None else float(m.group(1))


async def wait_metric(stack: Stack, pattern: str, value: float, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = await metric(stack, pattern)
        if seen == value:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{pattern}: expected {value}, saw {seen}")


def citizen(number: str, wait_bye_ms: int = 30000) -> Caller:
    return Caller(number, expect_engine_hangup=True, wait_bye_ms=wait_bye_ms).pause(800).dtmf("1")


async def test_status_needs_the_peer_token(centres: dict[str, Stack]) -> None:
    b = centres["B"]
    s = await b.session()
    url = f"{b.api}/api/v1/federation/status"
    async with s.get(url) as r:
        assert r.status == 401
    async with s.get(url, headers={"Authorization": f"Bearer {TOKENS['B']}"}) as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["centre"] == "B"
    assert set(doc["topics"]) == {"passport", "general"}


async def test_overflow_to_the_peer_with_spare_operators(
    centres: dict[str, Stack], caller_number: str
) -> None:
    a, b = centres["A"], centres["B"]
    # Peers C (down) and D (refuses our token) are unknown; B is known.
    await wait_metric(a, 'ctoengine_peer_up{peer="B"}', 1)
    await wait_metric(a, 'ctoengine_peer_up{peer="C"}', 0)
    await wait_metric(a, 'ctoengine_peer_up{peer="D"}', 0)
    first, *others = [f"{caller_number[:-1]}{i}" for i in range(3)]
    async with phones("A", op1=20000), phones("B", op1=3000, op2=3000):
        await login(a, "op1")
        await login(b, "op1", "op2")
        busy = await start_call(citizen(first), a.sip)
        await a.wait_agent("op1", "on_call")
        # A's only operator is busy for a while: these two would wait past 20 s at A.
        results = await asyncio.gather(*(call(citizen(n), a.sip) for n in others))
        assert all(r.ok for r in results), [r.errors for r in results]
        await busy.wait(60)
    pool_a, pool_b = await a.db(), await b.db()
    for number in others:
        (row_a,) = await a.wait_cdr(number)
        assert row_a["disposition"] == "overflowed"
        assert row_a["overflow_peer"] == "B"
        assert row_a["federation_id"] == f"A-{row_a['call_id']}"
        assert row_a["hangup_by"] == "peer"
        assert row_a["agent_id"] is None
        # E (priority 5) was tried first: its trunk leads nowhere, so the caller came back, then went to B.
        kinds = [r["kind"] for r in await pool_a.fetch(
            "SELECT kind FROM queue_events WHERE call_id = $1 ORDER BY id", row_a["call_id"]
        )]  # fmt: skip
        assert kinds == ["enter", "overflow", "enter", "overflow"]
        (row_b,) = await b.wait_cdr(number)
        assert row_b["federation_id"] == row_a["federation_id"]
        assert row_b["disposition"] == "answered"
        assert row_b["agent_id"] in ("op1", "op2")
        assert row_b["topic"] == "passport"
        assert row_b["ivr_path"] == "overflow:A"
        assert row_b["centre"] == "ЦТО Б"
        # Answered by B within the target, the wait counted from A's queue entry.
        assert row_a["wait_seconds"] <= row_b["wait_seconds"] <= 20
        b_kinds = [r["kind"] for r in await pool_b.fetch(
            "SELECT kind FROM queue_events WHERE call_id = $1 ORDER BY id", row_b["call_id"]
        )]  # fmt: skip
        assert "overflow" not in b_kinds
    (row_first,) = await a.wait_cdr(first)
    assert (row_first["disposition"], row_first["agent_id"]) == ("answered", "op1")
    assert await metric(a, 'ctoengine_overflows_total{peer="B"}') == 2
    assert await metric(b, 'ctoengine_overflows_received_total{origin="A",result="accepted"}') == 2


async def test_no_usable_peer_keeps_the_caller_at_home(centres: dict[str, Stack], caller_number: str) -> None:
    a, b = centres["A"], centres["B"]
    for agent in ("op1", "op2", "op3"):
        if (await b.agent(agent))["state"] != "logged_out":
            await b.post(f"/api/v1/agents/{agent}/logout")
        await b.wait_agent(agent, "logged_out")
    if (await a.agent("op1"))["state"] != "logged_out":
        await a.post("/api/v1/agents/op1/logout")
    # B now publishes nobody for passport; C and D are unknown: no peer may be chosen.
    caller = Caller(caller_number).pause(800).dtmf("1").pause(6000)
    assert (await call(caller, a.sip)).ok
    (row,) = await a.wait_cdr(caller_number)
    assert row["disposition"] == "abandoned"
    assert row["overflow_peer"] is None and row["federation_id"] is None
    pool = await a.db()
    kinds = [r["kind"] for r in await pool.fetch(
        "SELECT kind FROM queue_events WHERE call_id = $1 ORDER BY id", row["call_id"]
    )]  # fmt: skip
    assert kinds == ["enter", "abandon"]


async def test_a_call_overflowed_once_is_never_sent_on(centres: dict[str, Stack], caller_number: str) -> None:
    b = centres["B"]
    before = await metric(b, 'ctoengine_overflows_received_total{origin="A",result="refused"}') or 0
    # As A's trunk would send it (with A's credentials), but marked as already overflowed twice.
    loop = Caller("peer-A", did="overflow", auth=("peer-A", PEER_SECRET), headers={
        "X-CTO-Federation-Id": "A-loop", "X-CTO-Origin": "A", "X-CTO-Topic": "passport",
        "X-CTO-Waited-Ms": "5000", "X-CTO-Hops": "2", "X-CTO-Caller": caller_number,
    }).pause(1000)  # fmt: skip
    result = await call(loop, b.sip)
    assert not result.ok  # refused: no 200 OK
    await wait_metric(b, 'ctoengine_overflows_received_total{origin="A",result="refused"}', before + 1)
    pool = await b.db()
    assert await pool.fetchval("SELECT count(*) FROM calls WHERE federation_id = 'A-loop'") == 0


async def test_a_spoofed_peer_is_refused(centres: dict[str, Stack], caller_number: str) -> None:
    """Only A's trunk, proven by the pair's secret, speaks for A; and it speaks only for A."""
    b = centres["B"]
    before = await metric(b, 'ctoengine_overflows_received_total{origin="A",result="refused"}') or 0

    def overflow(sender: str, origin: str, refused_with: int, auth: tuple[str, str] | None = None) -> Caller:
        headers = {
            "X-CTO-Federation-Id": f"{origin}-spoof-{caller_number}",
            "X-CTO-Origin": origin,
            "X-CTO-Topic": "passport",
            "X-CTO-Waited-Ms": "1000",
            "X-CTO-Hops": "0",
            "X-CTO-Caller": caller_number,
        }
        return Caller(sender, did="overflow", headers=headers, auth=auth, refused_with=refused_with)

    attempts = {
        "From peer-A, no credentials": overflow("peer-A", "A", refused_with=401),
        "From peer-A, a guessed secret": overflow(
            "peer-A", "A", auth=("peer-A", "guessed-secret"), refused_with=401
        ),
        # A's own credentials, but the headers claim another centre: the dialplan refuses (cause 21: 403).
        "A's secret, origin C": overflow("peer-A", "C", auth=("peer-A", PEER_SECRET), refused_with=403),
        "A's secret, origin B": overflow("peer-A", "B", auth=("peer-A", PEER_SECRET), refused_with=403),
        'A\'s secret, origin A" | "1': overflow(
            "peer-A", 'A" | "1', auth=("peer-A", PEER_SECRET), refused_with=403
        ),
        # No trunk named peer-C at B: the public network, which has no "overflow" number.
        "From peer-C": overflow("peer-C", "C", refused_with=404),
    }
    for name, caller in attempts.items():
        result = await call(caller, b.sip)
        assert result.ok, (name, result.errors)
    pool = await b.db()
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM calls WHERE federation_id LIKE $1", f"%-spoof-{caller_number}"
        )
        == 0
    )
    # None of them reached B's engine (it counts what it refuses itself).
    assert (await metric(b, 'ctoengine_overflows_received_total{origin="A",result="refused"}') or 0) == before
    assert await metric(b, 'ctoengine_overflows_received_total{origin="C",result="refused"}') is None


async def test_a_call_at_the_peer_survives_a_restart_of_the_sender(
    centres: dict[str, Stack], caller_number: str
) -> None:
    a, b = centres["A"], centres["B"]
    await a.reset_agents()
    await b.reset_agents()
    async with phones("B", op1=25000):
        await login(b, "op1")
        await wait_metric(a, 'ctoengine_peer_up{peer="B"}', 1)
        talk = await start_call(citizen(caller_number, wait_bye_ms=60000), a.sip)
        await b.wait_agent("op1", "on_call")
        for _ in range(100):  # kill A only once it has stored the call as bridged to B
            saved = await a.saved_calls("e2e-a")
            if any(c["peer"] == "B" and c["record"]["caller_number"] == caller_number for c in saved):
                break
            await asyncio.sleep(0.1)
        os.kill(int((a.run_dir / "engine.pid").read_text()), signal.SIGKILL)
        killed_at = datetime.now(UTC)
        up = await asyncio.to_thread(run_stack, a.env, "up", check=False)
        assert up.returncode == 0, up.stderr
        result = await talk.wait(60)  # B's operator hangs up after 25 s; A's new engine ends the call
        assert result.ok, result.errors
    (row_a,) = await a.wait_cdr(caller_number)
    assert (row_a["disposition"], row_a["overflow_peer"], row_a["hangup_by"]) == ("overflowed", "B", "peer")
    assert row_a["ended_at"] > killed_at
    (row_b,) = await b.wait_cdr(caller_number)
    assert row_b["federation_id"] == row_a["federation_id"]
    assert row_b["hangup_by"] == "agent"
