"""Routes of users, tokens and the audit log: ``/api/v1/users``, ``/api/v1/tokens``, ``/api/v1/audit``.

Who may call them is in ``ctoengine.users.policy`` (users and audit: admin;
tokens: anyone, rate-limited per client address).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from aiohttp import web

from ctoengine.api.http import STORE_ERRORS, Access
from ctoengine.api.routes import Routes
from ctoengine.errors import BadRequest, Conflict, TooManyRequests, Unauthorized, Unavailable
from ctoengine.logs import get_logger
from ctoengine.users.policy import FailureLimiter, Principal, rule_for
from ctoengine.users.schemas import (
    AuditLog,
    AuditQuery,
    IssuedToken,
    LoginBody,
    NewUser,
    NewUserBody,
    UserList,
)
from ctoengine.users.secrets import hash_password, verify_password
from ctoengine.users.store import UserExists, UserStore, role_problem

log = get_logger("ctoengine.users")

LOGIN_FAILURES_PER_MINUTE = 10
DB_TIMEOUT_S = 3.0


class UserRoutes:
    def __init__(
        self,
        access: Access,
        agent_known: Callable[[str], bool],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.access = access
        self._agent_known = agent_known
        self._clock = clock
        self.limiter = FailureLimiter(LOGIN_FAILURES_PER_MINUTE, 60.0)

    def register(self, routes: Routes) -> None:
        add = routes.add
        # fmt: off
        add("POST", "/api/v1/tokens", self.login, op="login", tag="users",
            summary="Log in: name and password give a bearer token (12 h)",
            input=LoginBody, output=IssuedToken, errors=(401, 429, 503))
        add("GET", "/api/v1/users", self.list_users, op="listUsers", tag="users",
            summary="API users with role and agent", output=UserList)
        add("POST", "/api/v1/users", self.add_user, op="addUser", tag="users",
            summary="Add an API user", input=NewUserBody, output=NewUser, status=201, errors=(409,))
        add("GET", "/api/v1/audit", self.audit, op="readAudit", tag="audit",
            summary="The audit log, newest first", input=AuditQuery, output=AuditLog)
        # fmt: on

    @property
    def _store(self) -> UserStore:
        if self.access.store is None:
            raise Unavailable("no database is configured", error_id="database_unavailable")
        return self.access.store

    def _unavailable(self, e: BaseException) -> Unavailable:
        log.error("users_db_unavailable", error=str(e) or type(e).__name__)
        return Unavailable(
            "the database is unavailable; nothing was changed", error_id="database_unavailable"
        )

    async def login(self, request: web.Request, body: LoginBody) -> IssuedToken:
        """No token needed. The token is stored hashed and expires in 12 hours. Ten failures a
        minute from one address give 429 with Retry-After, even for the right password."""
        rule = rule_for("POST", "/api/v1/tokens")
        address = request.remote or "unknown"
        wait = self.limiter.retry_after(address, self._clock())
        name, password = body.name, body.password
        claimed = name
        if wait is not None:
            self.access.metrics.api_auth_failures.labels("rate_limited").inc()
            await self.access.audit_request(request, rule, None, 429, claimed)
            e = TooManyRequests(
                f"too many failed logins from {address}; try again in {int(wait) + 1} s",
                retry_after_s=int(wait) + 1,
            )
            e.headers["Retry-After"] = str(int(wait) + 1)
            raise e
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                user = await self._store.find_user(name)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        usable = user is not None and not user.disabled
        ok = await verify_password(user.password_hash if user is not None and usable else None, password)
        if not ok or user is None:
            self.limiter.failed(address, self._clock())
            self.access.metrics.api_auth_failures.labels("unauthorized").inc()
            log.warning("login_failed", user=claimed[:64], address=address)
            await self.access.audit_request(request, rule, None, 401, claimed)
            raise Unauthorized("wrong name or password", error_id="login_failed")
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                token, expires = await self._store.issue_token(user.name)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        who = Principal(user.name, user.role, user.agent)
        await self.access.audit_request(request, rule, who, 200)
        return IssuedToken(token=token, expires_at=expires.isoformat(), role=user.role, agent=user.agent)

    async def add_user(self, _: web.Request, body: NewUserBody) -> NewUser:
        """The password is stored as an argon2 hash. An operator user is bound to an agent of the
        routing file (400 ``bad_user`` / ``unknown_agent`` otherwise); 409 ``user_exists``."""
        name, role, agent, password = body.name, body.role, body.agent, body.password
        problem = role_problem(role.value, agent)
        if problem is not None:
            raise BadRequest(problem, error_id="bad_user")
        bound = agent or None
        if bound is not None and not self._agent_known(bound):
            raise BadRequest(f"no operator {bound!r} in the routing file", error_id="unknown_agent")
        hashed = await hash_password(password)
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                await self._store.add_user(name, role, bound, hashed)
        except UserExists as e:
            raise Conflict(str(e), error_id="user_exists") from None
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        log.info("user_added", user=name, role=role.value, agent=bound)
        return NewUser(name=name, role=role, agent=bound)

    async def list_users(self, _: web.Request) -> UserList:
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                users = await self._store.list_users()
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        return UserList.model_validate(users)

    async def audit(self, _: web.Request, query: AuditQuery) -> AuditLog:
        """Who, role, action, target, address, status and result of each state-changing call and
        each login attempt."""
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                rows = await self._store.read_audit(query.limit)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        return AuditLog.model_validate(rows)
