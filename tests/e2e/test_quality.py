"""Quality control on the real stack (issue 18, docs/quality.md): the Done-when list.

The e2e routing's queue ``quality`` (menu key ``*``, operator op3) records with the
notice first and surveys every caller (a key waited for 4 s after the prompt). The
supervisor's phone is the stack's ``sup1`` (a sipp UAS at 127.0.0.1:6150 in the e2e
stack: CTO_OP_PORT_BASE + 50) whose answer announces an RTP port this test listens on,
so what Asterisk sends the supervisor is counted and checked for sound.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import os
import subprocess
import time
import uuid
import wave
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ctoengine.loadgen.runner import Softphone, call, start_call, start_softphone
from ctoengine.loadgen.scenario import Caller, operator_xml
from tests.e2e.stack import ROOT, TEST_PORTS, Stack

pytestmark = pytest.mark.e2e
BASE = int(TEST_PORTS["CTO_OP_PORT_BASE"])
SUP_PORT = BASE + 50  # scripts/stack: CTO_SUP_PORT defaults to CTO_OP_PORT_BASE + 50
SUP_RTP = 26700  # where sup1's answer says to send its audio: this test's socket
OP = "op3"  # the e2e routing's operator of the queue "quality"
KEY = "*"  # the e2e menu's key of the queue "quality"


@pytest.fixture(autouse=True)
async def clean_floor(stack: Stack) -> None:
    await stack.reset_agents()


@contextlib.asynccontextmanager
async def phone(port: int, media_port: int, **kw: Any) -> AsyncIterator[Softphone]:
    started = await start_softphone(port, operator_xml(ring_ms=300, **kw), media_port=media_port)
    try:
        yield started
    finally:
        await started.stop()


async def log_in(stack: Stack, agent: str) -> None:
    status, body = await stack.post(f"/api/v1/agents/{agent}/login")
    assert status == 200, body
    await stack.wait_agent(agent, "available")


async def connected_call(stack: Stack, agent: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        seen = await stack.agent(agent)
        if seen["state"] == "on_call" and seen["call_id"]:
            return str(seen["call_id"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"{agent} not on a call within {timeout}s: {seen}")


async def recording_row(stack: Stack, call_id: str, timeout: float = 20) -> Any:
    pool = await stack.db()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await pool.fetchrow(
            "SELECT path, duration_seconds::float8 AS duration_s, size_bytes FROM recordings"
            " WHERE call_id = $1",
            call_id,
        )
        if row is not None:
            return row
        await asyncio.sleep(0.2)
    raise AssertionError(f"no recordings row for {call_id} within {timeout}s")


def loudness(path: Path) -> tuple[float, int]:
    """(duration in s, the loudest sample's magnitude) of a 16-bit WAV file."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, w.getsampwidth()
        frames = w.readframes(w.getnframes())
        duration = w.getnframes() / w.getframerate()
    samples = array.array("h", frames)
    return duration, max((abs(s) for s in samples), default=0)


async def fetch(stack: Stack, token: str, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    s = await stack.session()
    async with s.get(f"{stack.api}{path}", headers={"Authorization": f"Bearer {token}", **headers}) as r:
        return r.status, dict(r.headers), await r.read()


# --- recording -----------------------------------------------------------------------
async def test_an_answered_call_is_recorded_and_served_to_supervisors_only(
    stack: Stack, caller_number: str
) -> None:
    async with phone(BASE + 3, 26030, hold_ms=5000):
        await log_in(stack, OP)
        citizen = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=40000).pause(800).dtmf(KEY)
        result = await call(citizen, stack.sip)  # the survey follows: nobody presses, the engine hangs up
        assert result.ok, result.errors
    (row,) = await stack.wait_cdr(caller_number)
    assert (row["disposition"], row["agent_id"], row["queue"]) == ("answered", OP, "quality")
    assert row["survey_score"] is None  # no key: empty
    rec = await recording_row(stack, row["call_id"])
    assert rec["path"].endswith(".wav")
    file = Path(stack.exports["CTO_RECORDING_DIR"]) / rec["path"]
    duration, loudest = await asyncio.to_thread(loudness, file)
    talk = float(row["talk_seconds"])
    assert 4.0 < talk < 7.0, talk
    assert abs(duration - talk) <= 1.0, (duration, talk)
    assert abs(float(rec["duration_s"]) - duration) < 0.1
    assert rec["size_bytes"] == file.stat().st_size
    assert loudest > 1000, loudest  # sipp's speech, not silence

    path = f"/api/v1/calls/{row['call_id']}/recording"
    sup, op = await stack.login("supervisor"), await stack.login(OP)
    status, headers, body = await fetch(stack, sup, path)
    assert status == 200, body[:200]
    assert headers["Content-Type"] == "audio/wav"
    assert body == file.read_bytes()
    status, headers, body = await fetch(stack, sup, path, Range="bytes=100-199")
    assert status == 206
    assert headers["Content-Range"] == f"bytes 100-199/{file.stat().st_size}"
    assert body == file.read_bytes()[100:200]
    for extra in ({}, {"Range": "bytes=0-99"}):
        status, _, body = await fetch(stack, op, path, **extra)
        assert status == 403, body  # the operator of that very call, too
    pool = await stack.db()
    audit = await pool.fetch(
        "SELECT user_name, status FROM audit_log WHERE action = 'call.recording' AND target = $1 ORDER BY id",
        row["call_id"],
    )
    assert [(a["user_name"], a["status"]) for a in audit] == [
        ("supervisor", 200),
        ("supervisor", 200),
        (OP, 403),
        (OP, 403),
    ]


# --- live listening ------------------------------------------------------------------
class Rtp(asyncio.DatagramProtocol):
    """What Asterisk sends the supervisor's phone: packets, and those with sound in them."""

    def __init__(self) -> None:
        self.packets = 0
        self.loud = 0

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.packets += 1
        payload = data[12:]
        # A-law: the segment (bits 4-6 after the 0x55 inversion) is the loudness; 3+ is speech,
        # silence and comfort noise stay in 0-1.
        if sum(1 for b in payload if ((b ^ 0x55) & 0x70) >= 0x30) >= 8:
            self.loud += 1

    async def heard(self, seconds: float) -> tuple[int, int]:
        p0, l0 = self.packets, self.loud
        await asyncio.sleep(seconds)
        return self.packets - p0, self.loud - l0


async def channels(stack: Stack) -> set[str]:
    status, listed = await stack.ari("GET", "channels")
    assert status == 200
    return {c["id"] for c in listed}


async def test_a_supervisor_listens_whispers_then_barges(stack: Stack, caller_number: str) -> None:
    loop = asyncio.get_running_loop()
    transport, rtp = await loop.create_datagram_endpoint(Rtp, local_addr=("127.0.0.1", SUP_RTP))
    try:
        async with (
            phone(BASE + 3, 26030, hold_ms=15000),
            phone(SUP_PORT, 26600, hold_ms=60000, sdp_port=SUP_RTP),
        ):
            await stack.wait_phone("sup1")
            await log_in(stack, OP)
            # The citizen keeps talking (sipp's speech again every 6 s) until the engine hangs up.
            citizen = Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=40000).pause(800).dtmf(KEY)
            for _ in range(3):
                citizen.pause(5500).audio()
            running = await start_call(citizen, stack.sip)
            call_id = await connected_call(stack, OP)
            sup = await stack.login("supervisor")
            op = await stack.login(OP)
            base = f"/api/v1/calls/{call_id}/listen"
            status, body = await stack.call_as(op, "POST", base, {"mode": "listen", "endpoint": "PJSIP/sup1"})
            assert status == 403, body
            status, body = await stack.call_as(
                sup, "POST", base, {"mode": "listen", "endpoint": "PJSIP/sup1"}
            )
            assert status == 200, body
            session = body["session"]
            assert session == f"sup-{call_id}-0001"

            # Listen: the supervisor hears the conversation.
            await asyncio.sleep(1.5)  # rung, answered, the snoop up
            assert session in await channels(stack)
            packets, loud = await rtp.heard(2.0)
            assert packets > 50 and loud > 10, (packets, loud)

            # Whisper: a new snoop (whisper out) replaces the first; he still hears both sides.
            status, body = await stack.call_as(sup, "POST", f"{base}/mode", {"mode": "whisper"})
            assert (status, body["mode"]) == (200, "whisper"), body
            await asyncio.sleep(0.7)
            live = await channels(stack)
            assert f"snp-{call_id}-0001-002" in live and f"snp-{call_id}-0001-001" not in live
            packets, loud = await rtp.heard(1.5)
            assert packets > 40, packets

            # Barge: into the call's own bridge, no snoop left.
            status, body = await stack.call_as(sup, "POST", f"{base}/mode", {"mode": "barge"})
            assert (status, body["mode"]) == (200, "barge"), body
            await asyncio.sleep(0.7)
            status, bridge = await stack.ari("GET", f"bridges/{call_id}-br")
            assert status == 200
            assert session in bridge["channels"] and len(bridge["channels"]) >= 3
            assert not [c for c in await channels(stack) if c.startswith(f"snp-{call_id}")]
            packets, _ = await rtp.heard(1.0)
            assert packets > 25, packets

            status, body = await stack.call_as(sup, "DELETE", base)
            assert status == 200, body
            await asyncio.sleep(0.7)
            assert session not in await channels(stack)
            assert (await running.wait(90)).ok
        (row,) = await stack.wait_cdr(caller_number)
        assert (row["disposition"], row["agent_id"]) == ("answered", OP)  # the call went on unharmed
        pool = await stack.db()
        actions = await pool.fetch(
            "SELECT action, status FROM audit_log WHERE target = $1 AND action LIKE 'call.listen%'"
            " ORDER BY id",
            call_id,
        )
        assert [(a["action"], a["status"]) for a in actions] == [
            ("call.listen", 403),
            ("call.listen", 200),
            ("call.listen_mode", 200),
            ("call.listen_mode", 200),
            ("call.listen_stop", 200),
        ]
    finally:
        transport.close()


# --- the post-call survey ----------------------------------------------------------
async def test_the_caller_scores_4_after_the_operator_hangs_up(stack: Stack, caller_number: str) -> None:
    async with phone(BASE + 3, 26030, hold_ms=2000):
        await log_in(stack, OP)
        # ~0.8 s menu, ~4 s recording notice, 0.3 s ring, 2 s talk: the operator hangs up at about
        # 7-8 s; the survey prompt (~7 s) then 4 s for a key. The 4 comes at about 12 s.
        citizen = (
            Caller(caller_number, expect_engine_hangup=True, wait_bye_ms=30000)
            .pause(800)
            .dtmf(KEY)
            .pause(11000)
            .dtmf("4")
        )
        result = await call(citizen, stack.sip)
        assert result.ok, result.errors
    (row,) = await stack.wait_cdr(caller_number)
    assert row["survey_score"] == 4
    assert (row["disposition"], row["hangup_by"], row["agent_id"]) == ("answered", "agent", OP)
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        metrics = await r.text()
    assert f'ctoengine_survey_score_count{{agent="{OP}",queue="quality"}}' in metrics
    assert 'ctoengine_surveys_total{outcome="scored",queue="quality"}' in metrics


# --- retention ---------------------------------------------------------------------
def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": stack.exports["DATABASE_URL"],
        "CTO_RECORDING_DIR": stack.exports["CTO_RECORDING_DIR"],
    }
    return subprocess.run(
        [str(ROOT / ".venv/bin/ctoengine"), *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_retention_deletes_an_old_recording(stack: Stack) -> None:
    base = Path(stack.exports["CTO_RECORDING_DIR"])
    now = datetime.now().astimezone()
    tag = uuid.uuid4().hex[:8]
    made = {}
    for kind, started in (("old", now - timedelta(days=100)), ("new", now - timedelta(days=1))):
        relative = f"{started:%Y-%m-%d}/retention-{tag}-{kind}.wav"
        (base / relative).parent.mkdir(parents=True, exist_ok=True)
        (base / relative).write_bytes(b"RIFF" + bytes(100))
        made[kind] = (relative, started)
    pool = await stack.db()
    for kind, (relative, started) in made.items():
        await pool.execute(
            "INSERT INTO recordings (call_id, path, started_at, ended_at, duration_seconds, size_bytes,"
            " format, centre, instance) VALUES ($1, $2, $3, $3, 1.0, 104, 'wav', 'e2e', 'retention-e2e')",
            f"retention-{tag}-{kind}",
            relative,
            started,
        )
    try:
        result = await asyncio.to_thread(_cli, stack, "records", "erase-recordings", "--days", "30")
        assert result.returncode == 0, result.stderr
        assert "deleted" in result.stdout
        old, new = made["old"][0], made["new"][0]
        assert not (base / old).exists()
        assert (base / new).exists()
        rows = await pool.fetch("SELECT path FROM recordings WHERE path = ANY($1::text[])", [old, new])
        assert [r["path"] for r in rows] == [new]
    finally:
        await pool.execute("DELETE FROM recordings WHERE call_id LIKE $1", f"retention-{tag}-%")
        (base / made["new"][0]).unlink(missing_ok=True)
