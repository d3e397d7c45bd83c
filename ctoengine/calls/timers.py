"""Named timers of one call: the shell side of ``StartTimer``/``CancelTimer``."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Timers:
    def __init__(self, fire: Callable[[str], None], clock: Callable[[], float]) -> None:
        self._fire = fire
        self._clock = clock
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def start(self, name: str, at: float) -> None:
        self.cancel(name)
        loop = asyncio.get_running_loop()
        delay = max(0.0, at - self._clock())
        self._handles[name] = loop.call_later(delay, self._expire, name)

    def _expire(self, name: str) -> None:
        self._handles.pop(name, None)
        self._fire(name)

    def cancel(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
