"""Why the event loop stalled: a watcher thread that logs the loop thread's stack.

The lag histogram says that the loop was late; when it is late by a second or more, the
question is what it was doing. The loop beats a heartbeat every 100 ms (the lag probe);
a daemon thread that sees no beat for ``threshold_s`` logs ``event_loop_stalled`` once per
stall with the innermost frames of the loop's thread, read with ``sys._current_frames``.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

from ctoengine.logs import get_logger

log = get_logger("ctoengine.stalls")
FRAMES = 12  # the innermost frames are the ones that explain a stall


class StallWatch:
    def __init__(self, threshold_s: float, beat_every_s: float = 0.1) -> None:
        self.threshold_s = threshold_s
        self.beat_every_s = beat_every_s  # the lag probe's interval: a beat is due this often
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop_thread = threading.get_ident()

    def beat(self) -> None:
        self._last = time.monotonic()

    def start(self) -> None:
        """From the loop's own thread: that is the thread whose stack is reported."""
        if self.threshold_s <= 0 or self._thread is not None:
            return
        self._loop_thread = threading.get_ident()
        self._last = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        reported = False
        while not self._stop.wait(min(self.threshold_s, self.beat_every_s) / 4):
            # Late by: the time since the last beat beyond the interval the beats come at.
            stalled = time.monotonic() - self._last - self.beat_every_s
            if stalled < self.threshold_s:
                reported = False
                continue
            if reported:
                continue
            reported = True
            frame = sys._current_frames().get(self._loop_thread)
            stack = traceback.format_stack(frame)[-FRAMES:] if frame is not None else []
            log.warning(
                "event_loop_stalled",
                stalled_s=round(stalled, 2),
                stack=[line.strip().replace("\n", " | ") for line in stack],
            )
