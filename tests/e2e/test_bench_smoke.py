"""A few calls through scripts/bench, so the benchmark cannot rot: all three
systems (the engine, Asterisk's Queue() and the bare dialplan) on a private
stack of its own, every figure filled in. The benchmark itself is run by hand (docs/benchmark.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

from tests.e2e.stack import ROOT


async def test_bench_smoke_run_measures_all_three_systems(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    result = await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / "scripts/bench"), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(out.read_text())
    for system in ("engine", "baseline", "direct"):
        r = doc[system]
        assert r["offered"] == 6, r
        assert r["answered"] == r["offered"], r
        assert r["failed"] == 0 and r["retransmissions"] == 0, r
        assert r["service_level"] == 1.0
        assert r["invite_200_ms_p99"] is not None and r["invite_200_ms_p99"] < 1000
        assert r["queued_ring_ms_p50"] is not None, r  # both sides' ring moments were found
        assert r["asterisk_cpu_s_per_call"] > 0
        assert r["asterisk_cpu_pct_peak"] is not None and r["asterisk_cpu_pct_peak"] > 0, r
    assert doc["engine"]["engine_cpu_s_per_call"] > 0
    assert doc["engine"]["event_loop_lag_ms_p99"] is not None
    assert doc["ratios"]["offered"] == 1.0
    assert doc["engine"]["engine_cpu_pct_peak"] > 0
    header = result.stdout.splitlines()[0].split()
    assert header == ["engine", "Queue()", "bare", "ratio"], result.stdout
    assert "engine CPU / Asterisk CPU" in result.stdout
    # The stack is down again: its Asterisk no longer answers.
    assert not (ROOT / "run" / "bench-smoke" / "asterisk.pid").exists()
