"""``make demo``: a few real calls through the demo stack, and what became of them.

Ten operator softphones (sipp) answer on their contacts; all ten log in over
the API; then callers dial the hotline: one uses self-service, three choose a
service and talk to an operator, one gives up while waiting. The script prints
who answered and the `cdr` rows.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import aiohttp
import asyncpg

from ctoengine.loadgen.runner import Softphone, call, start_softphone
from ctoengine.loadgen.scenario import Caller, operator_xml

COLUMNS = ("caller_number", "ivr_path", "topic", "disposition", "agent_id", "wait_seconds", "talk_seconds")


def _env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"demo: {name} is not set (run through scripts/demo)")
    return value


async def _login_all(api: str, token: str, n: int) -> None:
    """Log op1..opN in, then wait until Asterisk has seen their phones answer (qualify)."""
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s:
        for i in range(1, n + 1):
            async with s.post(f"{api}/api/v1/agents/op{i}/login", json={}, headers=headers) as r:
                if r.status not in (200, 409):
                    sys.exit(f"demo: login of op{i} failed: {r.status} {await r.text()}")
        for _ in range(150):
            async with s.get(f"{api}/api/v1/agents", headers=headers) as r:
                states = {a["id"]: a["state"] for a in await r.json()}
            if all(states.get(f"op{i}") in ("available", "wrap_up", "on_call") for i in range(1, n + 1)):
                return
            await asyncio.sleep(0.1)
        sys.exit(f"demo: operators not available after 15 s: {states}")


def _table(rows: list[dict[str, Any]]) -> str:
    widths = {c: max(len(c), *(len(str(r[c] if r[c] is not None else "")) for r in rows)) for c in COLUMNS}
    line = "  ".join(c.ljust(widths[c]) for c in COLUMNS)
    out = [line, "  ".join("-" * widths[c] for c in COLUMNS)]
    for r in rows:
        out.append("  ".join(str(r[c] if r[c] is not None else "").ljust(widths[c]) for c in COLUMNS))
    return "\n".join(out)


def _self_service(number: str) -> Caller:
    return Caller(number).pause(1500).dtmf("4").pause(2500).dtmf("123456#")


async def main() -> int:
    sip = _env("CTO_SIP")
    api = _env("CTO_API_URL")
    token = _env("CTO_API_TOKEN")
    dsn = _env("DATABASE_URL")
    base = int(os.environ.get("CTO_OP_PORT_BASE", "5100"))
    phones: list[Softphone] = []
    try:
        for i in range(1, 11):
            phones.append(await start_softphone(base + i, operator_xml(ring_ms=1500, hold_ms=6000)))
        await _login_all(api, token, 10)

        def menu(number: str, key: str) -> Caller:
            return Caller(number).pause(1500).dtmf(key).pause(20000)

        callers = [
            ("79130000001", "4 self-service: application 123456", _self_service("79130000001"), True),
            ("79130000002", "1 passport, talks to an operator", menu("79130000002", "1"), False),
            ("79130000003", "2 EGRUL extract, talks to an operator", menu("79130000003", "2"), False),
            ("79130000004", "3 social assistance, talks to an operator", menu("79130000004", "3"), False),
        ]
        print("demo: placing calls to 88003336060 at", sip)
        runs = []
        for number, what, caller, engine_hangs_up in callers:
            caller.expect_engine_hangup = engine_hangs_up
            caller.wait_bye_ms = 60000
            print(f"  {number}: {what}")
            runs.append(call(caller, sip, timeout=120))
        results = await asyncio.gather(*runs)
        numbers = [c[0] for c in callers]
        conn = await asyncpg.connect(dsn)
        try:
            rows: list[Any] = []
            for _ in range(100):
                rows = await conn.fetch(
                    "SELECT DISTINCT ON (caller_number) * FROM cdr WHERE caller_number = ANY($1) "
                    "ORDER BY caller_number, started_at DESC",
                    numbers,
                )
                if len(rows) == len(numbers):
                    break
                await asyncio.sleep(0.1)
        finally:
            await conn.close()
        print("\nwho answered:")
        for r in rows:
            who = r["agent_id"] or ("self-service" if r["disposition"] == "self_served" else "nobody")
            print(f"  {r['caller_number']} -> {who} ({r['disposition']}, topic {r['topic'] or '-'})")
        print("\ncdr rows (SELECT * FROM cdr):")
        print(_table([dict(r) for r in rows]))
        failed = [n for n, r in zip(numbers, results, strict=True) if not r.ok]
        if failed or len(rows) != len(numbers):
            print(
                f"\ndemo: {len(failed)} sipp call(s) failed, {len(rows)}/{len(numbers)} rows", file=sys.stderr
            )
            return 1
        return 0
    finally:
        for phone in phones:
            await phone.stop()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
