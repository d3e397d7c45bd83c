"""The stack under test: the same scripts/stack as the demo, on ports of its own."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from ctoengine.ari.client import basic_auth

ROOT = Path(__file__).resolve().parents[2]

TEST_PORTS = {
    "CTO_SIP_PORT": "6070",
    "CTO_OP_PORT_BASE": "6100",
    "CTO_PSTN_OUT_PORT": "6090",  # the citizen's phone of the callback tests (a sipp UAS)
    "CTO_ARI_PORT": "9088",
    "CTO_PG_PORT": "56432",
    "CTO_HTTP_PORT": "9080",
    "CTO_RTP_START": "22000",
    "CTO_RTP_END": "22999",
    "CTO_QUALIFY_S": "2",
}


def stack_env(run_dir: Path, routing: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(TEST_PORTS)
    env.update({"CTO_RUN_DIR": str(run_dir), "CTO_ROUTING": str(routing), "CTO_INSTANCE": "e2e"})
    env.update(extra)
    return env


def run_stack(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts/stack"), *args],
        env=env,
        text=True,
        capture_output=True,
        check=check,
        timeout=300,
    )


def parse_exports(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            out[key] = shlex.split(value)[0] if value else ""
    return out


@dataclass
class Stack:
    env: dict[str, str]
    exports: dict[str, str]
    run_dir: Path
    pool: asyncpg.Pool | None = None
    http: aiohttp.ClientSession | None = None

    @property
    def sip(self) -> str:
        return self.exports["CTO_SIP"]

    @property
    def api(self) -> str:
        return self.exports["CTO_API_URL"]

    @property
    def token(self) -> str:
        return self.exports["CTO_API_TOKEN"]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def sip_auth(self, operator: str) -> tuple[str, str]:
        """The digest credentials of ``operator``'s phone, as ``scripts/stack env`` prints them."""
        return operator, self.exports[f"CTO_SIP_PASSWORD_{operator.upper()}"]

    async def db(self) -> asyncpg.Pool:
        if self.pool is None:
            self.pool = await asyncpg.create_pool(self.exports["DATABASE_URL"], min_size=1, max_size=3)
        assert self.pool is not None
        return self.pool

    async def session(self) -> aiohttp.ClientSession:
        if self.http is None:
            self.http = aiohttp.ClientSession()
        return self.http

    async def wait_cdr(self, caller: str, count: int = 1, timeout: float = 20) -> list[asyncpg.Record]:
        """The cdr rows of ``caller`` once ``count`` of them exist (polls the view)."""
        pool = await self.db()
        deadline = time.monotonic() + timeout
        rows: list[asyncpg.Record] = []
        while time.monotonic() < deadline:
            rows = await pool.fetch("SELECT * FROM cdr WHERE caller_number = $1 ORDER BY started_at", caller)
            if len(rows) >= count:
                return rows
            await asyncio.sleep(0.2)
        raise AssertionError(f"expected {count} cdr row(s) for {caller} within {timeout}s, got {len(rows)}")

    async def saved_calls(self, instance: str = "e2e") -> list[dict[str, Any]]:
        """The calls the engine has stored for a restart (record so far, leg once connected)."""
        pool = await self.db()
        query = "SELECT value FROM engine_state WHERE instance = $1 AND key LIKE 'call:%'"
        return [json.loads(r["value"]) for r in await pool.fetch(query, instance)]

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        s = await self.session()
        async with s.post(f"{self.api}{path}", json=body or {}, headers=self.auth) as r:
            return r.status, await r.json()

    async def get(self, path: str) -> Any:
        s = await self.session()
        async with s.get(f"{self.api}{path}", headers=self.auth) as r:
            assert r.status == 200, await r.text()
            return await r.json()

    def web_password(self, user: str) -> str:
        """The demo web user's password (``CTO_WEB_PASSWORD_<USER>`` of ``scripts/stack env``)."""
        return self.exports[f"CTO_WEB_PASSWORD_{user.upper()}"]

    async def login(self, user: str, password: str | None = None) -> str:
        """A bearer token of a demo web user from ``POST /api/v1/tokens``."""
        s = await self.session()
        body = {"name": user, "password": self.web_password(user) if password is None else password}
        async with s.post(f"{self.api}/api/v1/tokens", json=body) as r:
            answer = await r.json()
            assert r.status == 200, answer
            token: str = answer["token"]
            return token

    async def call_as(
        self, token: str, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[int, Any]:
        """One API call with ``token`` (not the bootstrap one): status and JSON answer."""
        s = await self.session()
        headers = {"Authorization": f"Bearer {token}"}
        async with s.request(method, f"{self.api}{path}", json=body, headers=headers) as r:
            return r.status, await r.json()

    async def agent(self, agent_id: str) -> dict[str, Any]:
        agent: dict[str, Any] = await self.get(f"/api/v1/agents/{agent_id}")
        return agent

    async def wait_agent(self, agent_id: str, state: str, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen: dict[str, Any] = {}
        while time.monotonic() < deadline:
            seen = await self.agent(agent_id)
            if seen["state"] == state:
                return seen
            await asyncio.sleep(0.1)
        raise AssertionError(f"{agent_id} not {state} within {timeout}s: {seen}")

    async def ari(self, method: str, path: str) -> tuple[int, Any]:
        """Asterisk's ARI straight, as an outside actor (a hangup while no engine runs)."""
        s = await self.session()
        auth = {"Authorization": basic_auth(self.exports["ARI_USER"], self.exports["ARI_PASSWORD"])}
        async with s.request(method, f"{self.exports['ARI_URL']}/ari/{path}", headers=auth) as r:
            return r.status, (await r.json() if r.content_type == "application/json" else None)

    async def wait_phone(self, endpoint: str, timeout: float = 15) -> None:
        """Wait until Asterisk's qualify sees ``endpoint``'s softphone answer.

        Asterisk does not dial a contact it last found unreachable, so a phone
        started for a test is not callable until the next OPTIONS reaches it.
        """
        deadline = time.monotonic() + timeout
        state = None
        while time.monotonic() < deadline:
            status, body = await self.ari("GET", f"endpoints/PJSIP/{endpoint}")
            state = body.get("state") if status == 200 else status
            if state == "online":
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{endpoint}'s phone not reachable within {timeout}s (endpoint state {state})")

    async def wait_waiting(self, queue: str, count: int, timeout: float = 10) -> dict[str, Any]:
        """The queue's view from the API once ``count`` callers wait in it."""
        deadline = time.monotonic() + timeout
        view: dict[str, Any] = {}
        while time.monotonic() < deadline:
            view = {q["name"]: q for q in await self.get("/api/v1/queues")}[queue]
            if view["waiting"] == count:
                return view
            await asyncio.sleep(0.1)
        raise AssertionError(f"{queue}: expected {count} waiting within {timeout}s, saw {view}")

    async def reset_agents(self) -> None:
        """Every operator logged out (after any wrap-up): a clean floor for the next test."""
        for a in await self.get("/api/v1/agents"):
            if a["state"] != "logged_out":
                await self.post(f"/api/v1/agents/{a['id']}/logout")
        for a in await self.get("/api/v1/agents"):
            await self.wait_agent(a["id"], "logged_out")

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self.http is not None:
            await self.http.close()


async def start_prometheus(stack: Stack, folder: Path, listen: str) -> asyncio.subprocess.Process:
    """Debian's Prometheus scraping the stack's engine every second, with our alert
    and recording rules, its data in ``folder``; the caller terminates it."""
    config = folder / "prometheus.yml"
    config.write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{ROOT / "monitoring" / "alerts.yml"}"]
scrape_configs:
  - job_name: ctoengine
    static_configs: [{{targets: ["{stack.api.removeprefix("http://")}"]}}]
""",
        encoding="utf-8",
    )
    return await asyncio.create_subprocess_exec(
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address={listen}",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
