"""Every query of the Grafana dashboard runs without error against a real Prometheus
(Debian's, started as in test_prometheus.py) scraping the e2e engine: with the
variables at "All" (``.*``) and at one concrete engine and queue; and the
variables' own ``label_values`` queries find the engine and its queues."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest

from ctoengine.loadgen.runner import call
from ctoengine.loadgen.scenario import Caller
from tests.dashboard import LABEL_VALUES, panel_queries, substitute, variable_queries
from tests.e2e.stack import Stack, start_prometheus

pytestmark = pytest.mark.e2e
PROM = "127.0.0.1:9098"  # test_prometheus.py uses 9097


async def _get(stack: Stack, path: str, params: dict[str, str] | list[tuple[str, str]]) -> tuple[int, Any]:
    s = await stack.session()
    async with s.get(f"http://{PROM}{path}", params=params) as r:
        body = await r.json(content_type=None) if r.content_type == "application/json" else await r.text()
        return r.status, body


async def test_every_dashboard_query_runs_against_the_e2e_prometheus(
    stack: Stack, caller_number: str, tmp_path: Path
) -> None:
    await stack.reset_agents()
    # One queued call, so the queue series and the wait histogram exist.
    assert (await call(Caller(caller_number).pause(800).dtmf("1").pause(1000), stack.sip)).ok
    await stack.wait_cdr(caller_number)
    host = stack.api.removeprefix("http://")  # the instance label Prometheus gives the engine
    proc = await start_prometheus(stack, tmp_path, PROM)
    try:
        # Wait for two scrapes of the engine (rate() needs two samples).
        samples = 0
        for _ in range(300):
            with contextlib.suppress(OSError, ValueError, KeyError, IndexError, TypeError):
                status, body = await _get(
                    stack, "/api/v1/query", {"query": "count_over_time(ctoengine_build_info[1m])"}
                )
                if status == 200 and body["data"]["result"]:
                    samples = int(body["data"]["result"][0]["value"][1])
                    if samples >= 3:
                        break
            await asyncio.sleep(0.1)
        assert samples >= 3, "Prometheus did not scrape the engine"

        # The variables' own queries (Grafana's label_values) find the engine and its queues.
        found: dict[str, list[str]] = {}
        for name, query in variable_queries().items():
            m = LABEL_VALUES.match(query)
            assert m, query
            match = substitute(m["match"], {"instance": ".*"})
            status, body = await _get(stack, f"/api/v1/label/{m['label']}/values", [("match[]", match)])
            assert status == 200 and body["status"] == "success", (name, body)
            found[name] = body["data"]
        assert host in found["instance"]
        assert "passport" in found["queue"]

        failures = []
        for values in ({"instance": ".*", "queue": ".*"}, {"instance": host, "queue": "passport"}):
            for title, expr in panel_queries():
                q = substitute(expr, values)
                status, body = await _get(stack, "/api/v1/query", {"query": q})
                if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
                    failures.append(f"{title}: {q}: {status} {body}")
                # The same over the dashboard's default range, as a graph asks.
                now = time.time()
                span = {"query": q, "start": f"{now - 120:.3f}", "end": f"{now:.3f}", "step": "5"}
                status, body = await _get(stack, "/api/v1/query_range", span)
                if status != 200 or not isinstance(body, dict) or body.get("status") != "success":
                    failures.append(f"{title} (range): {q}: {status} {body}")
        assert not failures, "\n".join(failures)
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)
