"""Small fakes behind the Protocols the routes use: the queue service, the user store, the
admin host and the emergency switch. They keep only what the assertions look at."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from argon2 import PasswordHasher

from ctoengine.admin.emergency import EmergencyState
from ctoengine.agents.states import AgentState, InvalidAgentTransition
from ctoengine.appeals.model import NewAppeal
from ctoengine.appeals.store import NotAComplaint
from ctoengine.config import RoutingConfig
from ctoengine.errors import DatabaseError
from ctoengine.users.policy import Principal, Role
from ctoengine.users.store import AuditEntry, UserExists, UserRow

# argon2 with the least cost: the production parameters take about a second a hash here, and
# verify reads the parameters from the stored hash.
CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "right-password-1"
PASSWORD_HASH = CHEAP.hash(PASSWORD)


async def cheap_hash(password: str) -> str:
    return CHEAP.hash(password)


TOKENS = {
    "cto_op1": Principal("op1", Role.OPERATOR, "op1"),
    "cto_sup": Principal("supervisor", Role.SUPERVISOR),
    "cto_admin": Principal("admin", Role.ADMIN),
}
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class FakeQueues:
    """``AgentService``: agents op1 and op2, queues social and egrul; call c-op1 is op1's."""

    def __init__(self) -> None:
        self.states = {"op1": "logged_out", "op2": "available"}
        self.reasons: dict[str, str | None] = {"op1": None, "op2": None}
        self.calls = {"c-op1": "op1", "c-op2": "op2"}
        self.transfers: list[tuple[str, str | None, str | None]] = []

    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.states

    def has_queue(self, name: str) -> bool:
        return name in ("social", "egrul")

    def agent_action(self, agent_id: str, action: str, reason: str | None = None) -> None:
        to = {"login": "available", "logout": "logged_out", "pause": "paused", "unpause": "available"}
        if action == "login" and self.states[agent_id] == "available":
            raise InvalidAgentTransition(agent_id, AgentState.AVAILABLE, AgentState.AVAILABLE)
        self.states[agent_id] = to[action]
        self.reasons[agent_id] = reason if action == "pause" else None

    def agent_view(self, agent_id: str) -> dict[str, Any]:
        return {
            "id": agent_id,
            "state": self.states[agent_id],
            "reason": self.reasons[agent_id],
            "state_for_s": 1.5,
            "pending": None,
            "skills": {"social": 5},
            "line": "first",
            "call_id": next((c for c, a in self.calls.items() if a == agent_id), None),
            "missed_rings": 0,
        }

    def agents_view(self) -> list[dict[str, Any]]:
        return [self.agent_view(a) for a in self.states]

    def queues_view(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "topic": name,
                "waiting": 0,
                "longest_wait_s": 0.0,
                "expected_wait_s": None,
                "agents": {"available": 1, "logged_out": 1},
                "handle_time_s": 120.0,
            }
            for name in ("social", "egrul")
        ]

    def agent_on_call(self, call_id: str) -> str | None:
        return self.calls.get(call_id)

    async def transfer(self, call_id: str, queue: str | None, agent: str | None) -> str | None:
        if call_id not in self.calls:
            return "the call is not in a queue"
        self.transfers.append((call_id, queue, agent))
        return None


@dataclass
class FakeUserStore:
    """``UserStore`` in memory; ``down`` makes every call fail as PostgreSQL would."""

    users: dict[str, UserRow] = field(
        default_factory=lambda: {"op1": UserRow("op1", Role.OPERATOR, "op1", PASSWORD_HASH, False)}
    )
    audited: list[AuditEntry] = field(default_factory=list)
    down: bool = False

    def _up(self) -> None:
        if self.down:
            raise DatabaseError("PostgreSQL is unreachable (test)")

    async def principal_for(self, token: str) -> Principal | None:
        self._up()
        return TOKENS.get(token)

    async def write_audit(self, entry: AuditEntry) -> None:
        self._up()
        self.audited.append(entry)

    async def find_user(self, name: str) -> UserRow | None:
        self._up()
        return self.users.get(name)

    async def issue_token(self, user: str) -> tuple[str, datetime]:
        self._up()
        return f"cto_issued_for_{user}", T0 + timedelta(hours=12)

    async def add_user(self, name: str, role: Role, agent: str | None, password_hash: str) -> None:
        self._up()
        if name in self.users:
            raise UserExists(f"user {name!r} exists")
        self.users[name] = UserRow(name, role, agent, password_hash, False)

    async def list_users(self) -> list[dict[str, Any]]:
        self._up()
        return [
            {
                "name": u.name,
                "role": u.role.value,
                "agent": u.agent,
                "created_at": T0.isoformat(),
                "disabled": u.disabled,
            }
            for u in self.users.values()
        ]

    async def read_audit(self, limit: int) -> list[dict[str, Any]]:
        self._up()
        rows = [
            {
                "id": i,
                "at": T0.isoformat(),
                "user": e.user,
                "role": e.role,
                "action": e.action,
                "target": e.target,
                "address": e.address,
                "status": e.status,
                "result": e.result,
                "details": e.details,
            }
            for i, e in enumerate(self.audited, 1)
        ]
        return rows[::-1][:limit]


class FakeHost:
    """``AdminHost``: ``errors`` is what the next reload finds in the routing file."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    @property
    def routing(self) -> RoutingConfig:
        return cast(RoutingConfig, None)  # FakeEmergency does not read it

    def reload(self) -> list[str]:
        return list(self.errors)


class FakeEmergency:
    """``Emergency``: the file says off; the API switch overrides it."""

    def __init__(self) -> None:
        self.override: bool | None = None
        self.who: dict[str, str] = {}

    def state(self, routing: object) -> EmergencyState:
        enabled = bool(self.override)
        source = "file" if self.override is None else "api"
        return {"enabled": enabled, "prompt": "emergency", "flow": None, "source": source, **self.who}

    async def switch(self, enabled: bool | None, who: dict[str, str]) -> None:
        self.override = enabled
        self.who = who if enabled is not None else {}


class FakeCallbacks:
    """The callbacks store as ``CallbackRoutes`` reads it: one done request."""

    async def list(self, status: str | None, limit: int) -> list[dict[str, Any]]:
        row = {
            "id": "cb-c1",
            "number": "79161234567",
            "topic": "passport",
            "queue": "passport",
            "status": "done",
            "attempts": 1,
            "requested_at": T0,
            "due_by": T0 + timedelta(hours=24),
            "next_attempt_at": T0,
            "last_result": "answered",
            "origin_call_id": "c1",
            "call_ids": ["c2"],
            "done_at": T0 + timedelta(minutes=5),
        }
        return [row][:limit] if status in (None, "done") else []


class FakeAppeals:
    """``AppealStore`` in memory: call c-done has a record; the number 79161234567 called before."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.looked_up: list[tuple[str, str]] = []

    async def add(self, a: NewAppeal) -> dict[str, Any]:
        complaint = a.outcome == "complaint_registered"
        row = {
            "id": len(self.rows) + 1,
            "call_id": a.call_id,
            "topic": a.topic,
            "subtopic": a.subtopic,
            "outcome": a.outcome,
            "note": a.note,
            "agent_id": a.agent_id,
            "user_name": a.user_name,
            "created_at": T0.isoformat(),
            "complaint_status": "new" if complaint else None,
            "complaint_updated_at": None,
            "complaint_updated_by": None,
        }
        self.rows.append(row)
        return row

    async def set_status(self, appeal_id: int, status: str, by: str) -> dict[str, Any] | None:
        row = next((r for r in self.rows if r["id"] == appeal_id), None)
        if row is None:
            return None
        if row["complaint_status"] is None:
            raise NotAComplaint(appeal_id)
        row.update(complaint_status=status, complaint_updated_at=T0.isoformat(), complaint_updated_by=by)
        return row

    async def call_exists(self, call_id: str) -> bool:
        return call_id == "c-done"

    async def history(
        self, number: str, since: datetime, other_than: str, limit: int
    ) -> list[dict[str, Any]]:
        self.looked_up.append((number, other_than))
        if number != "79161234567":
            return []
        appeal = {"topic": "passport", "subtopic": "lost", "outcome": "consulted"}
        return [
            {
                "call_id": "c-done",
                "started_at": T0.isoformat(),
                "topic": "passport",
                "disposition": "answered",
                "agent_id": "op1",
                "appeals": [appeal],
            }
        ]


class FakeRecordings:
    """The ``recordings`` table: call c-op1 has one recording, ``2026-11-22/c-op1-rec1.wav``."""

    async def latest(self, call_id: str) -> dict[str, Any] | None:
        if call_id != "c-op1":
            return None
        return {"call_id": call_id, "path": "2026-11-22/c-op1-rec1.wav", "format": "wav", "started_at": T0}


class FakeListening:
    """Live listening as the quality routes drive it: remembers what was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, ...]] = []

    async def start(self, call_id: str, mode: str, endpoint: str, user: str) -> Any:
        from ctoengine.errors import BadRequest
        from ctoengine.quality.listener import ListenState

        if endpoint != "PJSIP/sup1":
            raise BadRequest(f"{endpoint!r} is not a supervisor's phone", error_id="unknown_endpoint")
        self.asked.append(("start", call_id, mode, endpoint, user))
        return ListenState(call_id, f"sup-{call_id}-0001", cast(Any, mode), endpoint, "dialing")

    async def set_mode(self, call_id: str, mode: str, user: str) -> Any:
        from ctoengine.quality.listener import ListenState

        self.asked.append(("mode", call_id, mode, user))
        return ListenState(call_id, f"sup-{call_id}-0001", cast(Any, mode), "PJSIP/sup1", "connected")

    async def stop(self, call_id: str, user: str) -> Any:
        from ctoengine.quality.listener import ListenState

        self.asked.append(("stop", call_id, user))
        return ListenState(call_id, f"sup-{call_id}-0001", "listen", "PJSIP/sup1", "ended")
