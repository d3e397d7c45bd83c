"""Queues and operators on the real stack: sipp softphones answer as operators
op1..op10 (contacts 127.0.0.1:6101..6110 in the e2e stack), sipp callers wait.
Timings are the e2e routing file's: ring 4 s, wrap-up 2 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from ctoengine.loadgen.runner import Softphone, call, start_call, start_softphone
from ctoengine.loadgen.scenario import Caller, operator_xml
from tests.e2e.stack import TEST_PORTS, Stack, run_stack

pytestmark = pytest.mark.e2e
BASE = int(TEST_PORTS["CTO_OP_PORT_BASE"])


@contextlib.asynccontextmanager
async def phones(**behaviour: str) -> AsyncIterator[dict[str, Softphone]]:
    """Softphones by operator id: ``"answer"`` (after 0.3 s, talk 2 s), ``"long"`` (15 s), ``"longer"``
    (30 s), ``"ignore"``."""
    started: dict[str, Softphone] = {}
    try:
        for op, how in behaviour.items():
            n = int(op.removeprefix("op"))
            hold = {"long": 15000, "longer": 30000}.get(how, 2000)
            xml = operator_xml(ring_ms=300, hold_ms=hold, answer=how != "ignore")
            started[op] = await start_softphone(BASE + n, xml, media_port=26000 + 10 * n)
        yield started
    finally:
        for phone in started.values():
            await phone.stop()


@pytest.fixture(autouse=True)
async def clean_floor(stack: Stack) -> None:
    await stack.reset_agents()


async def login(stack: Stack, *agents: str) -> None:
    for a in agents:
        status, body = await stack.post(f"/api/v1/agents/{a}/login")
        assert status == 200, body
        assert body["state"] in ("available", "unavailable")  # unavailable until Asterisk sees the phone
    for a in agents:
        await stack.wait_agent(a, "available")


def caller(number: str, key: str, talk_ms: int = 12000) -> Caller:
    """Chooses ``key`` over the greeting, then stays on the line until the operator hangs up."""
    return Caller(number, expect_engine_hangup=True, wait_bye_ms=talk_ms).pause(800).dtmf(key)


async def test_skill_routing_and_the_answered_record(stack: Stack, caller_number: str) -> None:
    async with phones(op1="answer", op5="answer"):
        await login(stack, "op1", "op5")
        result = await call(caller(caller_number, "2"), stack.sip)  # egrul: only op5 has it
        assert result.ok, result.errors
    (row,) = await stack.wait_cdr(caller_number)
    assert row["disposition"] == "answered"
    assert row["agent_id"] == "op5"
    assert row["topic"] == "egrul"
    assert row["hangup_by"] == "agent"
    assert 0 <= row["wait_seconds"] < 20
    assert row["talk_seconds"] > 1
    assert row["wrap_up_seconds"] == 2  # the e2e routing's wrap-up: counted in AHT
    pool = await stack.db()
    kinds = await pool.fetch(
        "SELECT kind, agent_id FROM queue_events WHERE call_id = $1 ORDER BY id", row["call_id"]
    )
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        metrics = await r.text()
    assert 'ctoengine_queue_wait_seconds_bucket{le="20.0",outcome="answer",queue="egrul"}' in metrics
    assert 'ctoengine_agents{queue="egrul",state="available"}' in metrics
    expected = [("enter", None), ("ring", "op5"), ("answer", "op5")]
    assert [(k["kind"], k["agent_id"]) for k in kinds] == expected


async def test_longest_idle_agent_first_and_wrap_up_respected(stack: Stack, caller_number: str) -> None:
    first, second = f"{caller_number[:-1]}1", f"{caller_number[:-1]}2"
    async with phones(op1="answer", op2="answer"):
        await login(stack, "op2")
        await asyncio.sleep(0.2)  # op2 has been idle longer than op1 (ordering, not timing, is asserted)
        await login(stack, "op1")
        assert (await call(caller(first, "1"), stack.sip)).ok
        (row1,) = await stack.wait_cdr(first)
        assert row1["agent_id"] == "op2"
        # op2 is in wrap-up now (2 s): the next passport caller goes to op1.
        assert (await stack.agent("op2"))["state"] == "wrap_up"
        assert (await call(caller(second, "1"), stack.sip)).ok
        (row2,) = await stack.wait_cdr(second)
        assert row2["agent_id"] == "op1"
    pool = await stack.db()
    states = [
        r["to_state"]
        for r in await pool.fetch(
            "SELECT to_state FROM agent_events WHERE agent_id = 'op2' AND at >= $1 ORDER BY id",
            row1["started_at"],
        )
    ]
    assert states[:4] == ["reserved", "on_call", "wrap_up", "available"]


async def test_ring_no_answer_moves_on_and_pauses_the_agent(stack: Stack, caller_number: str) -> None:
    a, b = f"{caller_number[:-1]}1", f"{caller_number[:-1]}2"
    async with phones(op3="ignore", op4="answer"):
        await login(stack, "op3")
        await asyncio.sleep(0.2)
        await login(stack, "op4")  # op3 is longest idle: rung first, never answers
        assert (await call(caller(a, "1", talk_ms=20000), stack.sip)).ok
        (row,) = await stack.wait_cdr(a)
        assert row["agent_id"] == "op4"
        assert row["wait_seconds"] >= 4  # one full ring timeout on op3 first
        assert (await stack.agent("op3"))["missed_rings"] == 1
        await stack.post("/api/v1/agents/op4/pause", {"reason": "break"})
        assert (await call(caller(b, "1", talk_ms=10000).pause(6000), stack.sip)).ok is False
    agent = await stack.wait_agent("op3", "paused")
    assert agent["reason"] == "no_answer"


async def test_abandon_while_waiting_and_while_ringing(stack: Stack, caller_number: str) -> None:
    waiting, ringing = f"{caller_number[:-1]}1", f"{caller_number[:-1]}2"
    assert (await call(Caller(waiting).pause(800).dtmf("3").pause(2000), stack.sip)).ok
    (row,) = await stack.wait_cdr(waiting)
    assert row["disposition"] == "abandoned"
    assert row["wait_seconds"] > 1
    async with phones(op8="ignore"):
        await login(stack, "op8")
        assert (await call(Caller(ringing).pause(800).dtmf("3").pause(2000), stack.sip)).ok
        (row,) = await stack.wait_cdr(ringing)
        assert row["disposition"] == "abandoned"
        assert row["ringing_at"] is not None
        agent = await stack.wait_agent("op8", "available")
        assert agent["missed_rings"] == 0  # the caller left: not the operator's fault


async def test_pause_holds_calls_and_unpause_releases_them(stack: Stack, caller_number: str) -> None:
    async with phones(op9="answer"):
        await login(stack, "op9")
        status, body = await stack.post("/api/v1/agents/op9/pause", {"reason": "lunch"})
        assert status == 200
        assert (body["state"], body["reason"]) == ("paused", "lunch")
        status, body = await stack.post("/api/v1/agents/op9/pause", {"reason": "nap"})
        assert status == 400
        assert "lunch" in body["details"]["allowed"]
        running = await start_call(caller(caller_number, "3", talk_ms=20000), stack.sip)
        social = await stack.wait_waiting("social", 1)
        assert social["agents"]["paused"] == 1
        status, body = await stack.post("/api/v1/agents/op9/unpause")
        assert status == 200
        assert (await running.wait()).ok
    (row,) = await stack.wait_cdr(caller_number)
    assert row["agent_id"] == "op9"


async def test_agent_api_errors(stack: Stack) -> None:
    status, body = await stack.post("/api/v1/agents/op99/login")
    assert status == 404
    assert body["error"] == "unknown_agent"
    status, body = await stack.post("/api/v1/agents/op1/pause", {"reason": "break"})
    assert status == 200  # a logged-out operator may be put on pause
    status, body = await stack.post("/api/v1/agents/op1/login")
    assert status == 409
    assert body["error"] == "invalid_agent_state"


async def test_softphone_feature_codes(stack: Stack) -> None:
    async with phones(op2="answer"):  # the operator's phone is on; he dials from it
        await _feature_codes(stack)


async def _feature_codes(stack: Stack) -> None:
    def dial(code: str) -> Caller:  # the operator's phone answers the digest challenge with its password
        auth = stack.sip_auth("op2")
        return Caller("op2", did=code, auth=auth, expect_engine_hangup=True, wait_bye_ms=10000)

    assert (await call(dial("*11"), stack.sip)).ok
    await stack.wait_agent("op2", "available")
    assert (await call(dial("*13"), stack.sip)).ok
    assert (await stack.agent("op2"))["state"] == "paused"
    assert (await call(dial("*14"), stack.sip)).ok
    assert (await stack.agent("op2"))["state"] == "available"
    assert (await call(dial("*12"), stack.sip)).ok
    assert (await stack.agent("op2"))["state"] == "logged_out"


async def test_waiting_callers_survive_sigkill_of_the_engine(stack: Stack, caller_number: str) -> None:
    first, second = f"{caller_number[:-1]}1", f"{caller_number[:-1]}2"
    async with phones(op10="answer"):
        await login(stack, "op10")
        await stack.post("/api/v1/agents/op10/pause", {"reason": "training"})
        a = await start_call(caller(first, "3", talk_ms=40000), stack.sip)
        await asyncio.sleep(1.5)  # order of arrival, asserted below from the records
        b = await start_call(caller(second, "3", talk_ms=40000), stack.sip)
        await stack.wait_waiting("social", 2)
        # Kill only once the snapshot with both callers is in the database.
        pool = await stack.db()
        for _ in range(100):
            raw = await pool.fetchval(
                "SELECT value FROM engine_state WHERE instance = 'e2e' AND key = 'queues'"
            )
            if raw and len(json.loads(raw)["state"]["waiting"]) == 2:
                break
            await asyncio.sleep(0.1)
        pid = int((stack.run_dir / "engine.pid").read_text())
        killed_at = datetime.now(UTC)
        os.kill(pid, signal.SIGKILL)
        up = await asyncio.to_thread(run_stack, stack.env, "up", check=False)
        assert up.returncode == 0, up.stderr
        agent = await stack.agent("op10")
        assert (agent["state"], agent["reason"]) == ("paused", "training")  # the login survived
        # The new engine takes the callers back once its websocket is up: wait for that.
        await stack.wait_waiting("social", 2)
        await stack.post("/api/v1/agents/op10/unpause")
        ra, rb = await asyncio.gather(a.wait(60), b.wait(60))
        assert ra.ok, ra.errors
        assert rb.ok, rb.errors
    (row_a,) = await stack.wait_cdr(first)
    (row_b,) = await stack.wait_cdr(second)
    assert row_a["agent_id"] == row_b["agent_id"] == "op10"
    assert row_a["agent_answered_at"] < row_b["agent_answered_at"]  # same order as before the kill
    # Their waits count from before the kill, not from the restart.
    assert row_a["queued_at"] < row_b["queued_at"] < killed_at
    assert row_a["wait_seconds"] > (row_a["agent_answered_at"] - killed_at).total_seconds() + 1


async def test_connected_calls_survive_sigkill_of_the_engine(stack: Stack, caller_number: str) -> None:
    """Three conversations when the engine dies: A goes on; B's caller and C's operator hang up
    while no engine runs. The new engine follows A to its end and finishes B's and C's rows."""
    number = {k: f"{caller_number[:-1]}{i}" for i, k in enumerate("ABC", 1)}
    calls = {}
    async with phones(op8="longer", op9="long", op10="long"):
        for key, op in zip("ABC", ("op8", "op9", "op10"), strict=True):
            await login(stack, op)  # one at a time: A goes to op8, B to op9, C to op10
            calls[key] = await start_call(caller(number[key], "3", talk_ms=60000), stack.sip)
            await stack.wait_agent(op, "on_call")
        saved: dict[str, Any] = {}
        for _ in range(100):  # kill only once the engine has stored the three conversations
            saved = {c["record"]["caller_number"]: c for c in await stack.saved_calls()}
            if all(saved.get(n, {}).get("leg") for n in number.values()):
                break
            await asyncio.sleep(0.1)
        call_id = {k: str(saved[n]["record"]["call_id"]) for k, n in number.items()}
        leg = {k: str(saved[n]["leg"]) for k, n in number.items()}
        os.kill(int((stack.run_dir / "engine.pid").read_text()), signal.SIGKILL)
        killed_at = datetime.now(UTC)
        assert (await stack.ari("DELETE", f"channels/{call_id['B']}"))[0] == 204  # B's caller hangs up
        assert (await stack.ari("DELETE", f"channels/{leg['C']}"))[0] == 204  # C's operator hangs up
        up = await asyncio.to_thread(run_stack, stack.env, "up", check=False)
        assert up.returncode == 0, up.stderr
        agent = await stack.agent("op8")
        assert agent["state"] == "on_call"  # talking to A, not offered a new call

        rc = await calls["C"].wait(30)  # the engine ends C's call: his operator is gone
        assert rc.ok, rc.errors
        (row_c,) = await stack.wait_cdr(number["C"])
        assert (row_c["disposition"], row_c["agent_id"], row_c["hangup_by"]) == ("answered", "op10", "agent")

        (row_b,) = await stack.wait_cdr(number["B"])  # written by the new engine: not missing
        assert (row_b["disposition"], row_b["agent_id"]) == ("answered", "op9")
        assert row_b["hangup_cause"] == "ended while the engine was down"
        for _ in range(100):  # and op9's phone, left alone in the bridge, is hung up
            if (await stack.ari("GET", f"channels/{leg['B']}"))[0] == 404:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("B's operator leg is still up")
        assert (await calls["B"].wait(10)).ok

        ra = await calls["A"].wait(40)  # op8 hangs up after his 30 s: the engine ends A's call
        assert ra.ok, ra.errors
        await stack.wait_agent("op8", "available")  # after his wrap-up
    (row_a,) = await stack.wait_cdr(number["A"])
    assert (row_a["disposition"], row_a["agent_id"], row_a["hangup_by"]) == ("answered", "op8", "agent")
    assert row_a["ivr_path"] == "main:3"  # the record of before the kill, finished
    assert row_a["agent_answered_at"] < killed_at < row_a["ended_at"]
    assert row_a["talk_seconds"] > (row_a["ended_at"] - killed_at).total_seconds()
    assert row_a["wrap_up_seconds"] == 2


async def test_transfer_to_an_allowlisted_external_destination(stack: Stack, caller_number: str) -> None:
    # In the e2e routing, key 9 sends the caller to "mfc", whose phone is op7's softphone.
    async with phones(op7="answer"):
        await stack.wait_phone("op7")
        result = await call(caller(caller_number, "9"), stack.sip)
        assert result.ok, result.errors  # the destination hung up after talking; so did the engine
    (row,) = await stack.wait_cdr(caller_number)
    assert row["ivr_path"] == "main:9"
    assert row["disposition"] == "answered"
    assert row["agent_id"] is None  # not one of our operators
    assert row["hangup_by"] == "agent"
    assert row["agent_answered_at"] is not None


async def test_a_failed_transfer_falls_back_to_an_operator(stack: Stack, caller_number: str) -> None:
    # Key 8: a destination that cannot be reached, with the general queue as its fallback.
    async with phones(op5="answer"):
        await login(stack, "op5")
        result = await call(caller(caller_number, "8"), stack.sip)
        assert result.ok, result.errors
    (row,) = await stack.wait_cdr(caller_number)
    assert (row["ivr_path"], row["topic"], row["queue"]) == ("main:8", "general", "general")
    assert (row["disposition"], row["agent_id"], row["hangup_by"]) == ("answered", "op5", "agent")
    pool = await stack.db()
    self_service = await pool.fetchval("SELECT self_service FROM calls WHERE call_id = $1", row["call_id"])
    assert json.loads(self_service) == {"transfer": "broken_with_fallback", "connected": False}


async def test_fifo_within_a_queue_and_longest_waiter_across_queues(stack: Stack, caller_number: str) -> None:
    # op1 serves passport and general. A waits in general first, then B and C in passport.
    a, b, c = (f"{caller_number[:-1]}{i}" for i in (1, 2, 3))
    async with phones(op1="answer"):
        await login(stack, "op1")
        await stack.post("/api/v1/agents/op1/pause", {"reason": "break"})
        running = []
        for number, key in ((a, "0"), (b, "1"), (c, "1")):
            running.append(await start_call(caller(number, key, talk_ms=40000), stack.sip))
            await asyncio.sleep(1.2)  # arrival order; the assertion reads the records
        await stack.post("/api/v1/agents/op1/unpause")
        results = await asyncio.gather(*(r.wait(60) for r in running))
        assert all(r.ok for r in results), [r.errors for r in results]
    rows = [(await stack.wait_cdr(n))[0] for n in (a, b, c)]
    assert [r["agent_id"] for r in rows] == ["op1"] * 3
    answered = [r["agent_answered_at"] for r in rows]
    assert answered == sorted(answered)  # A (general, longest waiter) first, then B before C
    assert [r["topic"] for r in rows] == ["general", "passport", "passport"]


async def test_blind_transfer_to_the_second_line_keeps_the_wait(stack: Stack, caller_number: str) -> None:
    async with phones(op1="long", op8="answer"):
        await login(stack, "op1", "op8")
        running = await start_call(caller(caller_number, "1", talk_ms=40000), stack.sip)
        agent = await stack.wait_agent("op1", "on_call")
        call_id = agent["call_id"]
        status, body = await stack.post(f"/api/v1/calls/{call_id}/transfer", {"queue": "social"})
        assert status == 200, body
        result = await running.wait(60)
        assert result.ok, result.errors
    (row,) = await stack.wait_cdr(caller_number)
    assert row["agent_id"] == "op8"
    assert row["queue"] == "social"
    assert row["disposition"] == "answered"
    # The wait counts from the first queue entry, through op1's part of the call.
    assert row["wait_seconds"] >= (row["agent_answered_at"] - row["queued_at"]).total_seconds() - 0.01
    assert row["queued_at"] < row["ringing_at"]
    pool = await stack.db()
    kinds = [
        r["kind"]
        for r in await pool.fetch("SELECT kind FROM queue_events WHERE call_id = $1 ORDER BY id", call_id)
    ]
    assert kinds == ["enter", "ring", "answer", "transfer", "enter", "ring", "answer"]
    assert (await stack.wait_agent("op1", "available"))["state"] == "available"  # after its wrap-up
    status, body = await stack.post(f"/api/v1/calls/{call_id}/transfer", {"queue": "social"})
    assert status == 409
    status, body = await stack.post(f"/api/v1/calls/{call_id}/transfer", {"queue": "nope"})
    assert status == 404


async def test_an_operator_whose_phone_stops_answering_is_unavailable(stack: Stack) -> None:
    async with phones(op6="answer") as started:
        await login(stack, "op6")
        await started["op6"].stop()  # the softphone is gone: Asterisk's OPTIONS go unanswered
        agent = await stack.wait_agent("op6", "unavailable", timeout=15)
        assert agent["reason"] == "unreachable"
        queues = {q["name"]: q for q in await stack.get("/api/v1/queues")}
        assert queues["egrul"]["agents"]["unavailable"] == 1
    async with phones(op6="answer"):
        agent = await stack.wait_agent("op6", "available", timeout=15)
        assert agent["reason"] == "reachable"
