"""One real stack (Asterisk, PostgreSQL, the engine) for the whole e2e session.

Tests are isolated by data: each uses caller numbers of its own and reads only
its rows.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator

import pytest

from tests.e2e.stack import ROOT, Stack, parse_exports, run_stack, stack_env

E2E_RUN = ROOT / "run" / "e2e"
E2E_ROUTING = ROOT / "tests" / "e2e" / "routing" / "e2e.yaml"

_numbers = itertools.count(random.randrange(1000, 9000) * 1000)


@pytest.fixture(scope="session")
def stack_env_vars() -> dict[str, str]:
    return stack_env(E2E_RUN, E2E_ROUTING)


@pytest.fixture(scope="session")
async def stack(stack_env_vars: dict[str, str]) -> AsyncIterator[Stack]:
    up = run_stack(stack_env_vars, "up", check=False)
    if up.returncode != 0:
        log = (E2E_RUN / "engine.log").read_text() if (E2E_RUN / "engine.log").exists() else ""
        pytest.fail(f"scripts/stack up failed:\n{up.stderr}\n{log[-3000:]}")
    exports = parse_exports(run_stack(stack_env_vars, "env").stdout)
    s = Stack(env=stack_env_vars, exports=exports, run_dir=E2E_RUN)
    try:
        yield s
    finally:
        await s.close()
        run_stack(stack_env_vars, "down", check=False)


@pytest.fixture
def caller_number() -> str:
    """A caller number no other test uses: the test's own rows in cdr."""
    return f"7916{next(_numbers):07d}"
