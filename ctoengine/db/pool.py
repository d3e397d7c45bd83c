"""The asyncpg pool, with connection errors translated to ``DatabaseError``."""

from __future__ import annotations

import asyncio
import socket

import asyncpg

from ctoengine.errors import DatabaseError

# What asyncpg raises when the server is down, unreachable or refuses us.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    socket.gaierror,
    asyncio.TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InvalidAuthorizationSpecificationError,
    asyncpg.exceptions.InvalidPasswordError,
    asyncpg.exceptions.InvalidCatalogNameError,
    asyncpg.exceptions.CannotConnectNowError,
)


# ...and what a query may raise besides.
DB_ERRORS: tuple[type[BaseException], ...] = (*CONNECTION_ERRORS, asyncpg.PostgresError)


def describe(e: BaseException) -> str:
    if isinstance(e, asyncpg.exceptions.InvalidPasswordError):
        return "PostgreSQL refused the password in DATABASE_URL"
    if isinstance(e, asyncpg.exceptions.InvalidCatalogNameError):
        return f"PostgreSQL: {e}"
    if isinstance(e, OSError | asyncio.TimeoutError):
        return f"PostgreSQL is unreachable ({e.__class__.__name__}: {e or 'timeout'})"
    return f"PostgreSQL error: {e}"


async def connect_once(dsn: str, timeout: float = 5.0) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(dsn, timeout=timeout)
    except CONNECTION_ERRORS as e:
        raise DatabaseError(describe(e)) from None


async def create_pool(dsn: str, timeout: float = 5.0) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5, timeout=timeout)
    except CONNECTION_ERRORS as e:
        raise DatabaseError(describe(e)) from None
    assert pool is not None
    return pool
