"""Personal data (issue 14, item 4): caller and application numbers older than
the retention are erased from every place the engine keeps them, the spool is
private, and the engine's database role cannot change the schema."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.stack import ROOT, Stack

CALLER = "+79167770011"
APPS = ("123456", "654321")
INSTANCE = "retention-e2e"  # restart state of no running engine: nobody restores it
PATH = ["main:4", f"self_service:{APPS[0]}", "self_service:unknown", "main:4", f"self_service:{APPS[1]}"]
SPOOL_FILES = ("records.jsonl", "quarantine.jsonl", "spool-torn.jsonl")


def _row(call_id: str, started: datetime) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "federation_id": None,
        "centre": "retention-e2e",
        "instance": INSTANCE,
        "caller_number": CALLER,
        "dialed_number": "88003336060",
        "started_at": started.isoformat(),
        "ivr_ended_at": None,
        "queued_at": None,
        "ringing_at": None,
        "agent_answered_at": None,
        "ended_at": (started + timedelta(minutes=2)).isoformat(),
        "topic": None,
        "queue": None,
        "ivr_path": PATH,
        "disposition": "self_served",
        "agent_id": None,
        "overflow_peer": None,
        "wait_seconds": None,
        "talk_seconds": None,
        "wrap_up_seconds": None,
        "hangup_cause": None,
        "hangup_by": "engine",
        "survey_score": None,
        "self_service": {"application": APPS[1], "status": "ready", "failed": False},
    }


def _spool_lines(tag: str, old: datetime, new: datetime) -> dict[str, str]:
    """One old and one fresh call in each spool file (the torn line is cut mid-record)."""
    rec = {k: {"batch": f"{tag}-{k}", "i": 0, "table": "calls"} for k in ("old", "new")}
    return {
        "records.jsonl": "".join(
            json.dumps({**rec[k], "row": _row(f"{tag}-spool-{k}", t)}) + "\n"
            for k, t in (("old", old), ("new", new))
        ),
        "quarantine.jsonl": "".join(
            json.dumps(
                {
                    "quarantined_at": t.isoformat(),
                    **rec[k],
                    "row": _row(f"{tag}-quar-{k}", t),
                    "error": f"DataError: invalid input for query argument $5: '{CALLER}' ({PATH[1]})",
                    "sqlstate": "22000",
                }
            )
            + "\n"
            for k, t in (("old", old), ("new", new))
        ),
        "spool-torn.jsonl": json.dumps({**rec["old"], "row": _row(f"{tag}-torn-old", old)})[:-40] + "\n",
    }


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": stack.exports["DATABASE_URL"],
        "CTO_SPOOL_DIR": str(stack.run_dir / "spool"),
    }
    return subprocess.run(
        [str(ROOT / ".venv/bin/ctoengine"), *args], env=env, capture_output=True, text=True, timeout=60
    )


def _numbers_in(text: str) -> list[str]:
    return [n for n in (CALLER.lstrip("+"), *APPS) if n in text]


async def test_numbers_are_erased_everywhere_after_the_retention(stack: Stack) -> None:
    pool = await stack.db()
    tag = f"ret{os.getpid()}"
    now = datetime.now(UTC)
    old, new = now - timedelta(days=40), now - timedelta(days=2)
    spool = stack.run_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    existed = {name: (spool / name).exists() for name in SPOOL_FILES}
    _append_lines(spool, _spool_lines(tag, old, new))
    try:
        for kind, t in (("old", old), ("new", new)):
            row = _row(f"{tag}-{kind}", t)
            await pool.execute(
                "INSERT INTO calls (call_id, centre, instance, caller_number, dialed_number, started_at,"
                " ended_at, ivr_path, disposition, self_service)"
                " VALUES ($1, $2, $3, $4, $5, $6, $6, $7, 'self_served', $8::jsonb)",
                row["call_id"],
                row["centre"],
                INSTANCE,
                CALLER,
                row["dialed_number"],
                t,
                PATH,
                json.dumps(row["self_service"]),
            )
            await pool.execute(
                "INSERT INTO engine_state (instance, key, value, updated_at) VALUES ($1, $2, $3::jsonb, $4)",
                INSTANCE,
                f"call:{tag}-{kind}",
                json.dumps({"record": row, "leg": None, "peer": None}),
                t,
            )
            await pool.execute(
                "INSERT INTO announcement_plays (caller_number, announcement_id, heard_at)"
                " VALUES ($1, $2, $3)",
                CALLER,
                f"{tag}-{kind}",
                t,
            )
            await pool.execute(
                "INSERT INTO call_appeals (call_id, centre, topic, subtopic, outcome, note, user_name,"
                " created_at) VALUES ($1, 'ret', 'passport', 'lost', 'consulted', $2, 'op1', $3)",
                f"{tag}-{kind}",
                f"перезвонить на {CALLER}",
                t,
            )

        result = await asyncio.to_thread(_cli, stack, "records", "erase-numbers", "--days", "30")
        assert result.returncode == 0, result.stderr

        # The call records: the old one without caller or application numbers, its shape kept.
        calls = {
            r["call_id"]: r
            for r in await pool.fetch(
                "SELECT call_id, caller_number, ivr_path, self_service FROM calls WHERE call_id LIKE $1",
                f"{tag}-%",
            )
        }
        o, n = calls[f"{tag}-old"], calls[f"{tag}-new"]
        assert o["caller_number"] is None
        assert o["ivr_path"] == [
            "main:4",
            "self_service:******",
            "self_service:unknown",
            "main:4",
            "self_service:******",
        ]
        assert json.loads(o["self_service"]) == {"application": "******", "status": "ready", "failed": False}
        assert _numbers_in(json.dumps([dict(o)], default=str)) == []
        assert n["caller_number"] == CALLER and n["ivr_path"] == PATH
        assert json.loads(n["self_service"])["application"] == APPS[1]
        cdr = await pool.fetchrow("SELECT caller_number, ivr_path FROM cdr WHERE call_id = $1", f"{tag}-old")
        assert cdr is not None and cdr["caller_number"] is None and _numbers_in(cdr["ivr_path"]) == []

        # Restart state.
        state = {
            r["key"]: r["value"]
            for r in await pool.fetch("SELECT key, value FROM engine_state WHERE instance = $1", INSTANCE)
        }
        assert _numbers_in(state[f"call:{tag}-old"]) == []
        assert json.loads(state[f"call:{tag}-old"])["record"]["call_id"] == f"{tag}-old"
        assert json.loads(state[f"call:{tag}-new"])["record"]["caller_number"] == CALLER

        # Announcement plays: the old one is gone, the fresh one stays.
        plays = await pool.fetch(
            "SELECT announcement_id FROM announcement_plays WHERE announcement_id LIKE $1", f"{tag}-%"
        )
        assert [r["announcement_id"] for r in plays] == [f"{tag}-new"]

        # Appeals: the old note erased (the topic and outcome stay for the reports), the fresh kept.
        notes = {
            r["call_id"]: r
            for r in await pool.fetch(
                "SELECT call_id, note, outcome FROM call_appeals WHERE call_id LIKE $1", f"{tag}-%"
            )
        }
        assert (notes[f"{tag}-old"]["note"], notes[f"{tag}-old"]["outcome"]) == ("", "consulted")
        assert CALLER in notes[f"{tag}-new"]["note"]

        # The spool: old lines without numbers, fresh lines as they were, every file private.
        for name in SPOOL_FILES:
            path = spool / name
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
            mine = [x for x in path.read_text(encoding="utf-8").splitlines() if tag in x]
            olds = [x for x in mine if "-old" in x]  # batch and call ids of the old call end so
            assert olds, name
            for line in olds:
                assert _numbers_in(line) == [], (name, line)
            if name != "spool-torn.jsonl":
                fresh = [json.loads(x) for x in mine if x not in olds]
                assert len(fresh) == 1 and fresh[0]["row"]["caller_number"] == CALLER, name
                assert json.loads(olds[0])["row"]["caller_number"] is None
    finally:
        await pool.execute("DELETE FROM calls WHERE call_id LIKE $1", f"{tag}-%")
        await pool.execute("DELETE FROM engine_state WHERE instance = $1", INSTANCE)
        await pool.execute("DELETE FROM announcement_plays WHERE announcement_id LIKE $1", f"{tag}-%")
        await pool.execute("DELETE FROM call_appeals WHERE call_id LIKE $1", f"{tag}-%")
        _remove_lines(spool, tag, existed)


def _append_lines(spool: Path, lines: dict[str, str]) -> None:
    for name, text in lines.items():
        with open(spool / name, "a", encoding="utf-8") as f:  # the umask's mode, as an old engine left it
            f.write(text)


def _remove_lines(spool: Path, tag: str, existed: dict[str, bool]) -> None:
    """Leave the engine's spool as it was: our lines out (the file out if we made it)."""
    from ctoengine.records.spool import open_locked

    for name, was_there in existed.items():
        path = spool / name
        if not path.exists():
            continue
        if not was_there:
            path.unlink()
            continue
        fd = open_locked(path, os.O_RDWR)
        try:
            with open(fd, "r+", encoding="utf-8", closefd=False) as f:
                keep = [x for x in f.read().splitlines(keepends=True) if tag not in x]
                f.seek(0)
                f.write("".join(keep))
                f.truncate()
        finally:
            os.close(fd)


async def test_the_engines_database_role_cannot_change_the_schema(stack: Stack) -> None:
    """The engine logs in as ctoengine_engine (scripts/stack env's DATABASE_URL): rows, not the schema."""
    conn = await asyncpg.connect(stack.exports["DATABASE_URL"])
    try:
        assert await conn.fetchval("SELECT current_user") == "ctoengine_engine"
        assert await conn.fetchval("SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles"
                                   " WHERE rolname = current_user") is False  # fmt: skip
        for sql in ("CREATE TABLE retention_probe (a int)", "DROP TABLE calls", "TRUNCATE calls",
                    "ALTER TABLE calls ADD COLUMN probe int", "CREATE TEMP TABLE probe (a int)"):  # fmt: skip
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
        assert await conn.fetchval("SELECT count(*) FROM cdr") >= 0  # the demo's view stays readable
    finally:
        await conn.close()
    admin = await asyncpg.connect(stack.exports["CTO_ADMIN_DATABASE_URL"])
    try:
        assert await admin.fetchval("SELECT current_user") == "ctoengine"
        assert await admin.fetchval("SELECT count(*) FROM cdr") >= 0
    finally:
        await admin.close()
