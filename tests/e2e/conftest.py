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
E2E_SOURCE = ROOT / "tests" / "e2e" / "routing" / "e2e.yaml"
# The engine reads a copy that tests may rewrite and reload (night mode, a broken file).
E2E_ROUTING = E2E_RUN / "routing.yaml"


def e2e_routing_text() -> str:
    prompts = ROOT / "prompts" / "ru"
    text = E2E_SOURCE.read_text(encoding="utf-8").replace("../../../prompts/ru", str(prompts))
    return text.replace("kb_dir: ../../../kb", f"kb_dir: {ROOT / 'kb'}")


# Steps of 10: a test may use the last digit for callers of its own.
_numbers = itertools.count(random.randrange(1000, 9000) * 1000, 10)


@pytest.fixture(scope="session")
def stack_env_vars() -> dict[str, str]:
    E2E_RUN.mkdir(parents=True, exist_ok=True)
    E2E_ROUTING.write_text(e2e_routing_text(), encoding="utf-8")
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
