"""Who may call what: the one policy table of the HTTP API, and the pure decision.

Every route under ``/api/`` is looked up here by its method and route pattern
(``request.match_info.route.resource.canonical``). A route missing from the
table is for admins only (fail closed for everybody else), so a feature that
adds a route without a rule is usable by the bootstrap admin and refused to
operators and supervisors until a rule says otherwise
(``tests/unit/test_policy.py`` checks every registered route has one).

Roles, from least to most:

- ``operator``: its own agent (``/api/v1/agents/{agent}/...`` where ``agent`` is
  the agent the user is bound to) and its own calls (a call whose operator is
  that agent);
- ``supervisor``: every agent, the queues, the callbacks, the calls' recordings and
  live listening (issue 18);
- ``admin``: everything, also reload, emergency, users and the audit log.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: a user (from its token) or the bootstrap token."""

    name: str
    role: Role
    agent: str | None = None


BOOTSTRAP = Principal("bootstrap", Role.ADMIN)

ALL = frozenset(Role)
STAFF = frozenset({Role.SUPERVISOR, Role.ADMIN})
ADMIN = frozenset({Role.ADMIN})


@dataclass(frozen=True)
class Rule:
    action: str  # the name in the audit log
    roles: frozenset[Role]
    # An operator only on its own: "agent" (the path's {agent}) or "call" (the path's {call_id}).
    own: Literal["agent", "call"] | None = None
    target: str | None = None  # what names the target in the audit: a path parameter, or "body.KEY"
    public: bool = False  # no token needed (the login itself)
    audit_reads: bool = False  # a GET is audited too (who listened to which recording)


def _agent(action: str) -> Rule:
    return Rule(f"agent.{action}", ALL, own="agent", target="agent")


POLICY: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/agents"): Rule("agents.list", STAFF),
    ("GET", "/api/v1/agents/{agent}"): _agent("get"),
    ("POST", "/api/v1/agents/{agent}/login"): _agent("login"),
    ("POST", "/api/v1/agents/{agent}/logout"): _agent("logout"),
    ("POST", "/api/v1/agents/{agent}/pause"): _agent("pause"),
    ("POST", "/api/v1/agents/{agent}/unpause"): _agent("unpause"),
    ("GET", "/api/v1/queues"): Rule("queues.list", STAFF),
    ("GET", "/api/v1/callbacks"): Rule("callbacks.list", STAFF),
    ("POST", "/api/v1/calls/{call_id}/transfer"): Rule("call.transfer", ALL, own="call", target="call_id"),
    ("POST", "/api/v1/calls/{call_id}/appeal"): Rule("call.appeal", ALL, own="call", target="call_id"),
    ("PATCH", "/api/v1/appeals/{appeal_id}"): Rule("appeal.status", STAFF, target="appeal_id"),
    ("GET", "/api/v1/history"): Rule("history.lookup", STAFF),
    ("GET", "/api/v1/calls/{call_id}/recording"): Rule(
        "call.recording", STAFF, target="call_id", audit_reads=True
    ),
    ("POST", "/api/v1/calls/{call_id}/listen"): Rule("call.listen", STAFF, target="call_id"),
    ("POST", "/api/v1/calls/{call_id}/listen/mode"): Rule("call.listen_mode", STAFF, target="call_id"),
    ("DELETE", "/api/v1/calls/{call_id}/listen"): Rule("call.listen_stop", STAFF, target="call_id"),
    ("POST", "/api/v1/config/reload"): Rule("config.reload", ADMIN),
    ("GET", "/api/v1/emergency"): Rule("emergency.get", STAFF),
    ("POST", "/api/v1/emergency"): Rule("emergency.set", ADMIN),
    ("GET", "/api/v1/users"): Rule("users.list", ADMIN),
    ("POST", "/api/v1/users"): Rule("users.add", ADMIN, target="body.name"),
    ("GET", "/api/v1/audit"): Rule("audit.list", ADMIN),
    ("POST", "/api/v1/tokens"): Rule("login", ALL, target="body.name", public=True),
}


def rule_for(method: str, route: str) -> Rule:
    """The rule of a route; HEAD is GET; an unlisted route is for admins only."""
    method = "GET" if method == "HEAD" else method
    found = POLICY.get((method, route))
    return found if found is not None else Rule(f"{method} {route}", ADMIN)


def decide(
    rule: Rule,
    who: Principal,
    params: Mapping[str, str],
    call_owner: Callable[[str], str | None] = lambda _: None,
) -> str | None:
    """None when ``who`` may do it; else the message of the 403 answer.

    ``call_owner(call_id)`` is the agent connected to that call (None: none or
    unknown): an operator may act on a call only while it is its own.
    """
    if rule.public:
        return None
    if who.role not in rule.roles:
        need = " or ".join(r.value for r in Role if r in rule.roles)
        return f"{rule.action} needs the role {need}; {who.name!r} is {who.role.value}"
    if who.role is not Role.OPERATOR or rule.own is None:
        return None
    if who.agent is None:
        return f"{who.name!r} is an operator bound to no agent"
    if rule.own == "agent":
        if params.get("agent") != who.agent:
            return f"an operator may act only on its own agent ({who.agent})"
        return None
    call_id = params.get("call_id", "")
    if call_owner(call_id) != who.agent:
        return f"an operator may act only on its own calls; {call_id!r} is not connected to {who.agent}"
    return None


class FailureLimiter:
    """At most ``limit`` failures per key within ``window_s`` (pure: the caller passes ``now``).

    Used for logins per client address: once the limit is reached, further
    attempts are refused (429) until the oldest failure leaves the window.
    At most ``max_keys`` keys are remembered (the stalest are forgotten).
    """

    def __init__(self, limit: int = 10, window_s: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self.max_keys = max_keys
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if now - t < self.window_s]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until ``key`` may try again; None when it may now."""
        times = self._recent(key, now)
        if len(times) < self.limit:
            return None
        return max(0.0, times[-self.limit] + self.window_s - now)

    def failed(self, key: str, now: float) -> None:
        times = self._recent(key, now)
        times.append(now)
        self._failures.pop(key, None)
        self._failures[key] = times[-self.limit :]  # re-inserted: the dict's order is staleness
        while len(self._failures) > self.max_keys:
            del self._failures[next(iter(self._failures))]
