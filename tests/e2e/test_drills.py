"""The fault drills' compressed subset (scripts/drills --quick) on their own private
stack (run/drills), so the drills cannot rot and a regression in what they guard
(records lost or doubled, a crash on garbage) fails the suite. The full suite is
run by hand (docs/reliability.md)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT

pytestmark = pytest.mark.e2e


async def test_quick_drills_lose_nothing_double_nothing_and_pass(tmp_path: Path) -> None:
    out = tmp_path / "drills.json"
    result = await asyncio.to_thread(
        subprocess.run,
        [str(ROOT / "scripts/drills"), "--quick", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.exists(), result.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["quick"] is True
    assert len(doc["drills"]) >= 5, doc
    for d in doc["drills"]:
        assert d["offered"] > 0, d
        assert (d["lost"], d["doubled"]) == (0, 0), d
        assert d["passed"], f"drill {d['name']}: {d['why']}"
    assert result.returncode == 0, result.stdout[-3000:]
    # The stack is down again.
    assert not (ROOT / "run" / "drills" / "engine.pid").exists()
