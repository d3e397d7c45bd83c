"""Which "once" announcements a caller has already heard (the shell side of the auto-informer)."""

from __future__ import annotations

import asyncio

import asyncpg

from ctoengine.db.pool import DB_ERRORS
from ctoengine.logs import get_logger

log = get_logger("ctoengine.ivr")


async def heard(pool: asyncpg.Pool, caller: str, ids: list[str], timeout: float = 1.0) -> frozenset[str]:
    """The ids among ``ids`` this caller heard; on a database problem, none (better twice than never)."""
    try:
        rows = await asyncio.wait_for(
            pool.fetch(
                "SELECT announcement_id FROM announcement_plays WHERE caller_number = $1"
                " AND announcement_id = ANY($2::text[])",
                caller,
                ids,
            ),
            timeout,
        )
    except DB_ERRORS as e:
        log.warning("announcement_lookup_failed", error=str(e) or type(e).__name__)
        return frozenset()
    return frozenset(r["announcement_id"] for r in rows)


async def mark(pool: asyncpg.Pool, caller: str, ids: list[str]) -> None:
    try:
        await pool.executemany(
            "INSERT INTO announcement_plays (caller_number, announcement_id) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            [(caller, i) for i in ids],
        )
    except DB_ERRORS as e:
        log.warning("announcement_mark_failed", error=str(e) or type(e).__name__)
