"""The ``recordings`` table as the API and the retention read it (one small query layer)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ctoengine.db.pool import DB_ERRORS
from ctoengine.errors import DatabaseError

LATEST = """
SELECT call_id, path, format, started_at, duration_seconds::float8 AS duration_s, size_bytes
FROM recordings WHERE call_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1
"""
OLD = "SELECT id, path FROM recordings WHERE started_at < $1 ORDER BY started_at LIMIT $2"
DELETE = "DELETE FROM recordings WHERE id = ANY($1::bigint[])"


class PgRecordings:
    def __init__(self, pool: Callable[[], Awaitable[asyncpg.Pool]]) -> None:
        self.pool = pool

    async def latest(self, call_id: str) -> dict[str, Any] | None:
        """The call's last recording (a transferred call has one per operator)."""
        try:
            row = await (await self.pool()).fetchrow(LATEST, call_id)
        except DB_ERRORS as e:
            raise DatabaseError(f"recordings: {e}") from None
        return dict(row) if row is not None else None
