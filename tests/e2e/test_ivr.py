"""The IVR on the real stack: sipp callers send RFC 4733 DTMF (and SIP INFO),
the records in `cdr` show the path each call took.
"""

from __future__ import annotations

import asyncio

import pytest

from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.conftest import E2E_ROUTING, e2e_routing_text
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(autouse=True)
async def no_operators(stack: Stack) -> None:
    """IVR tests need callers to stay in the queue: nobody is logged in."""
    await stack.reset_agents()


def menu_then_hang_up(number: str, keys: str, wait_ms: int = 1500) -> Caller:
    return Caller(number).pause(800).dtmf(keys).pause(wait_ms)


async def test_every_menu_branch(stack: Stack, caller_number: str) -> None:
    numbers = {key: f"{caller_number[:-1]}{i}" for i, key in enumerate("1230")}
    results = await asyncio.gather(*(call(menu_then_hang_up(n, k), stack.sip) for k, n in numbers.items()))
    assert all(r.ok for r in results), [r.errors for r in results]
    expected = {"1": "passport", "2": "egrul", "3": "social", "0": "general"}
    for key, number in numbers.items():
        (row,) = await stack.wait_cdr(number)
        assert row["ivr_path"] == f"main:{key}"
        assert row["topic"] == expected[key]
        assert row["disposition"] == "abandoned"  # hung up while waiting: nobody logged in
        assert row["queued_at"] is not None
        assert row["dialed_number"] == "88003336060"


async def test_no_input_repeats_the_menu_twice_then_general(stack: Stack, caller_number: str) -> None:
    result = await call(Caller(caller_number).pause(16000), stack.sip)
    assert result.ok, result.errors
    (row,) = await stack.wait_cdr(caller_number)
    assert row["ivr_path"] == "main:timeout main:timeout main:timeout main:exhausted"
    assert row["topic"] == "general"
    assert row["queued_at"] is not None


async def test_invalid_key_then_a_valid_one(stack: Stack, caller_number: str) -> None:
    # 7 over the greeting: invalid; then 2 while "no such option" plays.
    caller = Caller(caller_number).pause(800).dtmf("7").pause(800).dtmf("2").pause(1500)
    assert (await call(caller, stack.sip)).ok
    (row,) = await stack.wait_cdr(caller_number)
    assert row["ivr_path"] == "main:invalid:7 main:2"
    assert row["topic"] == "egrul"


async def test_barge_in_cuts_the_greeting(stack: Stack, caller_number: str) -> None:
    # The greeting lasts about 8 s; a key after 0.8 s must end the IVR long before.
    assert (await call(menu_then_hang_up(caller_number, "1"), stack.sip)).ok
    (row,) = await stack.wait_cdr(caller_number)
    ivr_seconds = (row["ivr_ended_at"] - row["started_at"]).total_seconds()
    assert ivr_seconds < 4.0, ivr_seconds


async def test_sip_info_dtmf(stack: Stack, caller_number: str) -> None:
    caller = Caller(caller_number).pause(800).info("3").pause(1500)
    assert (await call(caller, stack.sip)).ok
    (row,) = await stack.wait_cdr(caller_number)
    assert (row["ivr_path"], row["topic"]) == ("main:3", "social")


async def test_self_service_known_application(stack: Stack, caller_number: str) -> None:
    caller = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=30000)
    caller.pause(800).dtmf("4").pause(1500).dtmf("123456#")
    result = await call(caller, stack.sip)
    assert result.ok, result.errors  # the engine said goodbye and hung up
    (row,) = await stack.wait_cdr(caller_number)
    assert row["disposition"] == "self_served"
    assert row["ivr_path"] == "main:4 self_service:123456 self_service:status:ready"
    assert row["hangup_by"] == "engine"
    assert row["topic"] is None and row["queued_at"] is None


async def test_self_service_unknown_application(stack: Stack, caller_number: str) -> None:
    caller = Caller(caller_number).pause(800).dtmf("4").pause(1500).dtmf("999999#").pause(4000)
    assert (await call(caller, stack.sip)).ok
    (row,) = await stack.wait_cdr(caller_number)
    assert row["ivr_path"].startswith("main:4 self_service:999999 self_service:unknown")
    assert row["disposition"] != "self_served"


async def _write_routing(text: str) -> None:
    await asyncio.to_thread(E2E_ROUTING.write_text, text, "utf-8")


async def test_broken_reload_keeps_the_running_configuration(stack: Stack, caller_number: str) -> None:
    good = e2e_routing_text()
    broken = good.replace('      "1": {queue: passport}', '      "1": {queue: pasport}')
    assert broken != good
    await _write_routing(broken)
    try:
        status, body = await stack.post("/api/v1/config/reload")
        assert status == 422
        (error,) = body["details"]["errors"]
        line = next(n for n, x in enumerate(broken.splitlines(), 1) if "pasport" in x)
        assert f"routing.yaml:{line}:" in error
        assert "queue 'pasport' does not exist" in error
    finally:
        await _write_routing(good)
    # The old configuration still runs: key 1 is still the passport queue.
    assert (await call(menu_then_hang_up(caller_number, "1"), stack.sip)).ok
    (row,) = await stack.wait_cdr(caller_number)
    assert row["topic"] == "passport"
    metrics = await (await stack.session()).get(f"{stack.api}/metrics")
    assert 'ctoengine_config_reloads_total{result="failed"}' in await metrics.text()


async def test_night_mode_after_a_live_reload(stack: Stack, caller_number: str) -> None:
    good = e2e_routing_text()
    # No working hours at all: whatever the time now, the centre is in night mode.
    night = good.replace("  always_open: true", "  always_open: false").replace(
        '    mon: ["08:00-20:00"]', "    mon: []"
    )
    for day in ("tue", "wed", "thu", "fri"):
        night = night.replace(f'    {day}: ["08:00-20:00"]', f"    {day}: []")
    night = night.replace('    sat: ["09:00-18:00"]', "    sat: []")
    await _write_routing(night)
    try:
        status, _ = await stack.post("/api/v1/config/reload")
        assert status == 200
        caller = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=30000)
        caller.pause(800).dtmf("4").pause(1500).dtmf("123456#")
        assert (await call(caller, stack.sip)).ok
        (row,) = await stack.wait_cdr(caller_number)
        assert row["ivr_path"] == "night night:4 self_service:123456 self_service:status:ready"
        assert row["disposition"] == "self_served"
    finally:
        await _write_routing(good)
        status, _ = await stack.post("/api/v1/config/reload")
        assert status == 200


async def test_emergency_mode_switched_live(stack: Stack, caller_number: str) -> None:
    on, off = f"{caller_number[:-1]}1", f"{caller_number[:-1]}2"
    status, body = await stack.post("/api/v1/emergency", {"enabled": True, "by": "duty officer"})
    assert status == 200
    assert body["enabled"] is True and body["by"] == "duty officer"
    try:
        # The emergency message cannot be skipped: the key is kept and applied after it.
        assert (await call(Caller(on).pause(800).dtmf("1").pause(9000), stack.sip)).ok
    finally:
        status, body = await stack.post("/api/v1/emergency", {"enabled": False, "by": "duty officer"})
        assert status == 200 and body["enabled"] is False
    assert (await call(menu_then_hang_up(off, "1"), stack.sip)).ok
    (row_on,) = await stack.wait_cdr(on)
    (row_off,) = await stack.wait_cdr(off)
    assert row_on["ivr_path"] == "emergency main:1"
    assert row_off["ivr_path"] == "main:1"
    status, body = await stack.post("/api/v1/emergency", {"enabled": "yes"})
    assert status == 400 and body["error"] == "bad_request"
