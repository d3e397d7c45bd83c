"""Who a page request is: the session cookie, the login and the logout.

The cookie holds the session id (``HttpOnly``: no script reads it;
``SameSite=Strict``: no other site's page sends it; ``Secure`` when the pages
are served over https). The login form has a CSRF token of its own before any
session exists (double submit: a random value both in a ``SameSite=Strict``
cookie and in the form), so another site cannot log a browser in under its
account. Passwords are checked by the same argon2 code as the API's token login,
with the same per-address limit of failures.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from ctoengine.api.http import STORE_ERRORS
from ctoengine.errors import Unavailable
from ctoengine.logs import get_logger
from ctoengine.users.policy import FailureLimiter, Principal
from ctoengine.users.secrets import verify_password
from ctoengine.users.store import AuditEntry
from ctoengine.web.ports import Auditor
from ctoengine.web.sessions import (
    SessionPolicy,
    SessionStore,
    UserDirectory,
    csrf_token,
    expired,
    needs_touch,
    new_session_id,
    session_hash,
)

log = get_logger("ctoengine.web")

COOKIE = "cto_session"
LOGIN_COOKIE = "cto_login_csrf"
DB_TIMEOUT_S = 3.0
LOGIN_FAILURES_PER_MINUTE = 10


@dataclass(frozen=True)
class Visitor:
    """A request's valid session: who, and the raw id (its CSRF token is derived from it)."""

    user: Principal
    session_id: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.session_id)


class LoginRefused(Exception):
    """The login did not take; the message is for the person at the form."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class WebAuth:
    def __init__(
        self,
        store: SessionStore,
        users: UserDirectory,
        auditor: Auditor,
        policy: SessionPolicy,
        wall: Callable[[], datetime],
        *,
        secure: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.users = users
        self.auditor = auditor
        self.policy = policy
        self.wall = wall
        self.secure = secure
        self._clock = clock
        self.limiter = FailureLimiter(LOGIN_FAILURES_PER_MINUTE, 60.0)

    def _unavailable(self, e: BaseException) -> Unavailable:
        log.error("web_sessions_unavailable", error=str(e) or type(e).__name__)
        return Unavailable(
            "База данных недоступна: вход временно невозможен", error_id="database_unavailable"
        )

    # --- who is asking ----------------------------------------------------------
    async def visitor(self, request: web.Request) -> Visitor | None:
        """The valid session of the request, its last-seen time kept fresh; None without one."""
        sid = request.cookies.get(COOKIE, "")
        if not sid or len(sid) > 128:
            return None
        key = session_hash(sid)
        now = self.wall()
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                found = await self.store.find(key)
                if found is None:
                    return None
                why = expired(found, now, self.policy)
                if why is not None:
                    await self.store.delete(key)
                    log.info("web_session_expired", user=found.user.name, why=why)
                    return None
                if needs_touch(found, now):
                    await self.store.touch(key, now)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        return Visitor(found.user, sid)

    # --- login and logout ---------------------------------------------------------
    def login_token(self, request: web.Request) -> str:
        """The login form's CSRF value: the browser's cookie if it has one, else a new one."""
        have = request.cookies.get(LOGIN_COOKIE, "")
        return have if 16 <= len(have) <= 128 else secrets.token_urlsafe(24)

    def set_login_cookie(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(
            LOGIN_COOKIE, token, path="/ui/login", httponly=True, samesite="Strict", secure=self.secure
        )

    async def login(self, request: web.Request, name: str, password: str) -> tuple[Principal, str]:
        """Check the password and open a session: the user and the new session id.
        Raises ``LoginRefused`` (wrong password, too many failures) or ``Unavailable``."""
        address = request.remote or "unknown"
        wait = self.limiter.retry_after(address, self._clock())
        if wait is not None:
            await self._audit(request, None, name, 429)
            raise LoginRefused(
                f"Слишком много неудачных попыток входа. Повторите через {int(wait) + 1} с.", 429
            )
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                user = await self.users.find(name)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        usable = user is not None and not user.disabled
        ok = await verify_password(user.password_hash if user is not None and usable else None, password)
        if not ok or user is None:
            self.limiter.failed(address, self._clock())
            log.warning("web_login_failed", user=name[:64], address=address)
            await self._audit(request, None, name, 401)
            raise LoginRefused("Неверное имя пользователя или пароль.", 401)
        who = Principal(user.name, user.role, user.agent)
        sid = new_session_id()
        now = self.wall()
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                await self.store.sweep(now, self.policy)
                await self.store.create(session_hash(sid), user.name, now, request.remote)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        log.info("web_login", user=who.name, role=who.role.value, address=address)
        await self._audit(request, who, name, 200)
        return who, sid

    async def logout(self, request: web.Request, visitor: Visitor) -> None:
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                await self.store.delete(session_hash(visitor.session_id))
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        await self.auditor.audit(
            AuditEntry(
                visitor.user.name,
                visitor.user.role.value,
                "web.logout",
                visitor.user.name,
                request.remote,
                200,
                {"via": "web"},
            )
        )

    def set_session_cookie(self, response: web.StreamResponse, sid: str) -> None:
        response.set_cookie(
            COOKIE,
            sid,
            path="/ui",  # the pages only; never sent to /api/ (the API takes bearer tokens)
            max_age=int(self.policy.max_s),
            httponly=True,
            samesite="Strict",
            secure=self.secure,
        )

    def clear_session_cookie(self, response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE, path="/ui")

    async def _audit(self, request: web.Request, who: Principal | None, claimed: str, status: int) -> None:
        await self.auditor.audit(
            AuditEntry(
                user=who.name if who is not None else claimed[:64],
                role=who.role.value if who is not None else None,
                action="web.login",
                target=claimed[:64],
                address=request.remote,  # the connection's peer; X-Forwarded-For is not trusted
                status=status,
                details={"via": "web"},
            )
        )
