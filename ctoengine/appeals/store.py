"""The SQL of appeals and of a caller's history (tables of migrations/011_appeals.sql)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

import asyncpg

from ctoengine.appeals.model import NewAppeal

PoolGetter = Callable[[], Awaitable[asyncpg.Pool]]
HISTORY = """
SELECT c.call_id, c.started_at, c.topic, c.disposition, c.agent_id,
       COALESCE((SELECT json_agg(json_build_object('topic', a.topic, 'subtopic', a.subtopic,
                                                   'outcome', a.outcome) ORDER BY a.id)
                 FROM call_appeals a WHERE a.call_id = c.call_id), '[]') AS appeals
FROM calls c
WHERE c.caller_number = $1 AND c.started_at >= $2 AND c.call_id <> $3
ORDER BY c.started_at DESC
LIMIT $4
"""


class NotAComplaint(Exception):
    """Only an appeal with the outcome complaint_registered has a registry status."""


class AppealStore(Protocol):
    async def add(self, appeal: NewAppeal) -> dict[str, Any]: ...

    async def set_status(self, appeal_id: int, status: str, by: str) -> dict[str, Any] | None:
        """The updated row; None when there is no such appeal; NotAComplaint."""

    async def call_exists(self, call_id: str) -> bool: ...

    async def history(
        self, number: str, since: datetime, other_than: str, limit: int
    ) -> list[dict[str, Any]]:
        """The number's calls since ``since`` (but ``other_than``), newest first, with their appeals."""


def view(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("created_at", "complaint_updated_at", "started_at"):
        if isinstance(out.get(key), datetime):
            out[key] = out[key].isoformat()
    return out


class PgAppeals:
    def __init__(self, pool: PoolGetter) -> None:
        self.pool = pool

    async def add(self, a: NewAppeal) -> dict[str, Any]:
        pool = await self.pool()
        status = "new" if a.outcome == "complaint_registered" else None
        row = await pool.fetchrow(
            """INSERT INTO call_appeals (call_id, centre, topic, subtopic, outcome, note, agent_id,
                                         user_name, complaint_status)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               RETURNING id, call_id, topic, subtopic, outcome, note, agent_id, user_name, created_at,
                         complaint_status, complaint_updated_at, complaint_updated_by""",
            a.call_id, a.centre, a.topic, a.subtopic, a.outcome, a.note, a.agent_id, a.user_name, status,
        )  # fmt: skip
        assert row is not None  # INSERT ... RETURNING gives its row
        return view(row)

    async def set_status(self, appeal_id: int, status: str, by: str) -> dict[str, Any] | None:
        pool = await self.pool()
        row = await pool.fetchrow(
            """UPDATE call_appeals SET complaint_status = $2, complaint_updated_at = now(),
                      complaint_updated_by = $3
               WHERE id = $1 AND complaint_status IS NOT NULL
               RETURNING id, call_id, topic, subtopic, outcome, note, agent_id, user_name, created_at,
                         complaint_status, complaint_updated_at, complaint_updated_by""",
            appeal_id, status, by,
        )  # fmt: skip
        if row is not None:
            return view(row)
        if await pool.fetchval("SELECT 1 FROM call_appeals WHERE id = $1", appeal_id) is not None:
            raise NotAComplaint(appeal_id)
        return None

    async def call_exists(self, call_id: str) -> bool:
        pool = await self.pool()
        return await pool.fetchval("SELECT 1 FROM calls WHERE call_id = $1", call_id) is not None

    async def history(
        self, number: str, since: datetime, other_than: str, limit: int
    ) -> list[dict[str, Any]]:
        pool = await self.pool()
        rows = await pool.fetch(HISTORY, number, since, other_than, limit)
        return [{**view(r), "appeals": json.loads(r["appeals"])} for r in rows]
