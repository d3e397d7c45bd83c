"""Which callback request to dial now, and what becomes of it after an attempt: pure.

No I/O and no clock: the shell (``service.py``) passes the wall time, whether
the callback hours are open, and the floor (free operators by topic, the
longest inbound wait by topic). The rules (docs/callbacks.md):

* Nothing is dialled outside the callback hours; a request made at night is
  simply due when they open (its ``next_attempt_at`` passed long ago).
* A request is due when its ``next_attempt_at`` has come and its ``due_by``
  has not passed.
* Inbound callers first: no request of a topic is dialled while an inbound
  caller of that topic has waited longer than ``inbound_first_s``.
* The most urgent first (earliest ``due_by``, then the oldest request), each
  with the longest-idle free operator who has its topic; an operator is
  reserved for one request at most.
* After an attempt: ``answered`` is done; no answer, busy, a failure or a
  citizen who hung up during the introduction count as an attempt, retried
  after ``retry_after_s`` while attempts remain and the retry fits before
  ``due_by``, else ``failed``; an operator who did not take the call costs the
  citizen nothing (no attempt counted; tried again after ``OPERATOR_RETRY``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Status = Literal["pending", "dialing", "done", "failed", "expired"]
Result = Literal["answered", "no_answer", "busy", "failed", "hung_up", "operator_unavailable"]
RESULTS: tuple[Result, ...] = ("answered", "no_answer", "busy", "failed", "hung_up", "operator_unavailable")
OPEN: frozenset[Status] = frozenset({"pending", "dialing"})
OPERATOR_RETRY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Rules:
    inbound_first_s: float
    retry_after_s: float
    attempts: int


@dataclass(frozen=True, slots=True)
class Pending:
    """A request waiting to be dialled, as the scheduler needs it."""

    id: str
    topic: str
    queue: str
    requested_at: datetime
    due_by: datetime
    next_attempt_at: datetime
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Floor:
    """The centre now: available operators per topic (longest idle first), and the longest
    current wait of the inbound callers of each topic."""

    free: Mapping[str, Sequence[str]]
    longest_wait_s: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class Dial:
    request_id: str
    agent_id: str


def due(r: Pending, now: datetime) -> bool:
    return r.next_attempt_at <= now < r.due_by


def choose(
    pending: Iterable[Pending], floor: Floor, now: datetime, open_now: bool, rules: Rules
) -> list[Dial]:
    """The requests to dial now, each with the operator to reserve for it."""
    if not open_now:
        return []
    used: set[str] = set()
    out: list[Dial] = []
    for r in sorted(pending, key=lambda r: (r.due_by, r.requested_at, r.id)):
        if not due(r, now) or floor.longest_wait_s.get(r.topic, 0.0) > rules.inbound_first_s:
            continue
        agent = next((a for a in floor.free.get(r.topic, ()) if a not in used), None)
        if agent is None:
            continue
        used.add(agent)
        out.append(Dial(r.id, agent))
    return out


@dataclass(frozen=True, slots=True)
class After:
    """A request after an attempt: its new status, attempts and next attempt."""

    status: Status
    attempts: int
    next_attempt_at: datetime


def after_attempt(r: Pending, result: Result, now: datetime, rules: Rules) -> After:
    if result == "answered":
        return After("done", r.attempts + 1, now)
    if result == "operator_unavailable":
        nxt = now + OPERATOR_RETRY
        return After("pending" if nxt < r.due_by else "expired", r.attempts, nxt)
    attempts = r.attempts + 1
    nxt = now + timedelta(seconds=rules.retry_after_s)
    if attempts >= rules.attempts or nxt >= r.due_by:
        return After("failed", attempts, nxt)
    return After("pending", attempts, nxt)
