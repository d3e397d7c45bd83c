"""The SQL of users, tokens and the audit log (tables of migrations/008_api_users.sql)."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from ctoengine.users.policy import Principal, Role
from ctoengine.users.secrets import new_token, token_hash

NAME_RE = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
TOKEN_TTL = timedelta(hours=12)

Db = asyncpg.Pool | asyncpg.Connection


class UserExists(Exception):
    pass


@dataclass(frozen=True)
class UserRow:
    name: str
    role: Role
    agent: str | None
    password_hash: str
    disabled: bool


def name_problem(name: object) -> str | None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        return "a user name is 1-64 letters, digits, '_', '.', '@' or '-'"
    return None


def role_problem(role: object, agent: object) -> str | None:
    if role not in {r.value for r in Role}:
        return f"role must be one of {', '.join(r.value for r in Role)}"
    if agent is not None and not isinstance(agent, str):
        return "agent must be a string (an operator id such as op1)"
    if role == Role.OPERATOR and not agent:
        return "an operator user must be bound to an agent (--agent opN, or 'agent' in the body)"
    return None


async def add_user(
    db: Db, name: str, role: Role, agent: str | None, password_hash: str, *, update: bool = False
) -> bool:
    """Insert a user; with ``update`` an existing one gets the new role, agent, password and is
    enabled again. Returns whether it was created. Raises UserExists without ``update``."""
    if update:
        created: bool = await db.fetchval(
            """INSERT INTO users (name, role, agent_id, password_hash) VALUES ($1, $2, $3, $4)
               ON CONFLICT (name) DO UPDATE SET role = EXCLUDED.role, agent_id = EXCLUDED.agent_id,
                   password_hash = EXCLUDED.password_hash, disabled = false
               RETURNING (xmax = 0)""",
            name,
            role.value,
            agent,
            password_hash,
        )
        return created
    try:
        await db.execute(
            "INSERT INTO users (name, role, agent_id, password_hash) VALUES ($1, $2, $3, $4)",
            name,
            role.value,
            agent,
            password_hash,
        )
    except asyncpg.UniqueViolationError:
        raise UserExists(f"user {name!r} exists") from None
    return True


async def list_users(db: Db) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT name, role, agent_id, created_at, disabled FROM users ORDER BY name")
    return [
        {
            "name": r["name"],
            "role": r["role"],
            "agent": r["agent_id"],
            "created_at": r["created_at"].isoformat(),
            "disabled": r["disabled"],
        }
        for r in rows
    ]


async def find_user(db: Db, name: str) -> UserRow | None:
    r = await db.fetchrow(
        "SELECT name, role, agent_id, password_hash, disabled FROM users WHERE name = $1", name
    )
    if r is None:
        return None
    return UserRow(r["name"], Role(r["role"]), r["agent_id"], r["password_hash"], r["disabled"])


async def issue_token(db: Db, user: str, ttl: timedelta = TOKEN_TTL) -> tuple[str, datetime]:
    """A new token for ``user``; only its hash is stored. Expired tokens are swept on the way."""
    token = new_token()
    expires: datetime = await db.fetchval(
        """WITH swept AS (DELETE FROM api_tokens WHERE expires_at < now() - interval '1 day')
           INSERT INTO api_tokens (token_hash, user_name, expires_at)
           VALUES ($1, $2, now() + $3::interval) RETURNING expires_at""",
        token_hash(token),
        user,
        ttl,
    )
    return token, expires


async def principal_for(db: Db, token: str) -> Principal | None:
    """The user a token stands for, while it has not expired and the user is enabled."""
    r = await db.fetchrow(
        """SELECT u.name, u.role, u.agent_id FROM api_tokens t JOIN users u ON u.name = t.user_name
           WHERE t.token_hash = $1 AND t.expires_at > now() AND NOT u.disabled""",
        token_hash(token),
    )
    if r is None:
        return None
    return Principal(r["name"], Role(r["role"]), r["agent_id"])


@dataclass(frozen=True)
class AuditEntry:
    user: str
    role: str | None
    action: str
    target: str | None
    address: str | None
    status: int
    details: dict[str, Any]

    @property
    def result(self) -> str:
        if self.status < 400:
            return "ok"
        return "denied" if self.status in (401, 403, 429) else "failed"


async def write_audit(db: Db, e: AuditEntry) -> None:
    await db.execute(
        """INSERT INTO audit_log (user_name, role, action, target, address, status, result, details)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)""",
        e.user,
        e.role,
        e.action,
        e.target,
        e.address,
        e.status,
        e.result,
        json.dumps(e.details, default=str),
    )


async def read_audit(db: Db, limit: int) -> list[dict[str, Any]]:
    rows = await db.fetch(
        """SELECT id, at, user_name, role, action, target, address, status, result, details
           FROM audit_log ORDER BY id DESC LIMIT $1""",
        limit,
    )
    return [
        {
            "id": r["id"],
            "at": r["at"].isoformat(),
            "user": r["user_name"],
            "role": r["role"],
            "action": r["action"],
            "target": r["target"],
            "address": r["address"],
            "status": r["status"],
            "result": r["result"],
            "details": json.loads(r["details"]) if isinstance(r["details"], str) else r["details"],
        }
        for r in rows
    ]


class UserStore(Protocol):
    """What the HTTP API keeps of users, tokens and the audit (``PgUserStore``; tests fake it)."""

    async def principal_for(self, token: str) -> Principal | None: ...

    async def write_audit(self, entry: AuditEntry) -> None: ...

    async def find_user(self, name: str) -> UserRow | None: ...

    async def issue_token(self, user: str) -> tuple[str, datetime]: ...

    async def add_user(self, name: str, role: Role, agent: str | None, password_hash: str) -> None: ...

    async def list_users(self) -> list[dict[str, Any]]: ...

    async def read_audit(self, limit: int) -> list[dict[str, Any]]: ...


class PgUserStore:
    """``UserStore`` in PostgreSQL, through the engine's shared pool (asked for at each use:
    it is made again after the database comes back)."""

    def __init__(self, pool: Callable[[], Awaitable[asyncpg.Pool]]) -> None:
        self._pool = pool

    async def principal_for(self, token: str) -> Principal | None:
        return await principal_for(await self._pool(), token)

    async def write_audit(self, entry: AuditEntry) -> None:
        await write_audit(await self._pool(), entry)

    async def find_user(self, name: str) -> UserRow | None:
        return await find_user(await self._pool(), name)

    async def issue_token(self, user: str) -> tuple[str, datetime]:
        return await issue_token(await self._pool(), user)

    async def add_user(self, name: str, role: Role, agent: str | None, password_hash: str) -> None:
        await add_user(await self._pool(), name, role, agent, password_hash)

    async def list_users(self) -> list[dict[str, Any]]:
        return await list_users(await self._pool())

    async def read_audit(self, limit: int) -> list[dict[str, Any]]:
        return await read_audit(await self._pool(), limit)
