"""Issue 13, the ARI side, against the real Asterisk: a frozen websocket, events lost while the
engine was away, a peer's garbage headers. Asterisk is frozen with SIGSTOP (the engine must notice
by its websocket heartbeat: 10 s quiet, 5 s to answer), never restarted, so its channels live on."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from collections.abc import AsyncIterator
from urllib.parse import quote

import pytest

from ctoengine.calls.task import LOST_CAUSE
from ctoengine.loadgen.runner import start_call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

DID = os.environ.get("CTO_DID", "88003336060")


async def metric(stack: Stack, name: str, labels: str = "") -> float:
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        text = await r.text()
    prefix = f"{name}{{{labels}}} " if labels else f"{name} "
    line = next((x for x in text.splitlines() if x.startswith(prefix)), None)
    return float(line.split()[-1]) if line else 0.0


async def ari_up(stack: Stack) -> bool:
    s = await stack.session()
    async with s.get(f"{stack.api}/healthz") as r:
        return bool((await r.json()).get("ari"))


async def wait_ari(stack: Stack, up: bool, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        for _ in itertools.count():
            if await ari_up(stack) is up:
                return
            await asyncio.sleep(0.2)


async def caller_channel(stack: Stack, number: str, timeout: float = 10) -> str:
    """The id of the caller's channel once it is in the engine's application."""
    async with asyncio.timeout(timeout):
        while True:
            status, channels = await stack.ari("GET", "channels")
            assert status == 200
            for c in channels:
                if c["caller"]["number"] == number and c["dialplan"]["app_name"] == "Stasis":
                    return str(c["id"])
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def frozen(pid: int) -> AsyncIterator[None]:
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def pid_of(stack: Stack, name: str) -> int:
    return int((stack.run_dir / f"{name}.pid").read_text().split()[0])


async def test_a_caller_in_the_ivr_survives_a_frozen_websocket(stack: Stack, caller_number: str) -> None:
    """Asterisk frozen for longer than the heartbeat: the engine drops the websocket, reconnects,
    and the caller's running IVR task continues: no second task (no IVR from the start), one row."""
    started = await metric(stack, "ctoengine_calls_started_total")
    taken_back = await metric(stack, "ctoengine_reconciled_total", 'action="taken_back"')
    running = await start_call(Caller(caller_number).pause(45000), stack.sip)
    await caller_channel(stack, caller_number)
    async with frozen(pid_of(stack, "asterisk")):
        await wait_ari(stack, False, timeout=40)  # noticed by the heartbeat, not by a close
    await wait_ari(stack, True, timeout=30)
    await running.wait(timeout=90)
    (row,) = await stack.wait_cdr(caller_number, timeout=30)
    assert row["hangup_by"] == "caller"
    assert await metric(stack, "ctoengine_calls_started_total") == started + 1
    assert await metric(stack, "ctoengine_reconciled_total", 'action="taken_back"') == taken_back
    assert await metric(stack, "ctoengine_ari_reconnects_total") >= 1


async def test_a_hangup_while_the_engine_was_away_gets_its_row(stack: Stack, caller_number: str) -> None:
    """The caller's channel is hung up (over ARI) while the engine has no websocket: its
    ChannelDestroyed is lost; the reconciliation after the reconnect finishes the call."""
    running = await start_call(Caller(caller_number).pause(60000), stack.sip)
    channel = await caller_channel(stack, caller_number)
    engine = pid_of(stack, "engine")
    async with frozen(pid_of(stack, "asterisk")):
        await wait_ari(stack, False, timeout=40)
        os.kill(engine, signal.SIGSTOP)  # so that it cannot reconnect before the hang-up
    try:
        status, _ = await stack.ari("DELETE", f"channels/{quote(channel, safe='')}")
        assert status == 204
    finally:
        os.kill(engine, signal.SIGCONT)
    await wait_ari(stack, True, timeout=30)
    (row,) = await stack.wait_cdr(caller_number, timeout=30)
    assert row["hangup_cause"] == LOST_CAUSE  # found by reconciliation, not by the event
    assert await metric(stack, "ctoengine_reconciled_total", 'action="caller_gone"') >= 1
    await running.wait(timeout=30)


async def test_garbage_waited_ms_from_a_peer_is_refused_and_the_engine_runs_on(
    stack: Stack, caller_number: str
) -> None:
    """What the peer trunk's dialplan makes of a hostile X-CTO-Waited-Ms, put straight into the
    Stasis arguments (a Local channel answered by the hotline's dialplan)."""
    errors = await metric(stack, "ctoengine_event_dispatch_errors_total", 'type="StasisStart"')
    refused = await metric(stack, "ctoengine_overflows_received_total", 'origin="?",result="refused"')
    for waited in ("9" * 400, "1e400", "-1", "99999999999999999999"):
        args = f"federation,evil-{waited[:4]},evil,passport,{waited},1,{caller_number}"
        status, _ = await stack.ari(
            "POST",
            f"channels?endpoint={quote(f'Local/{DID}@from-pstn')}&app=ctoengine&appArgs={quote(args)}",
        )
        assert status == 200
    async with asyncio.timeout(20):
        for _ in itertools.count():
            now = await metric(stack, "ctoengine_overflows_received_total", 'origin="?",result="refused"')
            if now >= refused + 4:
                break
            await asyncio.sleep(0.2)
    assert await metric(stack, "ctoengine_event_dispatch_errors_total", 'type="StasisStart"') == errors
    assert await ari_up(stack)
