"""The ``callbacks`` table (migration 010): the one place its SQL lives.

Every method raises ``DatabaseError`` when PostgreSQL cannot answer; the
service decides what that means (a request is kept in memory and written later).
A request moves ``pending -> dialing`` only by ``claim``, a conditional update,
so two engines on one database never dial the same request twice.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ctoengine.callbacks.schedule import After, Pending
from ctoengine.db.pool import DB_ERRORS, describe
from ctoengine.errors import DatabaseError

PoolGetter = Callable[[], Awaitable[asyncpg.Pool]]


@dataclass(frozen=True, slots=True)
class NewRequest:
    id: str
    centre: str
    number: str
    number_key: str
    topic: str
    queue: str
    requested_at: datetime
    due_by: datetime
    origin_call_id: str


_ADD = """
INSERT INTO callbacks (id, centre, number, number_key, topic, queue, requested_at, due_by,
                       next_attempt_at, origin_call_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $7, $9)
ON CONFLICT DO NOTHING
RETURNING id
"""
_OPEN_ID = (
    "SELECT id FROM callbacks WHERE number_key = $1 AND topic = $2 AND status IN ('pending', 'dialing')"
)
_DUE = """
SELECT id, topic, queue, requested_at, due_by, next_attempt_at, attempts FROM callbacks
WHERE status = 'pending' AND centre = $1 AND next_attempt_at <= $2 AND due_by > $2
ORDER BY due_by, requested_at LIMIT $3
"""
_CLAIM = """
UPDATE callbacks SET status = 'dialing', instance = $2, call_ids = call_ids || $3::text, updated_at = now()
WHERE id = $1 AND status = 'pending'
RETURNING number
"""
_AFTER = """
UPDATE callbacks SET status = $2, attempts = $3, next_attempt_at = $4, last_result = $5, instance = NULL,
       done_at = CASE WHEN $2 = 'done' THEN $6 ELSE done_at END, updated_at = now()
WHERE id = $1
"""
_EXPIRE = (
    "UPDATE callbacks SET status = 'expired', updated_at = now() WHERE status = 'pending' AND due_by <= $1"
)
_RECOVER = """
UPDATE callbacks SET status = 'pending', instance = NULL, updated_at = now()
WHERE status = 'dialing' AND instance = $1
"""
_LIST = """
SELECT id, number, topic, queue, status, attempts, requested_at, due_by, next_attempt_at, last_result,
       origin_call_id, call_ids, done_at
FROM callbacks WHERE ($1::text IS NULL OR status = $1) ORDER BY requested_at DESC LIMIT $2
"""
_FIGURES = """
SELECT count(*) FILTER (WHERE status IN ('pending', 'dialing')) AS open,
       min(requested_at) FILTER (WHERE status IN ('pending', 'dialing')) AS oldest,
       count(*) FILTER (WHERE due_by <= $1 OR status IN ('done', 'failed', 'expired')) AS settled,
       count(*) FILTER (WHERE status = 'done' AND done_at <= due_by) AS kept
FROM callbacks WHERE centre = $2 AND requested_at > $1 - interval '7 days'
"""


class CallbackStore:
    def __init__(self, pool: PoolGetter) -> None:
        self._pool = pool

    async def _run(self, method: str, sql: str, *args: Any) -> Any:
        try:
            pool = await self._pool()
            return await getattr(pool, method)(sql, *args)
        except DB_ERRORS as e:
            raise DatabaseError(f"callbacks: {describe(e)}") from None

    async def add(self, r: NewRequest) -> str:
        """The id of the open request of this number and topic: the new one, or the one already open."""
        args = (r.id, r.centre, r.number, r.number_key, r.topic, r.queue, r.requested_at, r.due_by)
        new = await self._run("fetchval", _ADD, *args, r.origin_call_id)
        if new is not None:
            return str(new)
        existing = await self._run("fetchval", _OPEN_ID, r.number_key, r.topic)
        return str(existing) if existing is not None else r.id  # the same id again (a replay)

    async def due(self, centre: str, now: datetime, limit: int = 50) -> list[Pending]:
        rows = await self._run("fetch", _DUE, centre, now, limit)
        return [Pending(**dict(row)) for row in rows]

    async def claim(self, request_id: str, instance: str, call_id: str) -> str | None:
        """``pending -> dialing`` for this engine; the number to dial, or None if another took it."""
        number = await self._run("fetchval", _CLAIM, request_id, instance, call_id)
        return None if number is None else str(number)

    async def settle(self, request_id: str, after: After, result: str, now: datetime) -> None:
        await self._run(
            "execute", _AFTER, request_id, after.status, after.attempts, after.next_attempt_at, result, now
        )

    async def expire(self, now: datetime) -> int:
        return int((await self._run("execute", _EXPIRE, now)).split()[-1])

    async def recover(self, instance: str) -> int:
        """At start: what this engine was dialling when it stopped is pending again."""
        return int((await self._run("execute", _RECOVER, instance)).split()[-1])

    async def list(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        return [dict(row) for row in await self._run("fetch", _LIST, status, limit)]

    async def figures(self, now: datetime, centre: str) -> dict[str, Any]:
        row = await self._run("fetchrow", _FIGURES, now, centre)
        return dict(row) if row is not None else {}
