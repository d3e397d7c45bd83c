"""The demo profile's promise: `scripts/stack up`, a sipp call to the hotline
gives a `cdr` row, and `scripts/stack down` leaves no process of the stack.

Runs a second, complete stack on ports of its own (beside the session's).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.stack import ROOT, parse_exports, run_stack, stack_env

pytestmark = pytest.mark.e2e

PORTS = {
    "CTO_SIP_PORT": "7070",
    "CTO_OP_PORT_BASE": "7100",
    "CTO_ARI_PORT": "7088",
    "CTO_PG_PORT": "57432",
    "CTO_HTTP_PORT": "7080",
    "CTO_RTP_START": "23000",
    "CTO_RTP_END": "23499",
}


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for init to reap it."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_up_call_cdr_down(tmp_path: Path, caller_number: str) -> None:
    run_dir = ROOT / "run" / "lifecycle"
    env = stack_env(run_dir, ROOT / "config" / "demo.yaml", **PORTS)
    up = await asyncio.to_thread(run_stack, env, "up", check=False)
    try:
        assert up.returncode == 0, up.stderr
        status = await asyncio.to_thread(run_stack, env, "status")
        lines = status.stdout.splitlines()
        pids = [int(line.rsplit("pid ", 1)[1].rstrip(")")) for line in lines if "(pid " in line]
        assert len(pids) == 3
        assert any(line.startswith("asterisk version: Asterisk 22.") for line in lines), status.stdout
        exports = parse_exports((await asyncio.to_thread(run_stack, env, "env")).stdout)
        result = await call(Caller(number=caller_number).pause(2500), exports["CTO_SIP"])
        assert result.ok, result.errors
        conn = await asyncpg.connect(exports["DATABASE_URL"])
        try:
            row = None
            for _ in range(100):
                row = await conn.fetchrow("SELECT * FROM cdr WHERE caller_number = $1", caller_number)
                if row is not None:
                    break
                await asyncio.sleep(0.1)
            assert row is not None, "no cdr row for the call"
            assert row["dialed_number"] == "88003336060"
            assert row["disposition"] == "abandoned"
        finally:
            await conn.close()
    finally:
        down = await asyncio.to_thread(run_stack, env, "down", check=False)
    assert down.returncode == 0, down.stderr
    assert [p for p in pids if _alive(p)] == []
    status = await asyncio.to_thread(run_stack, env, "status", check=False)
    assert status.returncode != 0
    assert "running" not in status.stdout
