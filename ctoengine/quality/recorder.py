"""The recordings' shell: start a bridge recording over ARI, and once it is finished write
its row (``recordings``, through the record writer: spooled like call records when the
database is down).

Recording never fails a call: an ARI error starting it is logged and counted
(``ctoengine_recording_failures_total{stage="start"}``) and the call goes on. The
file is complete when Asterisk says ``RecordingFinished`` (the bridge was destroyed);
if that event is lost, the row is written from the file ``FALLBACK_S`` after the
bridge went.
"""

from __future__ import annotations

import asyncio
import wave
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ctoengine.ari import events as ari
from ctoengine.ari.client import AriClient
from ctoengine.errors import AriError
from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics
from ctoengine.quality.files import FORMAT, disk_free, inside, wav_info
from ctoengine.quality.terms import recording_name
from ctoengine.records.model import RecordingRecord
from ctoengine.records.writer import RecordWriter

log = get_logger("ctoengine.quality")

FALLBACK_S = 10.0


@dataclass
class Live:
    call_id: str
    started_at: datetime
    stopped_at: datetime | None = None


class Recorder:
    def __init__(
        self,
        ari_: AriClient,
        writer: RecordWriter,
        metrics: Metrics,
        recording_dir: Path | None,
        wall: Callable[[], datetime],
        centre: Callable[[], str],
        instance: str,
    ) -> None:
        self.ari = ari_
        self.writer = writer
        self.m = metrics.quality
        self.dir = recording_dir
        self.wall = wall
        self.centre = centre
        self.instance = instance
        self.live: dict[str, Live] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self, call_id: str, bridge_id: str, recording_id: str) -> None:
        name = recording_name(recording_id, self.wall())
        try:
            await self.ari.record_bridge(bridge_id, name, FORMAT)
        except AriError as e:
            self.m.recording_failures.labels("start").inc()
            log.warning("recording_not_started", call_id=call_id, error=str(e))
            return
        self.live[name] = Live(call_id, self.wall())
        self.m.recordings_started.inc()
        log.info("recording_started", call_id=call_id, name=name)

    def stopped(self, call_id: str) -> None:
        """The call's bridge is destroyed: its recordings end now."""
        loop = asyncio.get_running_loop()
        for name, live in self.live.items():
            if live.call_id == call_id and live.stopped_at is None:
                live.stopped_at = self.wall()
                loop.call_later(FALLBACK_S, self._spawn_finish, name, None)

    def on_event(self, event: ari.AriEvent) -> None:
        """A dispatcher listener: only hands over (never blocks the websocket reader)."""
        if not isinstance(event, ari.RecordingFinished | ari.RecordingFailed):
            return
        rec = event.recording
        if rec.name not in self.live:
            return
        if isinstance(event, ari.RecordingFailed):
            self.m.recording_failures.labels("asterisk").inc()
            log.warning("recording_failed", call_id=self.live[rec.name].call_id, cause=rec.cause)
        self._spawn_finish(rec.name, rec.duration)

    def _spawn_finish(self, name: str, duration: int | None) -> None:
        task = asyncio.get_running_loop().create_task(self.finish(name, duration))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, name: str, duration_hint: int | None = None) -> None:
        live = self.live.pop(name, None)
        if live is None:
            return  # written already (the event and the fallback both came)
        relative = f"{name}.{FORMAT}"
        size: int | None = None
        duration = float(duration_hint) if duration_hint is not None else None
        path = inside(self.dir, relative) if self.dir is not None else None
        if path is not None:
            try:
                size, duration = await asyncio.to_thread(wav_info, path)
            except (OSError, EOFError, wave.Error) as e:
                self.m.recording_failures.labels("file").inc()
                log.warning("recording_unreadable", call_id=live.call_id, name=name, error=str(e))
        self.writer.submit(
            RecordingRecord(
                call_id=live.call_id,
                path=relative,
                started_at=live.started_at,
                ended_at=live.stopped_at or self.wall(),
                duration_seconds=duration,
                size_bytes=size,
                format=FORMAT,
                centre=self.centre(),
                instance=self.instance,
            )
        )
        log.info("recording_finished", call_id=live.call_id, name=name, duration_s=duration, size=size)

    def update_gauges(self) -> None:
        """The disk under the recordings (cheap: one statvfs); NaN when the folder is unknown."""
        free, share = float("nan"), float("nan")
        if self.dir is not None:
            try:
                b, share = disk_free(self.dir)
                free = float(b)
            except OSError:
                pass
        self.m.recordings_disk_free_bytes.set(free)
        self.m.recordings_disk_free_ratio.set(share)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
