"""The dispositions the other e2e files do not reach, each checked field by field:
callback_requested (max wait reached), closed (night: nothing to do but goodbye),
failed (a transfer destination that cannot be reached)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.conftest import e2e_routing_text
from tests.e2e.stack import Stack
from tests.e2e.test_ivr import _write_routing

pytestmark = pytest.mark.e2e

DID = "88003336060"


@pytest.fixture(autouse=True)
async def no_operators(stack: Stack) -> None:
    await stack.reset_agents()


def _common(row: Any, number: str) -> None:
    """What every record holds, whatever happened to the call."""
    assert row["caller_number"] == number
    assert row["dialed_number"] == DID
    assert row["centre"] == "ЦТО пилотный"
    assert row["instance"]
    assert row["call_id"]
    assert row["federation_id"] is None
    assert row["overflow_peer"] is None
    assert row["survey_score"] is None
    assert row["started_at"] <= row["ivr_ended_at"] <= row["ended_at"]
    assert row["ended_at"] - row["started_at"] < timedelta(seconds=60)


async def test_callback_requested_at_max_wait(stack: Stack, caller_number: str) -> None:
    caller = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=20000).pause(800).dtmf("5")
    result = await call(caller, stack.sip)
    assert result.ok, result.errors
    (row,) = await stack.wait_cdr(caller_number)
    _common(row, caller_number)
    assert row["disposition"] == "callback_requested"
    assert row["ivr_path"] == "main:5"
    assert (row["topic"], row["queue"]) == ("pension", "pension")
    assert row["queued_at"] is not None
    assert row["ringing_at"] is None and row["agent_answered_at"] is None
    assert row["agent_id"] is None
    assert 3 <= row["wait_seconds"] < 6  # max_wait_s: 3 in the e2e routing
    assert row["talk_seconds"] is None and row["wrap_up_seconds"] is None
    assert row["hangup_by"] == "engine"
    pool = await stack.db()
    kinds = [r["kind"] for r in await pool.fetch(
        "SELECT kind FROM queue_events WHERE call_id = $1 ORDER BY id", row["call_id"]
    )]  # fmt: skip
    assert kinds == ["enter", "exit"]


async def test_closed_at_night(stack: Stack, caller_number: str) -> None:
    good = e2e_routing_text()
    night = good.replace("  always_open: true", "  always_open: false")
    for day, hours in (
        ("mon", "08:00-20:00"),
        ("tue", "08:00-20:00"),
        ("wed", "08:00-20:00"),
        ("thu", "08:00-20:00"),
        ("fri", "08:00-20:00"),
        ("sat", "09:00-18:00"),
    ):
        night = night.replace(f'    {day}: ["{hours}"]', f"    {day}: []")  # fmt: skip
    await _write_routing(night)
    try:
        status, _ = await stack.post("/api/v1/config/reload")
        assert status == 200
        # No key: the night menu times out and says goodbye.
        caller = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=30000)
        assert (await call(caller, stack.sip)).ok
    finally:
        await _write_routing(good)
        status, _ = await stack.post("/api/v1/config/reload")
        assert status == 200
    (row,) = await stack.wait_cdr(caller_number)
    _common(row, caller_number)
    assert row["disposition"] == "closed"
    assert row["ivr_path"] == "night night:timeout night:timeout night:exhausted"
    assert row["topic"] is None and row["queue"] is None
    assert row["queued_at"] is None and row["wait_seconds"] is None
    assert row["agent_id"] is None and row["talk_seconds"] is None
    assert row["hangup_by"] == "engine"


async def test_failed_transfer(stack: Stack, caller_number: str) -> None:
    caller = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=20000).pause(800).dtmf("6")
    assert (await call(caller, stack.sip)).ok
    (row,) = await stack.wait_cdr(caller_number)
    _common(row, caller_number)
    assert row["disposition"] == "failed"
    assert row["ivr_path"] == "main:6"
    assert row["queued_at"] is None and row["agent_answered_at"] is None
    assert row["agent_id"] is None and row["talk_seconds"] is None
    assert row["hangup_by"] == "engine"
