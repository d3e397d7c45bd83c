"""Routes of users, tokens and the audit log: ``/api/v1/users``, ``/api/v1/tokens``, ``/api/v1/audit``.

Who may call them is in ``ctoengine.users.policy`` (users and audit: admin;
tokens: anyone, rate-limited per client address).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import asyncpg
from aiohttp import web

from ctoengine.api.http import STORE_ERRORS, Access, json_body
from ctoengine.api.openapi import error_responses
from ctoengine.errors import BadRequest, Conflict, TooManyRequests, Unauthorized, Unavailable
from ctoengine.logs import get_logger
from ctoengine.users.policy import FailureLimiter, Principal, Role, rule_for
from ctoengine.users.secrets import hash_password, password_problem, verify_password
from ctoengine.users.store import (
    UserExists,
    add_user,
    find_user,
    issue_token,
    list_users,
    name_problem,
    read_audit,
    role_problem,
)

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

    def register(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/tokens", self.login)
        app.router.add_get("/api/v1/users", self.list_users)
        app.router.add_post("/api/v1/users", self.add_user)
        app.router.add_get("/api/v1/audit", self.audit)

    async def _pool(self) -> asyncpg.Pool:
        if self.access.pool is None:
            raise Unavailable("no database is configured", error_id="database_unavailable")
        return await self.access.pool()

    def _unavailable(self, e: BaseException) -> Unavailable:
        log.error("users_db_unavailable", error=str(e) or type(e).__name__)
        return Unavailable(
            "the database is unavailable; nothing was changed", error_id="database_unavailable"
        )

    async def login(self, request: web.Request) -> web.Response:
        """Name and password -> a bearer token (hashed in the database, expiring)."""
        rule = rule_for("POST", "/api/v1/tokens")
        address = request.remote or "unknown"
        wait = self.limiter.retry_after(address, self._clock())
        body = await json_body(request)
        name, password = body.get("name"), body.get("password")
        claimed = name if isinstance(name, str) else ""
        if wait is not None:
            self.access.metrics.api_auth_failures.labels("rate_limited").inc()
            await self.access.audit_request(request, rule, None, 429, claimed)
            e = TooManyRequests(
                f"too many failed logins from {address}; try again in {int(wait) + 1} s",
                retry_after_s=int(wait) + 1,
            )
            e.headers["Retry-After"] = str(int(wait) + 1)
            raise e
        if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
            raise BadRequest('send {"name": ..., "password": ...}')
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                user = await find_user(await self._pool(), name)
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
                token, expires = await issue_token(await self._pool(), user.name)
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        who = Principal(user.name, user.role, user.agent)
        await self.access.audit_request(request, rule, who, 200)
        return web.json_response(
            {"token": token, "expires_at": expires.isoformat(), "role": user.role.value, "agent": user.agent}
        )

    async def add_user(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        name, role, agent, password = (body.get(k) for k in ("name", "role", "agent", "password"))
        problem = name_problem(name) or role_problem(role, agent) or password_problem(password)
        if problem is not None:
            raise BadRequest(problem, error_id="bad_user")
        assert isinstance(name, str) and isinstance(password, str) and isinstance(role, str)
        bound = agent if isinstance(agent, str) and agent else None
        if bound is not None and not self._agent_known(bound):
            raise BadRequest(f"no operator {bound!r} in the routing file", error_id="unknown_agent")
        hashed = await hash_password(password)
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                await add_user(await self._pool(), name, Role(role), bound, hashed)
        except UserExists as e:
            raise Conflict(str(e), error_id="user_exists") from None
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        log.info("user_added", user=name, role=role, agent=bound)
        return web.json_response({"name": name, "role": role, "agent": bound}, status=201)

    async def list_users(self, _: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                users = await list_users(await self._pool())
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        return web.json_response(users)

    async def audit(self, request: web.Request) -> web.Response:
        raw = request.query.get("limit", "100")
        if not raw.isdigit() or not 1 <= int(raw) <= 1000:
            raise BadRequest("limit must be a whole number from 1 to 1000")
        try:
            async with asyncio.timeout(DB_TIMEOUT_S):
                rows = await read_audit(await self._pool(), int(raw))
        except STORE_ERRORS as e:
            raise self._unavailable(e) from None
        return web.json_response(rows)


def openapi_paths() -> dict[str, Any]:
    sec: list[dict[str, list[str]]] = [{"bearer": []}]
    user_props = {
        "name": {"type": "string"},
        "role": {"type": "string", "enum": [r.value for r in Role]},
        "agent": {
            "type": "string",
            "nullable": True,
            "description": "the operator id; required for operator",
        },
    }
    return {
        "/api/v1/tokens": {
            "post": {
                "summary": (
                    "Log in: name and password give a bearer token that expires (12 h). No token needed;"
                    " 10 failures a minute from one address give 429"
                ),
                "security": [],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name", "password"],
                                "properties": {"name": {"type": "string"}, "password": {"type": "string"}},
                            }
                        }
                    }
                },
                "responses": {
                    "200": {
                        "description": "{token, expires_at, role, agent}",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "token": {"type": "string"},
                                        "expires_at": {"type": "string", "format": "date-time"},
                                        "role": {"type": "string"},
                                        "agent": {"type": "string", "nullable": True},
                                    },
                                }
                            }
                        },
                    },
                    **error_responses(400, 401, 413, 429, 503),
                },
            }
        },
        "/api/v1/users": {
            "get": {
                "summary": "API users with role and agent (admin)",
                "security": sec,
                "responses": {"200": {"description": "users"}, **error_responses(401, 403, 503)},
            },
            "post": {
                "summary": "Add an API user (admin); the password is stored as an argon2 hash",
                "security": sec,
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["name", "role", "password"],
                                "properties": {**user_props, "password": {"type": "string", "minLength": 10}},
                            }
                        }
                    }
                },
                "responses": {
                    "201": {"description": "the user (without the password)"},
                    **error_responses(400, 401, 403, 409, 413, 503),
                },
            },
        },
        "/api/v1/audit": {
            "get": {
                "summary": "The audit log, newest first (admin): who, role, action, target, address, status",
                "security": sec,
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                    }
                ],
                "responses": {"200": {"description": "audit rows"}, **error_responses(400, 401, 403, 503)},
            }
        },
    }
