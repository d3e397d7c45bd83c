"""The shared pool: one pool however many first users race; a slow probe keeps it, a broken one resets it."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import asyncpg
import pytest

from ctoengine.db.pool import SharedPool
from ctoengine.errors import DatabaseError


class FakePool:
    def __init__(self, n: int) -> None:
        self.n = n
        self.closed = False
        self.terminated = False
        self.answer: Any = 1  # a value, an exception to raise, or "hang"
        self.queries = 0

    async def fetchval(self, _sql: str) -> Any:
        self.queries += 1
        if self.answer == "hang":
            await asyncio.Event().wait()
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer

    async def close(self) -> None:
        self.closed = True

    def terminate(self) -> None:
        self.terminated = True


class Factory:
    def __init__(self) -> None:
        self.made: list[FakePool] = []
        self.fail_next = False

    async def __call__(self) -> asyncpg.Pool:
        await asyncio.sleep(0.01)  # a real pool takes a while: every racer is waiting by now
        if self.fail_next:
            self.fail_next = False
            raise DatabaseError("PostgreSQL is unreachable")
        pool = FakePool(len(self.made))
        self.made.append(pool)
        return cast(asyncpg.Pool, pool)


async def test_concurrent_first_use_creates_exactly_one_pool() -> None:
    create = Factory()
    shared = SharedPool(create)
    pools = await asyncio.gather(*(shared.get() for _ in range(20)))
    assert len(create.made) == 1
    assert all(p is pools[0] for p in pools)
    assert await shared.get() is pools[0]
    assert len(create.made) == 1


async def test_a_failed_creation_is_retried_by_the_next_user() -> None:
    create = Factory()
    create.fail_next = True
    shared = SharedPool(create)
    results = await asyncio.gather(*(shared.get() for _ in range(5)), return_exceptions=True)
    assert isinstance(results[0], DatabaseError)
    # The lock was released: the other waiters made exactly one pool after the failure.
    made = [r for r in results if not isinstance(r, BaseException)]
    assert len(create.made) == 1
    assert all(r is create.made[0] for r in made)


async def test_a_slow_probe_is_not_ready_but_keeps_the_shared_pool() -> None:
    create = Factory()
    shared = SharedPool(create)
    pool = await shared.get()
    create.made[0].answer = "hang"
    assert await shared.answers(timeout=0.05) is False
    assert shared.current is pool
    assert not create.made[0].closed and not create.made[0].terminated
    create.made[0].answer = 1
    assert await shared.answers(timeout=1.0) is True
    assert len(create.made) == 1


async def test_a_postgres_error_keeps_the_pool() -> None:
    create = Factory()
    shared = SharedPool(create)
    pool = await shared.get()
    create.made[0].answer = asyncpg.exceptions.TooManyConnectionsError("too many")
    assert await shared.answers() is False
    assert shared.current is pool


@pytest.mark.parametrize(
    "error",
    [ConnectionResetError("reset"), asyncpg.exceptions.ConnectionDoesNotExistError("gone")],
)
async def test_a_connection_failure_resets_the_pool(error: BaseException) -> None:
    create = Factory()
    shared = SharedPool(create)
    await shared.get()
    create.made[0].answer = error
    assert await shared.answers() is False
    assert shared.current is None
    await shared.close()  # waits for the background close of the broken pool
    assert create.made[0].closed
    assert await shared.answers() is True  # a fresh pool
    assert len(create.made) == 2


async def test_a_stale_reset_does_not_drop_the_new_pool() -> None:
    create = Factory()
    shared = SharedPool(create)
    old = await shared.get()
    shared.reset(old)
    new = await shared.get()
    shared.reset(old)  # a second user saw the same broken pool, late
    assert shared.current is new
    await shared.close()


async def test_concurrent_probes_share_one_query() -> None:
    create = Factory()
    shared = SharedPool(create)
    await shared.get()
    results = await asyncio.gather(*(shared.answers() for _ in range(50)))
    assert results == [True] * 50
    assert create.made[0].queries == 1


async def test_no_pool_when_the_database_is_down_is_not_ready() -> None:
    create = Factory()
    create.fail_next = True
    shared = SharedPool(create)
    assert await shared.answers() is False
    assert shared.current is None
