"""Liveness and readiness, the persistent emergency switch, and supervised background tasks,
against the real stack."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from ctoengine.app import TEST_CRASH_ENV
from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.stack import Stack, run_stack
from tests.e2e.test_records import _stop_postgres

pytestmark = pytest.mark.e2e


async def _get(stack: Stack, path: str) -> tuple[int, Any]:
    s = await stack.session()
    async with s.get(f"{stack.api}{path}") as r:
        return r.status, await r.json()


async def _wait_status(stack: Stack, path: str, status: int, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    seen: tuple[int, Any] = (0, None)
    while time.monotonic() < deadline:
        seen = await _get(stack, path)
        if seen[0] == status:
            return seen[1]
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} not {status} within {timeout}s: {seen}")


async def _metrics(stack: Stack) -> str:
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        assert r.status == 200
        return await r.text()


def _sample(text: str, line_start: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    return None


async def test_livez_and_readyz(stack: Stack) -> None:
    assert await _get(stack, "/livez") == (200, {"ok": True})
    assert await _get(stack, "/readyz") == (200, {"ok": True, "ari": True, "database": True})
    assert await _get(stack, "/healthz") == (200, {"ok": True, "ari": True, "database": True})
    _, spec = await _get(stack, "/api/v1/openapi.json")
    assert {"/livez", "/readyz", "/healthz"} <= set(spec["paths"])


async def test_readyz_names_the_database_while_postgresql_is_stopped(stack: Stack) -> None:
    pid = (stack.run_dir / "engine.pid").read_text().strip()
    if stack.pool is not None:
        await stack.pool.close()
        stack.pool = None
    await asyncio.to_thread(_stop_postgres, stack)
    try:
        body = await _wait_status(stack, "/readyz", 503)
        assert body == {"ok": False, "ari": True, "database": False}
        assert await _get(stack, "/healthz") == (503, body)
        assert await _get(stack, "/livez") == (200, {"ok": True})  # alive all the same
    finally:
        await asyncio.to_thread(run_stack, stack.env, "up")  # starts PostgreSQL again
    # A fresh pool is made once the database is back; the engine never restarted.
    assert await _wait_status(stack, "/readyz", 200) == {"ok": True, "ari": True, "database": True}
    assert (stack.run_dir / "engine.pid").read_text().strip() == pid


async def test_emergency_switch_survives_an_engine_restart(stack: Stack, caller_number: str) -> None:
    status, body = await stack.post("/api/v1/emergency", {"enabled": True, "by": "restart drill"})
    assert status == 200, body
    assert body["enabled"] is True and body["source"] == "api"
    switched_at = body["at"]
    try:
        await asyncio.to_thread(run_stack, stack.env, "restart-engine")
        state = await stack.get("/api/v1/emergency")
        assert state["enabled"] is True
        assert state["source"] == "api"
        assert state["by"] == "restart drill" and state["at"] == switched_at
        # Applied, not only shown: the first call after the restart hears the emergency message.
        assert (await call(Caller(caller_number).pause(800).dtmf("1").pause(9000), stack.sip)).ok
        (row,) = await stack.wait_cdr(caller_number)
        assert row["ivr_path"].split()[0] == "emergency"
    finally:
        status, body = await stack.post("/api/v1/emergency", {"enabled": None, "by": "restart drill"})
        assert status == 200, body
    assert body["source"] == "file" and body["enabled"] is False  # e2e.yaml: emergency off
    pool = await stack.db()
    left = await pool.fetchval(
        "SELECT count(*) FROM engine_state WHERE instance = 'e2e' AND key = 'emergency'"
    )
    assert left == 0


async def test_a_crashed_background_task_is_restarted_and_counted(stack: Stack) -> None:
    log = stack.run_dir / "engine.log"
    offset = log.stat().st_size if log.exists() else 0
    crash_env = {**stack.env, TEST_CRASH_ENV: "gauges"}
    try:
        await asyncio.to_thread(run_stack, crash_env, "restart-engine")
        deadline = time.monotonic() + 15
        text = ""
        while time.monotonic() < deadline:
            text = await _metrics(stack)
            if _sample(text, 'ctoengine_task_restarts_total{task="gauges"}') == 1.0:
                break
            await asyncio.sleep(0.1)
        assert _sample(text, 'ctoengine_task_restarts_total{task="gauges"}') == 1.0, text
        # The other tasks are supervised too, and did not crash.
        for task in ("records", "ari", "loop-lag", "snapshots", "federation", "retention"):
            assert _sample(text, f'ctoengine_task_restarts_total{{task="{task}"}}') == 0.0, task
        # The restarted task runs: only its rounds create the per-queue gauges (it crashed before its first).
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "\nctoengine_queue_callers_waiting{" not in text:
            await asyncio.sleep(0.1)
            text = await _metrics(stack)
        assert "\nctoengine_queue_callers_waiting{" in text
        with log.open(encoding="utf-8") as f:
            f.seek(offset)
            since = f.read()
        crashed = [line for line in since.splitlines() if '"task_crashed"' in line]
        assert len(crashed) == 1, crashed
        assert '"task": "gauges"' in crashed[0]
        assert "Traceback" in crashed[0] and TEST_CRASH_ENV in crashed[0]
        assert await _get(stack, "/readyz") == (200, {"ok": True, "ari": True, "database": True})
    finally:
        await asyncio.to_thread(run_stack, stack.env, "restart-engine")  # without the crash
