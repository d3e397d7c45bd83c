"""The stall watcher names what the loop's thread was doing when it stalled."""

from __future__ import annotations

import threading
import time

from structlog.testing import capture_logs

from ctoengine.metrics.stalls import StallWatch


def _stuck_in_a_slow_handler(seconds: float) -> None:
    time.sleep(seconds)  # stands for a handler that blocks the loop


def test_a_stall_is_reported_once_with_the_blocking_frame() -> None:
    watch = StallWatch(0.1, beat_every_s=0.05)
    with capture_logs() as logs:
        watch.start()
        try:
            _stuck_in_a_slow_handler(0.5)
        finally:
            watch.stop()
    stalls = [e for e in logs if e["event"] == "event_loop_stalled"]
    assert len(stalls) == 1
    assert stalls[0]["stalled_s"] >= 0.1
    assert any("_stuck_in_a_slow_handler" in line for line in stalls[0]["stack"])


def test_a_beating_loop_is_never_reported() -> None:
    watch = StallWatch(0.2, beat_every_s=0.1)  # beats as often as the interval: never late
    done = threading.Event()
    with capture_logs() as logs:
        watch.start()
        deadline = time.monotonic() + 0.6
        while time.monotonic() < deadline:
            watch.beat()
            done.wait(0.05)
        watch.stop()
    assert not [e for e in logs if e["event"] == "event_loop_stalled"]


def test_zero_threshold_starts_nothing() -> None:
    watch = StallWatch(0)
    watch.start()
    assert watch._thread is None
