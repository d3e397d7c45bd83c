"""Call records survive a database outage: spooled while PostgreSQL is down,
written exactly once when it is back."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.stack import Stack, run_stack

pytestmark = pytest.mark.e2e


def _stop_postgres(stack: Stack) -> None:
    data = (stack.run_dir / "pg.datadir").read_text().strip()
    bindir = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
    cmd = [str(bindir / "pg_ctl"), "-D", data, "-m", "fast", "-w", "stop"]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, cwd="/", timeout=60)


async def _health(stack: Stack) -> dict[str, object]:
    s = await stack.session()
    async with s.get(f"{stack.api}/healthz") as r:
        body: dict[str, object] = await r.json()
        return body


async def _backlog(stack: Stack) -> float:
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        text = await r.text()
    line = next(x for x in text.splitlines() if x.startswith("ctoengine_records_backlog "))
    return float(line.split()[1])


async def test_records_spool_while_the_database_is_down(stack: Stack, caller_number: str) -> None:
    await stack.reset_agents()
    numbers = [f"{caller_number[:-1]}{i}" for i in range(3)]
    if stack.pool is not None:
        await stack.pool.close()
        stack.pool = None
    await asyncio.to_thread(_stop_postgres, stack)
    try:
        assert (await _health(stack))["database"] is False
        self_served = Caller(numbers[0], expect_engine_hangup=True, wait_bye_ms=30000)
        self_served.pause(800).dtmf("4").pause(1500).dtmf("123456#")  # the lookup fails: spoken fallback
        results = await asyncio.gather(
            call(self_served, stack.sip),
            call(Caller(numbers[1]).pause(800).dtmf("2").pause(1500), stack.sip),
            call(Caller(numbers[2]).pause(1500), stack.sip),
        )
        assert all(r.ok for r in results), [r.errors for r in results]
        for _ in range(100):
            if await _backlog(stack) >= 3:
                break
            await asyncio.sleep(0.1)
        assert await _backlog(stack) >= 3
        assert (stack.run_dir / "spool" / "records.jsonl").exists()
    finally:
        await asyncio.to_thread(run_stack, stack.env, "up")  # starts PostgreSQL again, the rest runs on
    rows = {n: await stack.wait_cdr(n, timeout=30) for n in numbers}
    assert [len(r) for r in rows.values()] == [1, 1, 1]  # exactly once each
    assert rows[numbers[0]][0]["disposition"] == "self_served"
    assert rows[numbers[0]][0]["ivr_path"] == "main:4 self_service:123456 self_service:failed"
    assert rows[numbers[1]][0]["topic"] == "egrul"
    assert rows[numbers[1]][0]["disposition"] == "abandoned"
    assert rows[numbers[2]][0]["started_at"] is not None
    for _ in range(100):
        if await _backlog(stack) == 0:
            break
        await asyncio.sleep(0.1)
    assert await _backlog(stack) == 0
    assert not (stack.run_dir / "spool" / "records.jsonl").exists()
    assert (await _health(stack))["database"] is True


async def test_record_benchmark_smoke(stack: Stack) -> None:
    """scripts/bench-records on 200 records, so the script cannot rot (its figure is in the README)."""
    from ctoengine.records.bench import run

    result = await run(stack.exports["DATABASE_URL"], 200, 50)
    assert result["records"] == 200
    assert result["seconds"] > 0
    pool = await stack.db()
    assert await pool.fetchval("SELECT count(*) FROM calls WHERE centre = 'bench'") == 0


async def test_sla_intervals_match_an_independent_computation(stack: Stack) -> None:
    """The `sla_intervals` view against the same figures computed here from the call rows."""
    pool = await stack.db()
    calls = await pool.fetch(
        "SELECT queued_at, centre, coalesce(queue, topic) AS queue, disposition, wait_seconds, talk_seconds,"
        " wrap_up_seconds FROM calls WHERE queued_at IS NOT NULL"
    )
    assert calls, "earlier e2e tests leave queued calls behind"
    expected: dict[tuple[object, str, str], dict[str, float]] = {}
    for c in calls:
        t = c["queued_at"]
        start = t.replace(minute=t.minute - t.minute % 15, second=0, microsecond=0)
        e = expected.setdefault(
            (start, c["centre"], c["queue"]),
            {"offered": 0, "answered": 0, "within": 0, "ab": 0, "short": 0, "over": 0},
        )
        e["offered"] += 1
        wait = float(c["wait_seconds"] or 0)
        if c["disposition"] == "answered":
            e["answered"] += 1
            e["within"] += wait <= 20
        e["over"] += c["disposition"] == "overflowed"
        if c["disposition"] == "abandoned":
            e["ab"] += 1
            e["short"] += wait < 5
    rows = await pool.fetch("SELECT * FROM sla_intervals")
    got = {(r["interval_start"], r["centre"], r["queue"]): r for r in rows}
    assert set(got) == set(expected)
    for key, e in expected.items():
        r = got[key]
        assert (r["offered"], r["answered"], r["answered_within_target"]) == (
            e["offered"],
            e["answered"],
            e["within"],
        )
        assert (r["abandoned"], r["short_abandoned"]) == (e["ab"], e["short"])
        base = e["offered"] - e["short"] - e["over"]
        if base:
            assert float(r["service_level"]) == pytest.approx(e["within"] / base, abs=1e-4)
            assert float(r["lost_share"]) == pytest.approx((e["ab"] - e["short"]) / base, abs=1e-4)

    # The centre roll-up is the sum over its queues.
    centres = await pool.fetch("SELECT * FROM sla_intervals_centre")
    assert centres
    for r in centres:
        mine = [
            e
            for (start, centre, _), e in expected.items()
            if (start, centre) == (r["interval_start"], r["centre"])
        ]
        assert r["offered"] == sum(e["offered"] for e in mine)
        assert r["answered_within_target"] == sum(e["within"] for e in mine)
        base = sum(e["offered"] - e["short"] - e["over"] for e in mine)
        if base:
            assert float(r["service_level"]) == pytest.approx(sum(e["within"] for e in mine) / base, abs=1e-4)
