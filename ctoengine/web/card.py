"""The operator's call card: a pure function of his agent, his call's record so far and the clock.

What the workplace shows (docs/workplace.md): the operator's state; while he is
rung, talking, or in the wrap-up after a call, that call — the caller's number,
the menu path and topic, the wait until he answered (growing while he is rung),
a self-service result, the caller's earlier calls (looked up once per call, see
``ctoengine.appeals.history``), the knowledge-base articles of the topic; in the
wrap-up, the time left and how much longer it may still be made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any

from ctoengine.agents.states import Agent, AgentState
from ctoengine.appeals.model import OUTCOMES
from ctoengine.kb.articles import Article
from ctoengine.logs import mask_application
from ctoengine.queues.distributor import WrapUp
from ctoengine.records.model import CallRecord

S = AgentState
PHASES = {S.RESERVED: "ringing", S.ON_CALL: "talking", S.WRAP_UP: "wrap_up"}
DISPOSITIONS = {
    "answered": "разговор с оператором",
    "abandoned": "не дождался",
    "self_served": "самообслуживание",
    "callback_requested": "заказал обратный звонок",
    "overflowed": "передан в другой центр",
    "closed": "вне рабочего времени",
    "failed": "сбой",
}


@dataclass(frozen=True)
class Earlier:
    """One earlier call of the number."""

    when: str  # local "23.11 10:05"
    topic: str
    disposition: str
    appeals: list[str]  # "Утрата паспорта — Консультация дана"


@dataclass(frozen=True)
class Card:
    agent: str
    state: str
    reason: str | None
    pending: str | None
    in_state_s: float
    phase: str | None = None  # ringing | talking | wrap_up; None: no call
    call_id: str | None = None
    number: str | None = None
    topic: str | None = None
    topic_title: str | None = None
    ivr_path: list[str] = field(default_factory=list)
    waited_s: float | None = None
    talk_s: float | None = None
    self_service: str | None = None
    wrap_left_s: float | None = None
    extension_left_s: float = 0.0
    history: list[Earlier] | None = None  # None: being looked up
    articles: list[tuple[str, str]] = field(default_factory=list)  # (id, title)


def _path(steps: list[str]) -> list[str]:
    """The menu path with application numbers masked (``self_service:123456`` -> ``****56``)."""
    out = []
    for step in steps:
        head, _, tail = step.rpartition(":")
        out.append(f"{head}:{mask_application(tail)}" if head == "self_service" and tail.isdigit() else step)
    return out


def _self_service(result: dict[str, Any] | None) -> str | None:
    if not result:
        return None
    if result.get("failed"):
        return "справочная система не ответила"
    return f"заявление {mask_application(str(result.get('application') or ''))}: {result.get('status')}"


def earlier(
    rows: list[dict[str, Any]], titles: dict[str, str], subtitles: dict[str, dict[str, str]], tz: tzinfo
) -> list[Earlier]:
    """History rows (``AppealStore.history``) in the card's words."""
    out = []
    for r in rows:
        at = datetime.fromisoformat(r["started_at"]).astimezone(tz)
        topic = r.get("topic") or ""
        appeals = []
        for a in r.get("appeals", []):
            sub = subtitles.get(a["topic"], {}).get(a["subtopic"], a["subtopic"])
            appeals.append(f"{sub} — {OUTCOMES.get(a['outcome'], a['outcome'])}")
        disposition = DISPOSITIONS.get(r.get("disposition") or "", r.get("disposition") or "")
        out.append(Earlier(at.strftime("%d.%m %H:%M"), titles.get(topic, topic or "—"), disposition, appeals))
    return out


def build_card(
    agent: Agent,
    now: float,
    wall: datetime,
    *,
    wrap: WrapUp | None = None,
    extension_left_s: float = 0.0,
    record: CallRecord | None = None,
    titles: dict[str, str] | None = None,
    history: list[Earlier] | None = None,
    articles: list[Article] | None = None,
) -> Card:
    """``now`` is the distributor's clock (times in state, the wrap-up), ``wall`` the records'."""
    base: dict[str, Any] = {
        "agent": agent.id,
        "state": agent.state.value,
        "reason": agent.reason,
        "pending": agent.pending.value if agent.pending else None,
        "in_state_s": max(0.0, now - agent.since),
    }
    phase = PHASES.get(agent.state)
    call_id = wrap.call_id if agent.state is S.WRAP_UP and wrap is not None else agent.call_id
    if phase is None or call_id is None:
        return Card(**base)
    card: dict[str, Any] = {"phase": phase, "call_id": call_id, "history": history}
    if agent.state is S.WRAP_UP and wrap is not None:
        card["wrap_left_s"] = max(0.0, wrap.until - now)
        card["extension_left_s"] = extension_left_s
    if record is not None and record.call_id == call_id:
        r = record
        card.update(
            number=r.caller_number,
            topic=r.topic,
            topic_title=(titles or {}).get(r.topic or "", r.topic),
            ivr_path=_path(r.ivr_path),
            self_service=_self_service(r.self_service),
            articles=[(a.id, a.title) for a in articles or []],
        )
        if r.queued_at is not None:
            card["waited_s"] = max(0.0, ((r.agent_answered_at or wall) - r.queued_at).total_seconds())
        if r.agent_answered_at is not None:
            card["talk_s"] = max(0.0, ((r.ended_at or wall) - r.agent_answered_at).total_seconds())
    return Card(**base, **card)
