"""Callbacks on the real stack (issue 15, docs/callbacks.md).

A sipp UAS on the outbound trunk's address (127.0.0.1:6090 in the e2e stack,
``CTO_PSTN_OUT_PORT``) plays the citizen's phone; sipp softphones answer as
operators; sipp callers wait and press keys. Timings are the e2e routing file's:
the offer at once when nobody with the topic is logged in, the citizen's phone
rung 5 s, a retry after 3 s, two attempts. Each test expires the requests it
leaves open, so that no later test's operator is taken by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ctoengine.loadgen.runner import Softphone, call
from ctoengine.loadgen.scenario import Caller, operator_xml
from tests.e2e.conftest import e2e_routing_text
from tests.e2e.stack import TEST_PORTS, Stack, run_stack
from tests.e2e.test_ivr import _write_routing
from tests.e2e.test_queues import phones

pytestmark = pytest.mark.e2e

CITIZEN_PORT = int(TEST_PORTS["CTO_PSTN_OUT_PORT"])
HOTLINE = "88003336060"
PASSPORT = "1"  # the main menu's key of the passport queue (op1..op4)


OPEN = "UPDATE callbacks SET status = 'expired' WHERE status IN ('pending', 'dialing')"


@pytest.fixture(autouse=True)
async def clean_floor(stack: Stack) -> AsyncIterator[None]:
    # No request of an earlier run or test is open: the scheduler would dial it first.
    pool = await stack.db()
    await pool.execute(OPEN)
    await stack.reset_agents()
    yield
    # Nor is one of this test's: it must not take the operator of a later test.
    await pool.execute(OPEN)


# --- the citizen's phone --------------------------------------------------------------
def citizen_xml(answer: bool, hold_ms: int = 8000) -> str:
    """An operator-like UAS that also logs each INVITE's request-URI user and From header."""
    xml = operator_xml(ring_ms=300, hold_ms=hold_ms, answer=answer)
    anchor = '      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="from_hdr"/>\n'
    assert anchor in xml
    logged = (
        anchor
        + '      <ereg regexp="^INVITE sip:([^@]*)@" search_in="msg" assign_to="ruri,ruri_user"/>\n'
        + '      <log message="INVITE user=[$ruri_user] line=[$ruri] from=[$from_hdr]"/>\n'
    )
    return xml.replace(anchor, logged)


@contextlib.asynccontextmanager
async def citizen(answer: bool = True, hold_ms: int = 8000) -> AsyncIterator[Softphone]:
    """The citizen's phone at the trunk's address; ``.workdir`` holds its INVITE log."""
    workdir = Path(tempfile.mkdtemp(prefix="sipp-citizen-"))
    scenario = workdir / "citizen.xml"
    scenario.write_text(citizen_xml(answer, hold_ms), encoding="latin-1")
    proc = await asyncio.create_subprocess_exec(
        "sipp",
        "-sf",
        str(scenario),
        "-i",
        "127.0.0.1",
        "-p",
        str(CITIZEN_PORT),
        "-mp",
        "27000",
        "-nostdin",
        "-trace_err",
        "-trace_logs",
        cwd=workdir,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    phone = Softphone(proc, workdir, CITIZEN_PORT)
    try:
        yield phone
    finally:
        await phone.stop()


def invites(phone: Softphone) -> list[str]:
    """The INVITE lines the citizen's phone logged (one per attempt)."""
    text = "".join(p.read_text(errors="replace") for p in phone.workdir.glob("*_logs.log"))
    return [line for line in text.splitlines() if "INVITE user=" in line]


# --- callers and operators ------------------------------------------------------------
def accepting(number: str, key: str = PASSPORT) -> Caller:
    """Chooses the queue, hears the offer (nobody of the topic is logged in), presses 1,
    hears the confirmation and is hung up on by the engine."""
    return (
        Caller(number, expect_engine_hangup=True, wait_bye_ms=25000)
        .pause(800)
        .dtmf(key)
        .pause(4000)
        .dtmf("1")
    )


async def log_in(stack: Stack, agent: str) -> None:
    """Logs in without waiting for "available": a pending callback may reserve him at once."""
    await stack.wait_phone(agent)  # reachable first: available from the login on
    status, body = await stack.post(f"/api/v1/agents/{agent}/login")
    assert status == 200, body


async def request_of(stack: Stack, origin_call_id: str) -> asyncpg.Record:
    pool = await stack.db()
    row = await pool.fetchrow("SELECT * FROM callbacks WHERE origin_call_id = $1", origin_call_id)
    assert row is not None, f"no callback request of {origin_call_id}"
    return row


async def wait_request(stack: Stack, callback_id: str, status: str, timeout: float = 60) -> asyncpg.Record:
    pool = await stack.db()
    deadline = time.monotonic() + timeout
    row: Any = None
    while time.monotonic() < deadline:
        row = await pool.fetchrow("SELECT * FROM callbacks WHERE id = $1", callback_id)
        if row is not None and row["status"] == status:
            return row
        await asyncio.sleep(0.3)
    raise AssertionError(f"callback {callback_id} not {status} within {timeout}s: {dict(row or {})}")


async def requested(stack: Stack, number: str) -> tuple[asyncpg.Record, asyncpg.Record]:
    """A caller accepts the offer: his inbound row and his pending request."""
    result = await call(accepting(number), stack.sip)
    assert result.ok, result.errors
    (row,) = await stack.wait_cdr(number)
    assert row["disposition"] == "callback_requested"
    assert row["direction"] == "inbound"
    assert row["topic"] == "passport"
    assert row["hangup_by"] == "engine"
    assert row["callback_id"] is not None
    cb = await request_of(stack, row["call_id"])
    assert cb["id"] == row["callback_id"]
    assert (cb["number"], cb["topic"], cb["status"], cb["attempts"]) == (number, "passport", "pending", 0)
    assert cb["due_by"] - cb["requested_at"] == timedelta(hours=24)  # the promise
    return row, cb


# --- the tests --------------------------------------------------------------------------
async def test_accepted_offer_is_called_back_and_bridged_to_the_operator(
    stack: Stack, caller_number: str
) -> None:
    inbound, cb = await requested(stack, caller_number)
    # The citizen talks 16 s from his answer: the introduction (about 7 s), then the operator.
    async with citizen(answer=True, hold_ms=16000) as phone, phones(op1="longer"):
        await log_in(stack, "op1")
        done = await wait_request(stack, cb["id"], "done", timeout=60)
        rows = await stack.wait_cdr(caller_number, count=2, timeout=30)
        # After the queue's wrap-up, while his softphone still answers (see the night test).
        await stack.wait_agent("op1", "available", timeout=15)
    lines = invites(phone)  # read after the phone stopped (sipp writes each line at once anyway)
    assert done["attempts"] == 1 and done["last_result"] == "answered"
    assert done["done_at"] <= done["due_by"]
    back = next(r for r in rows if r["direction"] == "callback")
    assert back["call_id"] in done["call_ids"]
    assert back["callback_id"] == inbound["callback_id"] == cb["id"]  # the two rows are linked
    assert (back["disposition"], back["agent_id"], back["topic"]) == ("answered", "op1", "passport")
    assert back["caller_number"] == caller_number  # the citizen's number, erased by the retention job
    assert back["hangup_by"] == "caller"  # the citizen's phone hung up after talking
    assert back["talk_seconds"] > 3
    assert back["agent_answered_at"] > inbound["ended_at"]
    # What the trunk received: the number as the citizen's call carried it, the hotline as caller id.
    (line,) = lines
    assert f"user={caller_number} " in line
    assert HOTLINE in line.split("from=", 1)[1]
    # Supervisors see it; an operator does not.
    supervisor = await stack.login("supervisor")
    status, listed = await stack.call_as(supervisor, "GET", "/api/v1/callbacks?status=done")
    assert status == 200
    mine = next(x for x in listed if x["id"] == cb["id"])
    assert (mine["number"], mine["topic"], mine["status"], mine["attempts"]) == (
        caller_number,
        "passport",
        "done",
        1,
    )
    status, _ = await stack.call_as(await stack.login("op1"), "GET", "/api/v1/callbacks")
    assert status == 403
    metrics = await (await stack.session()).get(f"{stack.api}/metrics")
    text = await metrics.text()
    assert 'ctoengine_callback_attempts_total{result="answered"}' in text
    assert "ctoengine_callbacks_pending " in text


async def test_no_answer_is_retried_then_failed(stack: Stack, caller_number: str) -> None:
    _, cb = await requested(stack, caller_number)
    async with citizen(answer=False) as phone, phones(op2="longer"):
        await log_in(stack, "op2")
        failed = await wait_request(stack, cb["id"], "failed", timeout=90)
        rows = await stack.wait_cdr(caller_number, count=3, timeout=30)
        agent = await stack.wait_agent("op2", "available", timeout=15)
    lines = invites(phone)
    assert failed["attempts"] == 2  # callback.attempts in the e2e routing
    assert failed["last_result"] in ("no_answer", "failed")
    assert len(failed["call_ids"]) == 2
    assert len(lines) == 2  # rung twice
    tries = [r for r in rows if r["direction"] == "callback"]
    assert [r["disposition"] for r in tries] == ["failed", "failed"]
    assert all(r["callback_id"] == cb["id"] and r["agent_answered_at"] is None for r in tries)
    # The retry came after the interval (3 s) from the end of the first attempt.
    assert (tries[1]["started_at"] - tries[0]["ended_at"]).total_seconds() >= 3
    assert agent["missed_rings"] == 0  # the citizen did not answer: not the operator's fault


async def test_a_pending_request_survives_an_engine_restart(stack: Stack, caller_number: str) -> None:
    _, cb = await requested(stack, caller_number)
    os.kill(int((stack.run_dir / "engine.pid").read_text()), signal.SIGKILL)
    up = await asyncio.to_thread(run_stack, stack.env, "up", check=False)
    assert up.returncode == 0, up.stderr
    assert (await request_of(stack, cb["origin_call_id"]))["status"] == "pending"
    async with citizen(answer=True, hold_ms=12000), phones(op3="longer"):
        await log_in(stack, "op3")
        done = await wait_request(stack, cb["id"], "done", timeout=60)
        await stack.wait_agent("op3", "available", timeout=15)
    assert done["attempts"] == 1


@pytest.mark.parametrize("withheld", [True, False])
async def test_no_callback_is_promised_to_a_number_that_cannot_be_called(
    stack: Stack, caller_number: str, withheld: bool
) -> None:
    # Anonymous, or a foreign number (44…): the pension queue gives up after 3 s.
    number = "anonymous" if withheld else f"44{caller_number[-9:]}"
    started = datetime.now(UTC)
    caller = (
        Caller(number, expect_engine_hangup=True, wait_bye_ms=25000)
        .pause(800)
        .dtmf("5")
        .pause(1500)
        .dtmf("1")
    )
    result = await call(caller, stack.sip)
    assert result.ok, result.errors
    pool = await stack.db()
    deadline = time.monotonic() + 20
    rows: list[asyncpg.Record] = []
    while time.monotonic() < deadline and not rows:
        rows = await pool.fetch(
            "SELECT * FROM cdr WHERE caller_number = $1 AND started_at >= $2 AND topic = 'pension'",
            number,
            started,
        )
        await asyncio.sleep(0.2)
    (row,) = rows
    assert row["disposition"] == "abandoned"  # not callback_requested: nothing was promised
    assert row["hangup_by"] == "engine"
    assert row["callback_id"] is None
    assert (
        await pool.fetchval("SELECT count(*) FROM callbacks WHERE origin_call_id = $1", row["call_id"]) == 0
    )


async def test_a_request_at_night_is_dialled_in_the_morning(stack: Stack, caller_number: str) -> None:
    good = e2e_routing_text()
    # The callback hours closed (the IVR stays open, so the request can be made "at night").
    night = good.replace(
        "callback:\n  offer_after_s: 2", "callback:\n  schedule: {always_open: false}\n  offer_after_s: 2"
    )
    assert night != good
    await _write_routing(night)
    try:
        status, body = await stack.post("/api/v1/config/reload")
        assert status == 200, body
        _, cb = await requested(stack, caller_number)
        async with citizen(answer=True, hold_ms=12000) as phone, phones(op4="longer"):
            await log_in(stack, "op4")
            await asyncio.sleep(5)  # several ticks of the scheduler: nothing is dialled
            assert (await request_of(stack, cb["origin_call_id"]))["status"] == "pending"
            assert (await stack.agent("op4"))["state"] == "available"
            assert invites(phone) == []
            await _write_routing(good)  # the morning
            status, body = await stack.post("/api/v1/config/reload")
            assert status == 200, body
            done = await wait_request(stack, cb["id"], "done", timeout=60)
            # While his softphone still answers: once it is gone, the end of the wrap-up
            # finds him unreachable (unavailable), and the test would wait in vain.
            await stack.wait_agent("op4", "available", timeout=15)
        assert done["attempts"] == 1
    finally:
        await _write_routing(good)
        await stack.post("/api/v1/config/reload")


async def test_requests_are_deduplicated_per_number_and_topic(stack: Stack, caller_number: str) -> None:
    _, cb = await requested(stack, caller_number)
    result = await call(accepting(caller_number), stack.sip)
    assert result.ok, result.errors
    rows = await stack.wait_cdr(caller_number, count=2)
    assert [r["callback_id"] for r in rows] == [cb["id"], cb["id"]]  # the second call joined the open one
    pool = await stack.db()
    assert await pool.fetchval("SELECT count(*) FROM callbacks WHERE number = $1", caller_number) == 1
