"""The foundation against the real stack: health, metrics, API errors, clear start-up errors."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest

from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.stack import ROOT, Stack, run_stack

pytestmark = pytest.mark.e2e

ENGINE = str(ROOT / ".venv" / "bin" / "ctoengine")


async def test_healthz_is_real(stack: Stack) -> None:
    s = await stack.session()
    async with s.get(f"{stack.api}/healthz") as r:
        body = await r.json()
        assert r.status == 200, body
        assert body == {"ok": True, "ari": True, "database": True}


async def test_metrics_and_openapi_need_no_token(stack: Stack) -> None:
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        text = await r.text()
        assert r.status == 200
        assert "ctoengine_ari_connected 1.0" in text
        assert "ctoengine_event_loop_lag_seconds_bucket" in text
    async with s.get(f"{stack.api}/api/v1/openapi.json") as r:
        spec = await r.json()
        assert r.status == 200
        assert spec["openapi"].startswith("3.")
        assert "/healthz" in spec["paths"]


async def test_api_errors_are_json_4xx(stack: Stack) -> None:
    s = await stack.session()
    async with s.get(f"{stack.api}/api/v1/agents") as r:
        assert r.status == 401
        assert (await r.json())["error"] == "unauthorized"
    async with s.get(f"{stack.api}/api/v1/agents", headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401
    async with s.get(f"{stack.api}/api/v1/no-such-thing", headers=stack.auth) as r:
        assert r.status == 404
        body = await r.json()
        assert body["error"] == "not_found"
        assert "no-such-thing" in body["message"]


def _run_engine(env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**env, "CTO_HTTP_LISTEN": "127.0.0.1:9099", "CTO_SPOOL_DIR": str(tmp)}
    return subprocess.run([ENGINE, "run"], env=env, capture_output=True, text=True, timeout=60)


def _engine_env(stack: Stack) -> dict[str, str]:
    e = stack.exports
    return {
        **os.environ,
        "ARI_URL": e["ARI_URL"],
        "ARI_USER": e["ARI_USER"],
        "ARI_PASSWORD": e["ARI_PASSWORD"],
        "DATABASE_URL": e["DATABASE_URL"],
        "CTO_API_TOKEN": "t",
        "CTO_ROUTING": e["CTO_ROUTING"],
    }


def _one_clear_line(result: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [x for x in result.stderr.splitlines() if x.startswith("ctoengine:")]
    assert len(lines) == 1, result.stderr
    assert fragment in lines[0], lines[0]


async def test_wrong_ari_password_is_one_clear_line(stack: Stack, tmp_path: Path) -> None:
    env = {**_engine_env(stack), "ARI_PASSWORD": "not-the-password"}
    result = await asyncio.to_thread(_run_engine, env, tmp_path)
    _one_clear_line(result, "refused the ARI user or password")
    assert "not-the-password" not in result.stderr + result.stdout


async def test_missing_asterisk_is_one_clear_line(stack: Stack, tmp_path: Path) -> None:
    env = {**_engine_env(stack), "ARI_URL": "http://127.0.0.1:9"}
    result = await asyncio.to_thread(_run_engine, env, tmp_path)
    _one_clear_line(result, "ARI is unreachable")


async def test_unreachable_database_is_one_clear_line(stack: Stack, tmp_path: Path) -> None:
    env = {**_engine_env(stack), "DATABASE_URL": "postgresql://u:secretpw@127.0.0.1:9/x"}
    result = await asyncio.to_thread(_run_engine, env, tmp_path)
    _one_clear_line(result, "PostgreSQL is unreachable")
    assert "secretpw" not in result.stderr


async def test_missing_setting_is_one_clear_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("ARI_URL", "DATABASE_URL")}
    env.update({"ARI_PASSWORD": "x", "CTO_API_TOKEN": "t"})
    result = await asyncio.to_thread(_run_engine, env, tmp_path)
    _one_clear_line(result, "ARI_URL is not set")


async def _health(stack: Stack) -> dict[str, object]:
    s = await stack.session()
    async with s.get(f"{stack.api}/healthz") as r:
        body: dict[str, object] = await r.json()
        return {"status": r.status, **body}


async def test_engine_reconnects_after_asterisk_restarts(stack: Stack, caller_number: str) -> None:
    pid = int((stack.run_dir / "asterisk.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    for _ in range(100):
        health = await _health(stack)
        if health["ari"] is False:
            break
        await asyncio.sleep(0.1)
    assert health == {"status": 503, "ok": False, "ari": False, "database": True}
    up = await asyncio.to_thread(run_stack, stack.env, "up", check=False)  # starts Asterisk again
    assert up.returncode == 0, up.stderr
    for _ in range(100):
        health = await _health(stack)
        if health["status"] == 200:
            break
        await asyncio.sleep(0.1)
    assert health["status"] == 200
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        text = await r.text()
    reconnects = next(x for x in text.splitlines() if x.startswith("ctoengine_ari_reconnects_total "))
    assert float(reconnects.split()[1]) >= 1
    # And calls flow again through the new websocket.
    assert (await call(Caller(caller_number).pause(800).dtmf("1").pause(1000), stack.sip)).ok
    (row,) = await stack.wait_cdr(caller_number)
    assert row["topic"] == "passport"
    # Asterisk sends only the events the engine uses, over the new websocket too (the event filter).
    async with s.get(f"{stack.api}/metrics") as r:
        text = await r.text()
    received = {
        line.split('type="')[1].split('"')[0]
        for line in text.splitlines()
        if line.startswith("ctoengine_ari_events_total{")
    }
    assert "StasisStart" in received and "ChannelDtmfReceived" in received
    assert not received & {"ChannelVarset", "Dial", "ChannelStateChange", "BridgeDestroyed"}, received
