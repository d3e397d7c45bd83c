"""Call-handling figures of a group of call records, with the definitions of
docs/sla.md (the same as the ``sla_intervals`` view): short abandons (< 5 s)
and overflowed calls leave the base of the service level and the lost share.

Pure: call records in, figures out, so they can be checked against a plain
computation and reused by any renderer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import datetime, tzinfo

from ctoengine.metrics.sla import Counts, outcome_of

BY_CHOICES = ("hour", "topic", "queue", "agent")
TOTAL = "total"

# Column order of the CSV and the table; the first column is the group.
COLUMNS = (
    "calls",
    "offered",
    "answered",
    "within_target",
    "abandoned",
    "short_abandoned",
    "overflowed",
    "self_served",
    "callbacks",
    "service_level",
    "lost_share",
    "asa_s",
    "aht_s",
)


@dataclass(frozen=True, slots=True)
class Call:
    started_at: datetime
    queued_at: datetime | None
    topic: str | None
    queue: str | None
    disposition: str
    agent_id: str | None
    wait_s: float | None
    talk_s: float | None
    wrap_s: float | None


@dataclass(slots=True)
class Figures:
    """A group's figures: the SLA counts of its queued calls, and what the
    counts do not hold (all calls, self-service, callbacks, ASA and AHT)."""

    sla: Counts = field(default_factory=Counts)
    calls: int = 0
    self_served: int = 0
    callbacks: int = 0
    _wait_answered: float = 0.0
    _handle_answered: float = 0.0

    def add(self, c: Call) -> None:
        self.calls += 1
        if c.disposition == "self_served":
            self.self_served += 1
        elif c.disposition == "callback_requested":
            self.callbacks += 1
        if c.queued_at is None:
            return
        self.sla.record(outcome_of(c.disposition), c.wait_s or 0.0)
        if c.disposition == "answered":
            self._wait_answered += c.wait_s or 0.0
            self._handle_answered += (c.talk_s or 0.0) + (c.wrap_s or 0.0)

    @property
    def lost_share(self) -> float | None:
        return self.sla.abandoned_share

    @property
    def asa_s(self) -> float | None:
        return self._wait_answered / self.sla.answered if self.sla.answered else None

    @property
    def aht_s(self) -> float | None:
        return self._handle_answered / self.sla.answered if self.sla.answered else None

    def value(self, column: str) -> int | float | None:
        v: int | float | None = getattr(self.sla if column in _SLA_COLUMNS else self, column)
        return v


_SLA_COLUMNS = frozenset(f.name for f in fields(Counts)) | {"service_level"}


def group_key(by: str, tz: tzinfo) -> Callable[[Call], str | None]:
    """Which line a call belongs to; None leaves it out of the lines (not the total)."""
    if by == "hour":
        return lambda c: c.started_at.astimezone(tz).strftime("%Y-%m-%d %H:00")
    if by == "topic":
        return lambda c: c.topic or "-"  # "-": closed or failed before a topic was chosen
    if by == "queue":
        return lambda c: c.queue or (c.topic if c.queued_at is not None else None)
    if by == "agent":
        return lambda c: c.agent_id
    raise ValueError(by)


def summarise(calls: Iterable[Call], by: str, tz: tzinfo) -> tuple[dict[str, Figures], Figures]:
    """Figures per group, sorted by group, and over all calls."""
    key = group_key(by, tz)
    groups: dict[str, Figures] = {}
    total = Figures()
    for c in calls:
        total.add(c)
        k = key(c)
        if k is not None:
            groups.setdefault(k, Figures()).add(c)
    return dict(sorted(groups.items())), total
