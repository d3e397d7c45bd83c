"""The asyncpg pool, with connection errors translated to ``DatabaseError``; the shared pool."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

import asyncpg

from ctoengine.errors import DatabaseError
from ctoengine.logs import get_logger

log = get_logger("ctoengine.db")

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


class SharedPool:
    """The one pool the engine's features share, created on first use.

    Concurrent first uses wait on one lock, so exactly one pool is created (the
    loser of a race used to create a second one and leak it). ``reset`` drops a
    pool only after a connection-level failure; the old pool is closed in the
    background, letting queries still running on it finish (up to
    ``close_timeout`` seconds, then it is terminated).
    """

    def __init__(self, create: Callable[[], Awaitable[asyncpg.Pool]], close_timeout: float = 10.0) -> None:
        self._create = create
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._close_timeout = close_timeout
        self._closing: set[asyncio.Task[None]] = set()
        self._probe: asyncio.Future[bool] | None = None

    @property
    def current(self) -> asyncpg.Pool | None:
        return self._pool

    async def get(self) -> asyncpg.Pool:
        pool = self._pool
        if pool is not None:
            return pool
        async with self._lock:
            if self._pool is None:  # another waiter may have created it meanwhile
                self._pool = await self._create()
            return self._pool

    def reset(self, broken: asyncpg.Pool) -> None:
        """Forget ``broken`` (if it is still the current pool); the next ``get`` makes a new one."""
        if self._pool is not broken:
            return  # already replaced by someone else's reset
        self._pool = None
        task = asyncio.create_task(self._close(broken), name="db-pool-close")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _close(self, pool: asyncpg.Pool) -> None:
        try:
            await asyncio.wait_for(pool.close(), self._close_timeout)
        except Exception:  # a broken pool may fail to close politely
            pool.terminate()

    async def answers(self, timeout: float = 1.0) -> bool:
        """Whether the database answers ``SELECT 1`` within ``timeout`` (the readiness probe).

        Concurrent callers share one probe in flight, so a storm of health checks
        costs one query. A slow answer means "not ready" and nothing more: the
        pool everyone else uses stays. Only a connection-level failure resets it.
        Creating the pool is bounded by its own connect timeout.
        """
        if self._probe is None or self._probe.done():
            self._probe = asyncio.ensure_future(self._probe_once(timeout))
        return await asyncio.shield(self._probe)

    async def _probe_once(self, timeout: float) -> bool:
        try:
            pool = await self.get()
        except DatabaseError:
            return False  # no pool could be made: nothing to reset
        try:
            async with asyncio.timeout(timeout):
                return bool(await pool.fetchval("SELECT 1"))
        except TimeoutError:
            log.warning("db_probe_slow", timeout_s=timeout)
            return False
        except CONNECTION_ERRORS as e:
            log.warning("db_probe_failed", error=describe(e))
            self.reset(pool)
            return False
        except Exception as e:  # e.g. too many connections: the pool is not at fault
            log.warning("db_probe_failed", error=describe(e))
            return False

    def terminate(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task
