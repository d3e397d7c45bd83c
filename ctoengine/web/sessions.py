"""Web sessions: ids, what is stored of them, the CSRF token and the expiry rules.

A session id is 256 random bits, held only by the browser (an HttpOnly,
SameSite=Strict cookie); the store keeps its SHA-256, so a copy of the table
lets nobody in. The CSRF token of a session is derived from its id
(HMAC-SHA256 of a fixed label, keyed by the id): nothing more to store, it
changes with every login, and the stored hash does not reveal it.

Expiry is decided here, from the stored times and an injected ``now``:
``idle_s`` after the last request (an open live page counts as one), and
``max_s`` after the login whatever happens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from ctoengine.users.policy import Principal
from ctoengine.users.store import UserRow

# The last-seen time is written at most this often: a request every second from a
# wall screen would otherwise be a write every second. Idle expiry is that coarse.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    idle_s: float = 1800.0
    max_s: float = 12 * 3600.0


@dataclass(frozen=True)
class Session:
    """A stored session, joined with its (enabled) user."""

    id_hash: str
    user: Principal
    created_at: datetime
    last_seen_at: datetime


def new_session_id() -> str:
    return secrets.token_urlsafe(32)


def session_hash(session_id: str) -> str:
    """What the store keeps of a session id: its hex SHA-256."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def csrf_token(session_id: str) -> str:
    """The session's CSRF token, for its forms and POSTs."""
    return hmac.new(session_id.encode(), b"ctoengine web csrf", hashlib.sha256).hexdigest()


def csrf_ok(session_id: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(session_id), str(sent))


def expired(s: Session, now: datetime, policy: SessionPolicy) -> str | None:
    """Why the session is over ("idle" or "absolute"); None while it is valid."""
    return over(s.created_at, s.last_seen_at, now, policy)


def over(created_at: datetime, last_seen_at: datetime, now: datetime, policy: SessionPolicy) -> str | None:
    if (now - created_at).total_seconds() >= policy.max_s:
        return "absolute"
    if (now - last_seen_at).total_seconds() >= policy.idle_s:
        return "idle"
    return None


def needs_touch(s: Session, now: datetime) -> bool:
    return now - s.last_seen_at >= TOUCH_EVERY


class SessionStore(Protocol):
    """Where sessions live: PostgreSQL in the engine (``pgsessions``), memory in unit tests."""

    async def create(self, id_hash: str, user: str, now: datetime, address: str | None) -> None: ...

    async def find(self, id_hash: str) -> Session | None:
        """The session with its user; None when unknown or the user is gone or disabled."""
        ...

    async def touch(self, id_hash: str, now: datetime) -> None: ...

    async def delete(self, id_hash: str) -> None: ...

    async def sweep(self, now: datetime, policy: SessionPolicy) -> None:
        """Forget sessions that have expired."""
        ...


class UserDirectory(Protocol):
    """The users of ``ctoengine.users`` (the ``users`` table), as the login reads them."""

    async def find(self, name: str) -> UserRow | None: ...


class MemoryUsers:
    def __init__(self, users: Mapping[str, UserRow]) -> None:
        self.users = dict(users)

    async def find(self, name: str) -> UserRow | None:
        return self.users.get(name)


class MemorySessions:
    """The store for unit tests and tools: the same rules, no database."""

    def __init__(self, users: MemoryUsers) -> None:
        self._users = users
        self.rows: dict[str, tuple[str, datetime, datetime, str | None]] = {}

    async def create(self, id_hash: str, user: str, now: datetime, address: str | None) -> None:
        self.rows[id_hash] = (user, now, now, address)

    async def find(self, id_hash: str) -> Session | None:
        row = self.rows.get(id_hash)
        if row is None:
            return None
        u = self._users.users.get(row[0])
        if u is None or u.disabled:
            return None
        return Session(id_hash, Principal(u.name, u.role, u.agent), row[1], row[2])

    async def touch(self, id_hash: str, now: datetime) -> None:
        row = self.rows.get(id_hash)
        if row is not None:
            self.rows[id_hash] = (row[0], row[1], now, row[3])

    async def delete(self, id_hash: str) -> None:
        self.rows.pop(id_hash, None)

    async def sweep(self, now: datetime, policy: SessionPolicy) -> None:
        for key, (_, created, seen, _) in list(self.rows.items()):
            if over(created, seen, now, policy) is not None:
                del self.rows[key]
