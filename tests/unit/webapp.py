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
from ctoengine.appeals.history import History
from ctoengine.appeals.service import Appeals
from ctoengine.config import RoutingConfig
from ctoengine.kb.articles import Article
from ctoengine.kb.index import Hit
from ctoengine.kb.service import KnowledgeBase
from ctoengine.metrics.registry import Metrics
from ctoengine.metrics.sla import RollingSla
from ctoengine.queues import distributor as q
from ctoengine.queues.service import build_distributor
from ctoengine.records.model import CallRecord
from ctoengine.users.policy import Role
from ctoengine.users.store import AuditEntry, UserRow
from ctoengine.web.actions import Actions
from ctoengine.web.auth import WebAuth
from ctoengine.web.routes import WebRoutes
from ctoengine.web.sessions import MemorySessions, MemoryUsers, SessionPolicy
from ctoengine.web.wiring import workplace
from tests.api.fakes import FakeAppeals

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
        self.records: dict[str, CallRecord] = {}  # the calls' records so far (the queue's tasks')
        self.transfers: list[tuple[str, str | None, str | None]] = []

    def now(self) -> float:
        return self.clock.mono

    def feed(self, event: Any) -> None:
        for cmd in self.dist.handle(event, self.now()):
            if isinstance(cmd, q.QueueLog) and cmd.kind in ("answer", "abandon") and cmd.wait_s is not None:
                self.sla.observe(cmd.queue, cmd.kind, cmd.wait_s, self.clock.wall)

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.dist.agents

    # --- the workplace's Desk ---------------------------------------------------------
    def has_queue(self, name: str) -> bool:
        return name in self.dist.queues

    def call_record(self, call_id: str) -> CallRecord | None:
        return self.records.get(call_id)

    def wrap_up(self, agent_id: str, action: str, seconds: float = 0.0) -> None:
        self.feed(q.WrapUpDone(agent_id) if action == "ready" else q.WrapUpExtend(agent_id, seconds))

    async def transfer(self, call_id: str, queue: str | None, agent: str | None) -> str | None:
        self.transfers.append((call_id, queue, agent))
        return None

    def call_owner(self, call_id: str) -> str | None:
        live = next((a.id for a in self.dist.agents.values() if a.call_id == call_id), None)
        return live or next((a for a, w in self.dist.wraps.items() if w.call_id == call_id), None)

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


class FakeIndex:
    """The knowledge base's index: a word matches by its first five letters (a crude stand-in
    for PostgreSQL's Russian stemming, enough to find "паспорта" by "паспорт")."""

    def __init__(self) -> None:
        self.articles: list[Article] = []

    async def sync(self, articles: list[Article]) -> None:
        self.articles = list(articles)

    async def search(self, text: str, limit: int = 20) -> list[Hit]:
        stems = [w.lower()[:5] for w in text.split()]
        found = [a for a in self.articles if all(s in (a.title + " " + a.body).lower() for s in stems)]
        return [Hit(a.id, a.topic, a.title, [(a.title, True)]) for a in found[:limit]]


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
        self.appeals = FakeAppeals()
        service = Appeals(self.appeals, lambda: self.host.routing, self.floor.call_owner)
        self.history = History(self.appeals, self.audit.audit, lambda: self.clock.wall)
        self.kb = KnowledgeBase(FakeIndex())
        self.desk = workplace(self.routes, self.floor, service, self.history, self.kb, self.audit)
        self.desk.register(self.http.app)
