"""Caller numbers are personal data: erased from call records older than the
configured retention. The engine runs this hourly; ``ctoengine records
erase-numbers`` runs it by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg
import structlog

from ctoengine.errors import DatabaseError

log = structlog.get_logger(__name__)

ERASE = """
UPDATE calls SET caller_number = NULL
WHERE started_at < $1 AND caller_number IS NOT NULL
"""
ERASE_PLAYS = "DELETE FROM announcement_plays WHERE heard_at < $1"


async def erase_numbers(conn: asyncpg.Connection | asyncpg.Pool, now: datetime, days: int) -> int:
    """Erase the numbers of calls started more than ``days`` before ``now``; how many rows."""
    cutoff = now - timedelta(days=days)
    status = await conn.execute(ERASE, cutoff)
    await conn.execute(ERASE_PLAYS, cutoff)  # "heard once" memory is keyed by number too
    return int(status.split()[-1])


async def keep_erasing(
    get_pool: Callable[[], Awaitable[asyncpg.Pool]], get_days: Callable[[], int], every_s: float = 3600.0
) -> None:
    """Hourly, for ever; a database outage only delays it. ``get_days`` follows config reloads."""
    while True:
        try:
            n = await erase_numbers(await get_pool(), datetime.now().astimezone(), get_days())
            if n:
                log.info("caller numbers erased", rows=n, retention_days=get_days())
        except (OSError, asyncpg.PostgresError, DatabaseError) as e:
            log.warning("caller number retention postponed", error=str(e))
        await asyncio.sleep(every_s)
