"""The pure core stays pure: no core module reaches an I/O module, even through another import."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE = [
    "ctoengine.callbacks.schedule",
    "ctoengine.callbacks.attempt",
    "ctoengine.callbacks.numbers",
    "ctoengine.ivr.flow",
    "ctoengine.queues.distributor",
    "ctoengine.queues.call",
    "ctoengine.federation.decision",
    "ctoengine.quality.survey",
    "ctoengine.quality.terms",
    "ctoengine.quality.listen",
]
IO = ["ctoengine.ari", "aiohttp", "asyncpg", "asyncio"]


@pytest.mark.parametrize("module", CORE)
def test_core_module_imports_no_io(module: str) -> None:
    # A fresh interpreter: this test process has imported everything already.
    probe = (
        f"import sys, {module}\n"
        f"bad = sorted(m for m in sys.modules if any(m == io or m.startswith(io + '.') for io in {IO!r}))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{module} pulls in I/O modules: {out.stdout.strip()}"
