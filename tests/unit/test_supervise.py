"""The supervisor: backoff, jitter bounds, the restart counter, logging, and cancellation.

Clock, sleep and randomness are injected: the whole schedule runs without waiting.
"""

from __future__ import annotations

import asyncio
import traceback
from collections import Counter
from typing import Any

import pytest

from ctoengine.supervise import Backoff, Supervisor


class Stop(Exception):
    """Ends a test's supervised task (passed as ``fatal``)."""


class FakeLog:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any], str]] = []

    def _add(self, event: str, **kw: Any) -> None:
        # What format_exc_info would render: the traceback of the exception being handled.
        self.lines.append((event, kw, traceback.format_exc() if kw.get("exc_info") else ""))

    error = warning = info = _add


class Harness:
    def __init__(self, rand: float = 0.5) -> None:
        self.now = 0.0
        self.waits: list[float] = []
        self.restarts: Counter[str] = Counter()
        self.log = FakeLog()
        self.sup = Supervisor(
            lambda name: self.restarts.update([name]),
            sleep=self.sleep,
            clock=lambda: self.now,
            rand=lambda: rand,
            logger=self.log,
        )

    async def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.now += s


def crashing(h: Harness, crashes: int, run_s: float = 0.0) -> Any:
    """A task that runs ``run_s`` (fake) seconds and crashes, ``crashes`` times, then stops."""
    runs = 0

    async def task() -> None:
        nonlocal runs
        runs += 1
        h.now += run_s
        if runs > crashes:
            raise Stop
        raise ValueError(f"boom {runs}")

    return task


async def test_backoff_doubles_to_the_cap_and_counts_every_restart() -> None:
    h = Harness(rand=0.5)  # the middle of the jitter range: the bare steps
    with pytest.raises(Stop):
        await h.sup.run("gauges", crashing(h, 9), fatal=(Stop,))
    assert h.waits == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert h.restarts == Counter({"gauges": 9})


async def test_a_crash_is_logged_with_its_traceback_and_task_name() -> None:
    h = Harness()
    with pytest.raises(Stop):
        await h.sup.run("records", crashing(h, 1), fatal=(Stop,))
    crashed = [line for line in h.log.lines if line[0] == "task_crashed"]
    assert len(crashed) == 1
    _, kw, tb = crashed[0]
    assert kw["task"] == "records"
    assert kw["error"] == "boom 1"
    assert "Traceback" in tb and "ValueError: boom 1" in tb


@pytest.mark.parametrize("rand", [0.0, 0.25, 0.999999])
async def test_jitter_stays_within_twenty_percent_of_the_step(rand: float) -> None:
    h = Harness(rand=rand)
    with pytest.raises(Stop):
        await h.sup.run("t", crashing(h, 8), fatal=(Stop,))
    steps = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    for wait, step in zip(h.waits, steps, strict=True):
        assert 0.8 * step <= wait <= 1.2 * step
    assert h.waits[0] == pytest.approx(0.5 * (0.8 + 0.4 * rand))


def test_real_random_jitter_is_within_bounds_and_varies() -> None:
    sup = Supervisor(lambda _: None)
    waits = [sup.wait_for(10.0) for _ in range(2000)]
    assert all(8.0 <= w <= 12.0 for w in waits)
    assert max(waits) - min(waits) > 2.0  # not a constant: restarts of many engines spread out


async def test_a_minute_of_health_starts_the_steps_over() -> None:
    h = Harness()
    runs = iter([0.0, 0.0, 0.0, 61.0, 0.0])  # the 4th run was healthy for 61 s

    async def task() -> None:
        d = next(runs, None)
        if d is None:
            raise Stop
        h.now += d
        raise ValueError("boom")

    with pytest.raises(Stop):
        await h.sup.run("retention", task, fatal=(Stop,))
    assert h.waits == [0.5, 1.0, 2.0, 0.5, 1.0]


async def test_a_task_that_returns_is_restarted_too() -> None:
    h = Harness()
    calls = 0

    async def task() -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Stop

    with pytest.raises(Stop):
        await h.sup.run("snapshots", task, fatal=(Stop,))
    assert calls == 3
    assert h.restarts == Counter({"snapshots": 2})
    assert [e for e, _, _ in h.log.lines].count("task_returned") == 2


async def test_a_fatal_error_ends_it_uncounted() -> None:
    h = Harness()
    with pytest.raises(Stop):
        await h.sup.run("ari", crashing(h, 0), fatal=(Stop,))
    assert h.restarts == Counter()
    assert h.waits == []


async def test_cancellation_propagates_and_the_task_cleans_up() -> None:
    sup = Supervisor(lambda _: pytest.fail("a cancelled task is not restarted"))
    running = asyncio.Event()
    cleaned = asyncio.Event()

    async def task() -> None:
        try:
            running.set()
            await asyncio.Event().wait()
        finally:
            cleaned.set()  # the writer flushes here

    t = sup.start("records", task)
    async with asyncio.timeout(5):
        await running.wait()
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert t.cancelled()
    assert cleaned.is_set()


async def test_cancellation_during_the_backoff_stops_it_and_runs_the_idle_cleanup() -> None:
    restarts: list[str] = []
    waiting = asyncio.Event()
    idle_cleanups: list[str] = []

    async def sleep(_: float) -> None:
        waiting.set()
        await asyncio.Event().wait()

    async def idle_cleanup() -> None:
        idle_cleanups.append("flushed")

    async def task() -> None:
        raise ValueError("boom")

    sup = Supervisor(restarts.append, sleep=sleep, logger=FakeLog())
    t = sup.start("records", task, on_idle_cancel=idle_cleanup)
    async with asyncio.timeout(5):
        await waiting.wait()
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    assert idle_cleanups == ["flushed"]
    assert restarts == []  # it was never started again


async def test_a_stray_cancelled_error_is_a_crash_not_a_stop() -> None:
    """An inner task's CancelledError surfacing in a task nobody cancelled is restarted."""
    h = Harness()
    calls = 0

    async def task() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            inner = asyncio.create_task(asyncio.Event().wait())
            await asyncio.sleep(0)
            inner.cancel()
            await inner  # raises CancelledError here, though we were not cancelled
        raise Stop

    with pytest.raises(Stop):
        await h.sup.run("federation", task, fatal=(Stop,))
    assert calls == 2
    assert h.restarts == Counter({"federation": 1})


def test_default_schedule_is_the_documented_one() -> None:
    b = Backoff()
    assert (b.first_s, b.max_s, b.jitter, b.healthy_after_s) == (0.5, 30.0, 0.2, 60.0)
