"""Queue state that survives a restart: the ``engine_state`` rows of one instance.

Key ``queues`` holds the queues' snapshot, keys ``call:<id>`` one row per call
in a queue. The queue service hands changes over without waiting (``keep_snapshot``,
``keep_call``); one supervised task (``save``) writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any, Protocol

import asyncpg

from ctoengine.logs import get_logger

log = get_logger("ctoengine")


class PoolGetter(Protocol):
    async def __call__(self) -> asyncpg.Pool: ...


class EngineStateStore:
    def __init__(self, pool: PoolGetter, instance: str) -> None:
        self._pool = pool
        self._instance = instance
        self._snapshot: dict[str, Any] | None = None
        self._call_changes: dict[str, dict[str, Any] | None] = {}  # call id -> its saved state; None: gone
        self._snapshot_saved = asyncio.Event()

    def keep_snapshot(self, snap: dict[str, Any]) -> None:
        self._snapshot = snap
        self._snapshot_saved.set()

    def keep_call(self, call_id: str, saved: dict[str, Any] | None) -> None:
        # One row per call in a queue, written when it changes, so that the cost does not grow
        # with the number of calls waiting or talking. Every such change also changes the queue
        # snapshot, whose debounce (PERSIST_AFTER_S) wakes the writer: one write carries both.
        self._call_changes[call_id] = saved

    async def load(self) -> dict[str, Any] | None:
        pool = await self._pool()
        rows = await pool.fetch(
            "SELECT key, value FROM engine_state"
            " WHERE instance = $1 AND (key = 'queues' OR key LIKE 'call:%')",
            self._instance,
        )
        values = {r["key"]: json.loads(r["value"]) for r in rows if isinstance(r["value"], str)}
        snap = values.pop("queues", None)
        if not isinstance(snap, dict):
            return None
        snap["calls"] = {key.removeprefix("call:"): value for key, value in values.items()}
        return snap

    async def save(self) -> None:
        """The latest snapshot wins; a failed write is retried with the next change or in a second."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._snapshot_saved.wait()
            self._snapshot_saved.clear()
            snap, self._snapshot = self._snapshot, None
            calls, self._call_changes = self._call_changes, {}
            if snap is None and not calls:
                continue
            try:
                await self._write(snap, calls)
            except Exception as e:  # the database may be down: keep the changes for the next try
                log.warning("snapshot_not_saved", error=str(e) or type(e).__name__)
                if self._snapshot is None:
                    self._snapshot = snap
                self._call_changes = {**calls, **self._call_changes}

    async def _write(self, snap: dict[str, Any] | None, calls: dict[str, dict[str, Any] | None]) -> None:
        keys = [f"call:{k}" for k, v in calls.items() if v is not None]
        values = [json.dumps(v) for v in calls.values() if v is not None]
        if snap is not None:
            keys.append("queues")
            values.append(json.dumps(snap))
        gone = [f"call:{k}" for k, v in calls.items() if v is None]
        pool = await self._pool()
        # One statement, one round trip: this runs up to 20 times a second under load.
        await pool.execute(
            """WITH gone AS (DELETE FROM engine_state WHERE instance = $1 AND key = ANY($4::text[]))
               INSERT INTO engine_state (instance, key, value, updated_at)
               SELECT $1, k, v::jsonb, now() FROM unnest($2::text[], $3::text[]) AS t(k, v)
               ON CONFLICT (instance, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
            self._instance,
            keys,
            values,
            gone,
        )
