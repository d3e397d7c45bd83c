"""The wallboard's figures: a pure function of the distributor, the rolling service level and now.

No number is computed here a second time: waiting callers, the longest wait and
operators by state are the distributor's ``queue_view`` (what ``GET
/api/v1/queues`` and the gauges show); the shares are ``Counts.service_level``
and ``Counts.abandoned_share`` of the engine's ``RollingSla`` (what the
``ctoengine_service_level`` gauges and ``ctoengine report`` use, docs/sla.md).
This module only adds the colour of each figure against the thresholds below.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ctoengine.agents.states import AgentState
from ctoengine.metrics.sla import ALL, TARGET_WAIT_S, Counts, RollingSla
from ctoengine.queues.distributor import Distributor

Level = Literal["ok", "warn", "bad", "none"]

# The centre's targets (issue 16): 80 % of the calls answered within 20 s, at most
# 5 % lost. "warn" is the band where a supervisor should act before the target breaks.
SL_TARGET = 0.80
SL_WARN = 0.70
ABANDON_LIMIT = 0.05
ABANDON_WARN = 0.10
WAIT_WARN_S = 2 * TARGET_WAIT_S


@dataclass(frozen=True)
class Share:
    value: float | None  # 0..1; None when no call counts yet
    count: int  # the calls the share counts (within target; abandoned)
    offered: int  # all calls that left the queue in the window
    level: Level


@dataclass(frozen=True)
class QueueRow:
    name: str
    title: str
    waiting: int
    longest_wait_s: int
    wait_level: Level
    sl_today: Share
    sl_15m: Share
    abandoned_today: Share
    agents: Mapping[str, int]  # AgentState value -> operators of the queue's topic


@dataclass(frozen=True)
class AgentRow:
    id: str
    state: str  # AgentState value
    reason: str | None
    in_state_s: int
    call_topic: str | None  # the title of the topic of the call being rung or talked
    talk_s: int | None
    pending: str | None  # pause or logout asked during a call: applied after the wrap-up
    pending_reason: str | None


@dataclass(frozen=True)
class Board:
    queues: tuple[QueueRow, ...]
    total: QueueRow
    agents: tuple[AgentRow, ...]  # every operator not logged out
    logged_out: int
    emergency: bool


def sl_level(v: float | None) -> Level:
    if v is None:
        return "none"
    return "ok" if v >= SL_TARGET else "warn" if v >= SL_WARN else "bad"


def abandon_level(v: float | None) -> Level:
    if v is None:
        return "none"
    return "ok" if v <= ABANDON_LIMIT else "warn" if v <= ABANDON_WARN else "bad"


def wait_level(waiting: int, longest_s: float) -> Level:
    if waiting == 0:
        return "none"
    return "ok" if longest_s <= TARGET_WAIT_S else "warn" if longest_s <= WAIT_WARN_S else "bad"


def _shares(c: Counts | None) -> tuple[Share, Share]:
    c = c if c is not None else Counts()
    sl = Share(c.service_level, c.within_target, c.offered, sl_level(c.service_level))
    lost = c.abandoned - c.short_abandoned  # the numerator of abandoned_share
    ab = Share(c.abandoned_share, lost, c.offered, abandon_level(c.abandoned_share))
    return sl, ab


def natural(agent_id: str) -> tuple[str | int, ...]:
    """op2 before op10."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", agent_id))


def snapshot(
    dist: Distributor,
    sla: RollingSla,
    now: float,
    wall: datetime,
    titles: Mapping[str, str],
    emergency: bool = False,
) -> Board:
    """The board as of ``now`` (the distributor's monotonic clock) and ``wall`` (the SLA's clock).

    ``titles``: topic code -> its title in the routing file.
    """
    figures = sla.figures(wall)
    rows = []
    for name in dist.queues:
        view = dist.queue_view(name, now)
        rows.append(_row(name, titles.get(view["topic"], name), view, figures))
    everyone: dict[str, int] = {s.value: 0 for s in AgentState}
    for a in dist.agents.values():
        everyone[a.state.value] += 1
    total_view = {
        "waiting": sum(r.waiting for r in rows),
        "longest_wait_s": max((r.longest_wait_s for r in rows), default=0),
        "agents": everyone,
    }
    total = _row(ALL, "Все очереди", total_view, figures)
    talks = {t["call_id"]: t["queue"] for t in dist.snapshot(now)["talks"]}
    agents = []
    for a in sorted(dist.agents.values(), key=lambda a: natural(a.id)):
        if a.state is AgentState.LOGGED_OUT:
            continue
        queue = None
        if a.call_id is not None:
            waiting = dist.waiting.get(a.call_id)
            queue = talks.get(a.call_id) or (waiting.queue if waiting is not None else None)
        topic = dist.queues[queue].topic if queue in dist.queues else None
        agents.append(
            AgentRow(
                id=a.id,
                state=a.state.value,
                reason=a.reason,
                in_state_s=int(max(0.0, now - a.since)),
                call_topic=titles.get(topic, topic) if topic is not None else None,
                # On a call since the answer: the state's own start is the talk's.
                talk_s=int(max(0.0, now - a.since)) if a.state is AgentState.ON_CALL else None,
                pending=a.pending.value if a.pending is not None else None,
                pending_reason=a.pending_reason,
            )
        )
    return Board(tuple(rows), total, tuple(agents), everyone[AgentState.LOGGED_OUT.value], emergency)


def _row(
    name: str, title: str, view: Mapping[str, Any], figures: Mapping[tuple[str, str], Counts]
) -> QueueRow:
    """One line of the board from a ``queue_view`` (or the centre's sum of them)."""
    waiting = int(view["waiting"])
    longest = float(view["longest_wait_s"])
    sl_today, ab_today = _shares(figures.get((name, "today")))
    sl_15m, _ = _shares(figures.get((name, "15m")))
    agents: Mapping[str, int] = view["agents"]
    return QueueRow(
        name=name,
        title=title,
        waiting=waiting,
        longest_wait_s=int(longest),
        wait_level=wait_level(waiting, longest),
        sl_today=sl_today,
        sl_15m=sl_15m,
        abandoned_today=ab_today,
        agents={str(k): int(v) for k, v in agents.items()},
    )
