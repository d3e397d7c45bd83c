"""Application-status providers: the demo's PostgreSQL table, or an MFC system over HTTP.

A provider answers ``LookupResult``; one that does not answer in time or
breaks gives ``failed=True`` and the caller hears a spoken fallback instead of
silence.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp
import asyncpg

from ctoengine.calls.protocol import LookupResult
from ctoengine.db.pool import DB_ERRORS
from ctoengine.errors import DatabaseError
from ctoengine.logs import get_logger, scrub_text

log = get_logger("ctoengine.selfservice")

# The pool may fail to open (DatabaseError) or a query may fail (asyncpg's errors).
LOOKUP_ERRORS: tuple[type[BaseException], ...] = (*DB_ERRORS, DatabaseError)


class StatusProvider(Protocol):
    async def lookup(self, number: str) -> LookupResult: ...


class PostgresProvider:
    def __init__(self, pool_getter: PoolGetter, timeout: float = 2.0) -> None:
        self._pool = pool_getter
        self._timeout = timeout

    async def lookup(self, number: str) -> LookupResult:
        try:
            pool = await self._pool()
            row = await asyncio.wait_for(
                pool.fetchrow("SELECT status, ready_date FROM applications WHERE number = $1", number),
                timeout=self._timeout,
            )
        except LOOKUP_ERRORS as e:
            error = scrub_text(str(e) or type(e).__name__, number)
            log.warning("status_lookup_failed", provider="postgres", error=error)
            return LookupResult(number=number, status=None, failed=True)
        if row is None:
            return LookupResult(number=number, status=None)
        ready = row["ready_date"]
        return LookupResult(
            number=number, status=row["status"], ready_date=ready.isoformat() if ready else None
        )


class HttpProvider:
    """``GET {url}?number=N`` answering ``{"status": "...", "ready_date": "YYYY-MM-DD"}``; 404 = unknown."""

    def __init__(self, url: str, timeout: float = 3.0) -> None:
        self._url = url
        self._timeout = timeout

    async def lookup(self, number: str) -> LookupResult:
        try:
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self._url, params={"number": number}) as resp,
            ):
                if resp.status == 404:
                    return LookupResult(number=number, status=None)
                resp.raise_for_status()
                data = await resp.json()
            status = data.get("status")
            if not isinstance(status, str):
                raise ValueError("no status in answer")
            ready = data.get("ready_date")
            return LookupResult(
                number=number, status=status, ready_date=ready if isinstance(ready, str) else None
            )
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            # aiohttp's errors name the URL, query string (the number) included: never log them whole.
            error = scrub_text(str(e) or type(e).__name__, number)
            log.warning("status_lookup_failed", provider="http", error=error)
            return LookupResult(number=number, status=None, failed=True)


class PoolGetter(Protocol):
    async def __call__(self) -> asyncpg.Pool: ...
