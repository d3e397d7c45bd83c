"""The PostgreSQL store of web sessions and the user lookup of the login (migration 009)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import asyncpg

from ctoengine.users.policy import Principal, Role
from ctoengine.users.store import UserRow, find_user
from ctoengine.web.sessions import Session, SessionPolicy

PoolGetter = Callable[[], Awaitable[asyncpg.Pool]]


class PgUsers:
    def __init__(self, pool: PoolGetter) -> None:
        self._pool = pool

    async def find(self, name: str) -> UserRow | None:
        return await find_user(await self._pool(), name)


class PgSessions:
    def __init__(self, pool: PoolGetter) -> None:
        self._pool = pool

    async def create(self, id_hash: str, user: str, now: datetime, address: str | None) -> None:
        await (await self._pool()).execute(
            """INSERT INTO web_sessions (id_hash, user_name, created_at, last_seen_at, address)
               VALUES ($1, $2, $3, $3, $4)""",
            id_hash,
            user,
            now,
            address,
        )

    async def find(self, id_hash: str) -> Session | None:
        r = await (await self._pool()).fetchrow(
            """SELECT s.id_hash, s.created_at, s.last_seen_at, u.name, u.role, u.agent_id
               FROM web_sessions s JOIN users u ON u.name = s.user_name
               WHERE s.id_hash = $1 AND NOT u.disabled""",
            id_hash,
        )
        if r is None:
            return None
        who = Principal(r["name"], Role(r["role"]), r["agent_id"])
        return Session(r["id_hash"], who, r["created_at"], r["last_seen_at"])

    async def touch(self, id_hash: str, now: datetime) -> None:
        await (await self._pool()).execute(
            "UPDATE web_sessions SET last_seen_at = $2 WHERE id_hash = $1", id_hash, now
        )

    async def delete(self, id_hash: str) -> None:
        await (await self._pool()).execute("DELETE FROM web_sessions WHERE id_hash = $1", id_hash)

    async def sweep(self, now: datetime, policy: SessionPolicy) -> None:
        await (await self._pool()).execute(
            "DELETE FROM web_sessions WHERE last_seen_at <= $1 OR created_at <= $2",
            now - timedelta(seconds=policy.idle_s),
            now - timedelta(seconds=policy.max_s),
        )
