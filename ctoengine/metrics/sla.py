"""Service level and abandoned share over a rolling 15 minutes and since local
midnight, kept as running counts (no per-scrape work that grows with calls).

Same definitions as ``sla_intervals`` (docs/sla.md): answered within 20 s over
offered less short abandons (under 5 s) and overflows; abandoned share is the
long abandons over the same base. "all" is the whole centre."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields
from datetime import date, datetime, tzinfo

TARGET_WAIT_S = 20.0
SHORT_ABANDON_S = 5.0
WINDOW_S = 15 * 60.0
ALL = "all"


# A call record's disposition as a queue outcome; anything else (a callback
# registered, a goodbye at max wait) left the queue without an operator: "exit".
_OUTCOMES = {"answered": "answer", "abandoned": "abandon", "overflowed": "overflow"}


def outcome_of(disposition: str) -> str:
    return _OUTCOMES.get(disposition, "exit")


@dataclass
class Counts:
    """The counts every service-level figure of the engine is made of: the live
    gauges, ``ctoengine report``, the benchmark and the overflow simulation."""

    offered: int = 0
    answered: int = 0
    within_target: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    overflowed: int = 0

    def record(self, outcome: str, wait_s: float) -> None:
        """One queued call. ``outcome``: answer, abandon, overflow or exit."""
        self.offered += 1
        if outcome == "answer":
            self.answered += 1
            self.within_target += wait_s <= TARGET_WAIT_S
        elif outcome == "abandon":
            self.abandoned += 1
            self.short_abandoned += wait_s < SHORT_ABANDON_S
        elif outcome == "overflow":
            self.overflowed += 1

    def add(self, other: Counts, sign: int = 1) -> None:
        for f in fields(Counts):
            setattr(self, f.name, getattr(self, f.name) + sign * getattr(other, f.name))

    @property
    def _base(self) -> int:
        return self.offered - self.short_abandoned - self.overflowed

    @property
    def service_level(self) -> float | None:
        return self.within_target / self._base if self._base > 0 else None

    @property
    def abandoned_share(self) -> float | None:
        return (self.abandoned - self.short_abandoned) / self._base if self._base > 0 else None


def counts_of(outcome: str, wait_s: float) -> Counts:
    c = Counts()
    c.record(outcome, wait_s)
    return c


class RollingSla:
    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._recent: deque[tuple[datetime, str, Counts]] = deque()
        self._window: dict[str, Counts] = {}
        self._today: dict[str, Counts] = {}
        self._day: date | None = None

    def observe(self, queue: str, outcome: str, wait_s: float, at: datetime) -> None:
        c = counts_of(outcome, wait_s)
        self._roll(at)
        self._recent.append((at, queue, c))
        for key in (queue, ALL):
            self._window.setdefault(key, Counts()).add(c)
            self._today.setdefault(key, Counts()).add(c)

    def _roll(self, now: datetime) -> None:
        day = now.astimezone(self.tz).date()
        if day != self._day:
            self._day = day
            self._today = {k: Counts() for k in self._today}  # keep the labels: 0 calls is a figure
        while self._recent and (now - self._recent[0][0]).total_seconds() > WINDOW_S:
            _, queue, c = self._recent.popleft()
            for key in (queue, ALL):
                self._window[key].add(c, -1)

    def figures(self, now: datetime) -> dict[tuple[str, str], Counts]:
        """(queue or "all", "15m" | "today") -> counts."""
        self._roll(now)
        out = {(k, "15m"): c for k, c in self._window.items()}
        out.update({(k, "today"): c for k, c in self._today.items()})
        return out
