"""An in-process web app for the web tests: the engine's HttpApi (its middlewares), the web
routes, the real Distributor and RollingSla behind a fake queue service, users and sessions in
memory, and clocks the test moves."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from argon2 import PasswordHasher

from ctoengine.admin.emergency import EmergencyState
from ctoengine.api.http import HttpApi
from ctoengine.config import RoutingConfig
from ctoengine.metrics.registry import Metrics
from ctoengine.metrics.sla import RollingSla
from ctoengine.queues import distributor as q
from ctoengine.queues.service import build_distributor
from ctoengine.users.policy import Role
from ctoengine.users.store import AuditEntry, UserRow
from ctoengine.web.actions import Actions
from ctoengine.web.auth import WebAuth
from ctoengine.web.routes import WebRoutes
from ctoengine.web.sessions import MemorySessions, MemoryUsers, SessionPolicy

PASSWORD = "correct-horse-battery"  # a test password
_HASH: list[str] = []


def password_hash() -> str:
    """One argon2id hash for every test user, with small costs: the engine's own
    ``verify_password`` reads the costs from the hash, so logins stay the production code
    and take milliseconds instead of 64 MiB and a second each on a busy machine."""
    if not _HASH:
        _HASH.append(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD))
    return _HASH[0]


@dataclass
class Clock:
    mono: float = 1000.0
    wall: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 10, 0, tzinfo=UTC))

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)


class FakeFloor:
    """The queue service's face (``ctoengine.web.ports.Floor``) over a real distributor: events
    are fed with the test's clock and queue outcomes reach the RollingSla as in the service."""

    def __init__(self, routing: RoutingConfig, clock: Clock) -> None:
        self.dist = build_distributor(routing)
        self.sla = RollingSla(ZoneInfo(routing.centre.timezone))
        self.clock = clock

    def now(self) -> float:
        return self.clock.mono

    def feed(self, event: Any) -> None:
        for cmd in self.dist.handle(event, self.now()):
            if isinstance(cmd, q.QueueLog) and cmd.kind in ("answer", "abandon") and cmd.wait_s is not None:
                self.sla.observe(cmd.queue, cmd.kind, cmd.wait_s, self.clock.wall)

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.dist.agents

    def agent_action(self, agent_id: str, action: str, reason: str | None = None) -> None:
        events = {
            "login": q.AgentLogin(agent_id),
            "logout": q.AgentLogout(agent_id),
            "pause": q.AgentPause(agent_id, reason or "break"),
            "unpause": q.AgentUnpause(agent_id),
        }
        self.feed(events[action])


class FakeHost:
    def __init__(self, routing: RoutingConfig) -> None:
        self.routing = routing
        self.reload_errors: list[str] = []
        self.reloads = 0

    def reload(self) -> list[str]:
        self.reloads += 1
        return list(self.reload_errors)


class FakeEmergency:
    def __init__(self) -> None:
        self.enabled: bool | None = None
        self.by: dict[str, str] = {}

    def state(self, routing: RoutingConfig) -> EmergencyState:
        on = routing.emergency.enabled if self.enabled is None else self.enabled
        return {"enabled": on, "source": "file" if self.enabled is None else "api", **self.by}

    async def switch(self, enabled: bool | None, who: dict[str, str]) -> None:
        self.enabled, self.by = enabled, who


class Audit:
    def __init__(self) -> None:
        self.rows: list[AuditEntry] = []

    async def audit(self, entry: AuditEntry) -> None:
        self.rows.append(entry)

    def actions(self) -> list[tuple[str, str, int]]:
        return [(r.user, r.action, r.status) for r in self.rows]


async def _health() -> dict[str, Any]:
    return {"ari": True, "database": True}


class WebApp:
    def __init__(self, routing: RoutingConfig, policy: SessionPolicy | None = None) -> None:
        self.clock = Clock()
        self.floor = FakeFloor(routing, self.clock)
        self.host = FakeHost(routing)
        self.emergency = FakeEmergency()
        self.audit = Audit()
        h = password_hash()
        self.users = MemoryUsers(
            {
                "admin": UserRow("admin", Role.ADMIN, None, h, False),
                "supervisor": UserRow("supervisor", Role.SUPERVISOR, None, h, False),
                "op1": UserRow("op1", Role.OPERATOR, "op1", h, False),
                "gone": UserRow("gone", Role.SUPERVISOR, None, h, True),
            }
        )
        self.sessions = MemorySessions(self.users)
        self.policy = policy or SessionPolicy(idle_s=1800, max_s=8 * 3600)
        self.auth = WebAuth(self.sessions, self.users, self.audit, self.policy, lambda: self.clock.wall)
        actions = Actions(self.floor, self.host, self.emergency, self.audit, lambda: self.clock.wall)
        self.http = HttpApi("boot-token", Metrics(), _health)
        self.routes = WebRoutes(self.auth, self.floor, self.host, actions, lambda: self.clock.wall)
        self.routes.register(self.http.app)
