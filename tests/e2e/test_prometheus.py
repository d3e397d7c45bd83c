"""A real Prometheus (Debian's) scrapes the engine and answers a query for the service level."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.e2e.stack import Stack, start_prometheus

pytestmark = pytest.mark.e2e
PROM = "127.0.0.1:9097"


async def _metric(stack: Stack, prefix: str) -> float:
    s = await stack.session()
    async with s.get(f"{stack.api}/metrics") as r:
        text = await r.text()
    return sum(float(x.split()[-1]) for x in text.splitlines() if x.startswith(prefix))


async def test_prometheus_scrapes_the_engine_and_computes_the_service_level(
    stack: Stack, caller_number: str, tmp_path: Path
) -> None:
    await stack.reset_agents()
    # At least one queued call, so the service level is defined.
    assert (await call(Caller(caller_number).pause(800).dtmf("1").pause(1000), stack.sip)).ok
    await stack.wait_cdr(caller_number)
    proc = await start_prometheus(stack, tmp_path, PROM)
    try:
        s = await stack.session()
        value = None
        for _ in range(300):
            with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
                async with s.get(
                    f"http://{PROM}/api/v1/query", params={"query": "ctoengine:service_level:ratio_total"}
                ) as r:
                    # Prometheus answers 503 (text/plain) until its storage is ready: ask again.
                    result = (await r.json())["data"]["result"] if r.status == 200 else None
                    if result:
                        value = float(result[0]["value"][1])
                        break
            await asyncio.sleep(0.1)
        assert value is not None, "Prometheus gave no service level"
        # The same figure computed independently from the engine's own exposition.
        within = await _metric(stack, 'ctoengine_queue_wait_seconds_bucket{le="20.0",outcome="answer"')
        offered = await _metric(stack, "ctoengine_queue_wait_seconds_count")
        assert offered >= 1
        assert value == pytest.approx(within / offered)
        async with s.get(f"http://{PROM}/api/v1/query", params={"query": "ctoengine_ari_connected"}) as r:
            assert (await r.json())["data"]["result"][0]["value"][1] == "1"
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
