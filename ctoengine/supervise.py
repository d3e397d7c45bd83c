"""Background tasks that never die unnoticed.

Every long-running task of the engine (record writer, federation poller,
retention, gauges, snapshot saver, loop-lag probe, the ARI connection) runs
under ``Supervisor.run``:

- an exception is logged with its traceback (``task_crashed``, the task's
  name), then the task is started again after an exponential backoff with
  jitter: 0.5 s doubling to 30 s, each wait drawn uniformly within ±20 % of
  the step; a run that lasted a minute was healthy and starts the steps over;
  each restart is counted (``on_restart(name)``, the engine's
  ``ctoengine_task_restarts_total{task}``);
- a task that returns (none should) is restarted the same way;
- cancellation stops it: ``CancelledError`` is never swallowed, so the task's
  own clean-up (the writer's flush in ``finally``) runs as before;
- an exception listed in ``fatal`` (a wrong ARI password) ends it, re-raised to
  whoever awaits the task.

The clock, the sleep and the random source are injected, so a unit test runs
the whole schedule in microseconds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ctoengine.logs import get_logger

log = get_logger("ctoengine.supervise")


@dataclass(frozen=True)
class Backoff:
    first_s: float = 0.5
    max_s: float = 30.0
    jitter: float = 0.2  # each wait is step * (1 ± jitter)
    healthy_after_s: float = 60.0  # a run this long resets the steps


class Supervisor:
    def __init__(
        self,
        on_restart: Callable[[str], None],
        *,
        backoff: Backoff = Backoff(),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
        logger: Any = None,
    ) -> None:
        self._on_restart = on_restart
        self._log = log if logger is None else logger
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._rand = rand

    def wait_for(self, step: float) -> float:
        """The jittered wait for a backoff step: uniform in [step*(1-j), step*(1+j)]."""
        j = self.backoff.jitter
        return step * (1.0 - j + 2.0 * j * self._rand())

    def start(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        fatal: tuple[type[BaseException], ...] = (),
        on_idle_cancel: Callable[[], Awaitable[None]] | None = None,
    ) -> asyncio.Task[None]:
        return asyncio.create_task(
            self.run(name, factory, fatal=fatal, on_idle_cancel=on_idle_cancel), name=name
        )

    async def run(
        self,
        name: str,
        factory: Callable[[], Awaitable[None]],
        *,
        fatal: tuple[type[BaseException], ...] = (),
        on_idle_cancel: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Run ``factory()`` until cancelled or a ``fatal`` exception; restart it otherwise.

        ``on_idle_cancel`` runs when the cancellation arrives while the task is
        down (between a crash and its restart), so work handed to it meanwhile
        still gets its clean-up (the record writer's flush).
        """
        step = self.backoff.first_s
        while True:
            started = self._clock()
            try:
                await factory()
            except fatal:
                raise
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is None or task.cancelling():
                    raise  # we are being cancelled: stop
                # A stray CancelledError (an inner task's) is a crash like any other.
                self._log.error("task_crashed", task=name, error="CancelledError", exc_info=True)
            except Exception as e:
                self._log.error("task_crashed", task=name, error=str(e) or type(e).__name__, exc_info=True)
            else:
                self._log.error("task_returned", task=name)
            if self._clock() - started >= self.backoff.healthy_after_s:
                step = self.backoff.first_s
            wait = self.wait_for(step)
            self._log.warning("task_restarting", task=name, in_s=round(wait, 3))
            step = min(step * 2, self.backoff.max_s)
            try:
                await self._sleep(wait)
            except asyncio.CancelledError:
                if on_idle_cancel is not None:
                    await on_idle_cancel()
                raise
            self._on_restart(name)
