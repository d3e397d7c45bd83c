"""Agent states: an explicit machine with one setter that validates, records and reports.

Wrap-up and pause are states you can see (API, metrics, the agent_events
table), not a hidden timer: the failure the issue names in other engines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RESERVED = "reserved"  # being rung for exactly one caller
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    UNAVAILABLE = "unavailable"


S = AgentState
ALLOWED: dict[AgentState, frozenset[AgentState]] = {
    S.LOGGED_OUT: frozenset({S.AVAILABLE, S.PAUSED, S.UNAVAILABLE}),
    S.AVAILABLE: frozenset({S.RESERVED, S.PAUSED, S.LOGGED_OUT, S.UNAVAILABLE}),
    S.RESERVED: frozenset({S.ON_CALL, S.AVAILABLE, S.PAUSED, S.UNAVAILABLE, S.LOGGED_OUT}),
    S.ON_CALL: frozenset({S.WRAP_UP}),
    S.WRAP_UP: frozenset({S.AVAILABLE, S.PAUSED, S.LOGGED_OUT, S.UNAVAILABLE}),
    S.PAUSED: frozenset({S.AVAILABLE, S.LOGGED_OUT, S.UNAVAILABLE}),
    S.UNAVAILABLE: frozenset({S.AVAILABLE, S.PAUSED, S.LOGGED_OUT}),
}
STAFFED = frozenset({S.AVAILABLE, S.RESERVED, S.ON_CALL, S.WRAP_UP})


class InvalidAgentTransition(Exception):
    def __init__(self, agent_id: str, frm: AgentState, to: AgentState) -> None:
        super().__init__(f"operator {agent_id} cannot go from {frm} to {to}")
        self.agent_id, self.frm, self.to = agent_id, frm, to


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    """Command: log, count and store this change."""

    agent_id: str
    from_state: AgentState
    to_state: AgentState
    reason: str | None
    at: float


@dataclass(frozen=True)
class AgentSpec:
    id: str
    endpoint: str
    skills: dict[str, int]
    line: str = "first"


@dataclass
class Agent:
    spec: AgentSpec
    state: AgentState = S.LOGGED_OUT
    reason: str | None = None
    since: float = 0.0
    idle_since: float = 0.0  # longest-idle order: end of the last wrap-up, login or unpause
    missed_rings: int = 0
    reachable: bool = True  # the softphone answers (endpoint state from Asterisk)
    call_id: str | None = None  # the caller being rung or talked to
    wrap_queue: str | None = None
    pending: AgentState | None = None  # pause/logout asked during a call: applied after wrap-up
    pending_reason: str | None = None
    # Told after every change of state: the distributor keeps its index of free operators
    # by it instead of scanning hundreds of operators on every event.
    listener: Callable[[Agent], None] | None = field(default=None, repr=False, compare=False)

    @property
    def id(self) -> str:
        return self.spec.id

    def set(self, to: AgentState, now: float, reason: str | None = None) -> AgentStateChanged:
        """The one setter: validates the transition and returns the change to report."""
        if to not in ALLOWED[self.state]:
            raise InvalidAgentTransition(self.id, self.state, to)
        change = AgentStateChanged(self.id, self.state, to, reason, now)
        self.state, self.reason, self.since = to, reason, now
        if to is S.AVAILABLE:
            self.idle_since = now
        if to not in (S.RESERVED, S.ON_CALL):
            self.call_id = None
        if self.listener is not None:
            self.listener(self)
        return change

    def resume_call(self, call_id: str, now: float) -> AgentStateChanged:
        """A restarted engine finds this operator still talking: the one way onto a call
        without a ring (the new engine starts with everyone logged out)."""
        if self.state is not S.LOGGED_OUT:
            raise InvalidAgentTransition(self.id, self.state, S.ON_CALL)
        change = AgentStateChanged(self.id, self.state, S.ON_CALL, "restored", now)
        self.state, self.reason, self.since, self.call_id = S.ON_CALL, "restored", now, call_id
        if self.listener is not None:
            self.listener(self)
        return change
