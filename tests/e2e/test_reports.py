"""`ctoengine report` over a seeded day of calls against figures computed here,
and the caller-number retention command."""

from __future__ import annotations

import asyncio
import csv
import os
import random
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.stack import ROOT, Stack

MSK = ZoneInfo("Europe/Moscow")
CENTRE = "seeded-day"
TOPICS = ("passport", "egrul", "social", "general")
AGENTS = ("op1", "op2", "op3", "op4", "op5")


def seeded_day(n: int = 700) -> list[dict[str, Any]]:
    """A working day: calls 08:00-20:00 local, every disposition, waits around the 20 s target."""
    rnd = random.Random(20261122)
    day = datetime(2026, 6, 15, 8, tzinfo=MSK)
    calls = []
    for i in range(n):
        start = day + timedelta(seconds=rnd.uniform(0, 12 * 3600))
        topic = rnd.choice(TOPICS)
        kind = rnd.choices(
            ("answered", "abandoned", "self_served", "overflowed", "callback_requested", "closed", "failed"),
            weights=(70, 12, 8, 4, 2, 2, 2),
        )[0]
        c: dict[str, Any] = {
            "call_id": f"seed-{i}",
            "started_at": start,
            "topic": None if kind in ("closed", "failed") else topic,
            "queue": topic if kind not in ("self_served", "closed", "failed") else None,
            "disposition": kind,
            "queued_at": None,
            "agent_id": None,
            "wait": None,
            "talk": None,
            "wrap": None,
        }
        if c["queue"]:
            c["queued_at"] = start + timedelta(seconds=8)
            c["wait"] = round(rnd.expovariate(1 / 14), 3)
        if kind == "answered":
            c["agent_id"] = rnd.choice(AGENTS)
            c["talk"] = round(rnd.uniform(60, 300), 3)
            c["wrap"] = round(rnd.uniform(20, 80), 3)
        calls.append(c)
    return calls


async def _insert(stack: Stack, calls: list[dict[str, Any]]) -> None:
    pool = await stack.db()
    await pool.execute("DELETE FROM calls WHERE centre = $1", CENTRE)
    await pool.executemany(
        "INSERT INTO calls (call_id, centre, instance, caller_number, started_at, queued_at, ended_at,"
        " topic, queue, disposition, agent_id, wait_seconds, talk_seconds, wrap_up_seconds)"
        " VALUES ($1, $2, 'seed', '+79990000000', $3, $4, $3::timestamptz + interval '10 minutes',"
        " $5, $6, $7, $8, $9, $10, $11)",
        [
            (
                c["call_id"], CENTRE, c["started_at"], c["queued_at"], c["topic"], c["queue"],
                c["disposition"], c["agent_id"], c["wait"], c["talk"], c["wrap"],
            )
            for c in calls
        ],
    )  # fmt: skip


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": stack.exports["DATABASE_URL"]}
    return subprocess.run(
        [str(ROOT / ".venv/bin/ctoengine"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def _expected(calls: list[dict[str, Any]], key: Any) -> dict[str, dict[str, float]]:
    """The figures, written out plainly from the seeded list (not from the database)."""
    out: dict[str, dict[str, float]] = {}
    keys = {key(c) for c in calls} - {None}
    for k in keys:
        mine = [c for c in calls if key(c) == k]
        queued = [c for c in mine if c["queued_at"] is not None]
        answered = [c for c in queued if c["disposition"] == "answered"]
        abandoned = [c for c in queued if c["disposition"] == "abandoned"]
        short = [c for c in abandoned if c["wait"] < 5]
        within = [c for c in answered if c["wait"] <= 20]
        overflowed = [c for c in queued if c["disposition"] == "overflowed"]
        base = len(queued) - len(short) - len(overflowed)
        e: dict[str, float] = {
            "calls": len(mine),
            "offered": len(queued),
            "answered": len(answered),
            "within_target": len(within),
            "abandoned": len(abandoned),
            "short_abandoned": len(short),
            "overflowed": len(overflowed),
            "self_served": sum(c["disposition"] == "self_served" for c in mine),
            "callbacks": sum(c["disposition"] == "callback_requested" for c in mine),
        }
        if base:
            e["service_level"] = len(within) / base
            e["lost_share"] = (len(abandoned) - len(short)) / base
        if answered:
            e["asa_s"] = sum(c["wait"] for c in answered) / len(answered)
            e["aht_s"] = sum(c["talk"] + c["wrap"] for c in answered) / len(answered)
        out[str(k)] = e
    return out


def _read_csv(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    first = next(iter(rows[0]))
    return {r[first]: r for r in rows}


@pytest.mark.parametrize(
    ("by", "key"),
    [
        ("hour", lambda c: c["started_at"].astimezone(MSK).strftime("%Y-%m-%d %H:00")),
        ("topic", lambda c: c["topic"] or "-"),
        ("queue", lambda c: c["queue"]),
        ("agent", lambda c: c["agent_id"]),
    ],
)
async def test_report_matches_an_independent_computation(
    stack: Stack, tmp_path: Path, by: str, key: Any
) -> None:
    calls = seeded_day()
    await _insert(stack, calls)
    out_csv, png = tmp_path / "r.csv", tmp_path / "r.png"
    result = await asyncio.to_thread(
        _cli, stack, "report", "--from", "2026-06-15", "--by", by, "--centre", CENTRE,
        "--csv", str(out_csv), "--chart", str(png),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    got = _read_csv(out_csv)
    expected = _expected(calls, key)
    assert set(got) - {"total"} == set(expected)
    for k, e in expected.items():
        for name, value in e.items():
            assert float(got[k][name]) == pytest.approx(value, abs=1e-3), (k, name)
    assert float(got["total"]["calls"]) == len(calls)
    # The terminal table has a line for every group and the total.
    for k in expected:
        assert any(line.startswith(k) for line in result.stdout.splitlines()), k
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 10_000  # a drawn chart, not an empty canvas


async def test_report_bad_arguments_are_one_clear_line(stack: Stack) -> None:
    for args, fragment in [
        (("--from", "yesterday"), "not a date"),
        (("--from", "2026-06-15", "--to", "2026-06-14"), "is not after"),
        (("--from", "2026-06-15", "--tz", "Mars/Olympus"), "unknown time zone"),
    ]:
        result = await asyncio.to_thread(_cli, stack, "report", *args, "--csv", "-")
        assert result.returncode != 0
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert fragment in lines[0]


async def test_caller_numbers_are_erased_after_the_retention(stack: Stack) -> None:
    pool = await stack.db()
    now = datetime.now(MSK)
    await pool.execute("DELETE FROM calls WHERE centre = 'retention'")
    await pool.executemany(
        "INSERT INTO calls (call_id, centre, instance, caller_number, started_at, ended_at, disposition)"
        " VALUES ($1, 'retention', 't', '+79161234567', $2, $2, 'self_served')",
        [("ret-old", now - timedelta(days=40)), ("ret-new", now - timedelta(days=20))],
    )
    result = await asyncio.to_thread(_cli, stack, "records", "erase-numbers", "--days", "30")
    assert result.returncode == 0, result.stderr
    rows = {
        r["call_id"]: r["caller_number"]
        for r in await pool.fetch("SELECT call_id, caller_number FROM calls WHERE centre = 'retention'")
    }
    assert rows == {"ret-old": None, "ret-new": "+79161234567"}
    await pool.execute("DELETE FROM calls WHERE centre = 'retention'")
