"""The post-call survey part of ``ctoengine report`` (issue 18): the average score per
queue, per operator and per day, with how many callers scored. Pure, like ``figures.py``.

Only calls with a score count: no key or a hang-up leaves ``survey_score`` empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

QUERY = """
SELECT started_at, queue, agent_id, survey_score FROM calls
WHERE started_at >= $1 AND started_at < $2 AND ($3::text IS NULL OR centre = $3)
  AND survey_score IS NOT NULL
"""


@dataclass(frozen=True, slots=True)
class Score:
    started_at: datetime
    queue: str | None
    agent_id: str | None
    survey_score: int


@dataclass(slots=True)
class Average:
    scored: int = 0
    total: int = 0

    def add(self, score: int) -> None:
        self.scored += 1
        self.total += score

    @property
    def average(self) -> float | None:
        return self.total / self.scored if self.scored else None


def averages(scores: Iterable[Score], tz: tzinfo) -> dict[str, dict[str, Average]]:
    """``{"queue": {...}, "agent": {...}, "day": {...}}``, each sorted by its key."""
    out: dict[str, dict[str, Average]] = {"queue": {}, "agent": {}, "day": {}}
    for s in scores:
        keys = {
            "queue": s.queue or "-",
            "agent": s.agent_id or "-",
            "day": s.started_at.astimezone(tz).strftime("%Y-%m-%d"),
        }
        for by, key in keys.items():
            out[by].setdefault(key, Average()).add(s.survey_score)
    return {by: dict(sorted(groups.items())) for by, groups in out.items()}


def table(groups: dict[str, dict[str, Average]]) -> str:
    """One block: ``by  key  scored  average`` lines, then the total."""
    header = ["by", "key", "scored", "average"]
    rows: list[list[str]] = []
    total = Average()
    for by, lines in groups.items():
        for key, a in lines.items():
            rows.append([by, key, str(a.scored), "" if a.average is None else f"{a.average:.2f}"])
    for a in groups.get("day", {}).values():
        total.scored += a.scored
        total.total += a.total
    rows.append(["total", "", str(total.scored), "" if total.average is None else f"{total.average:.2f}"])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        cells = [v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))]
        return "  ".join(cells)

    return "\n".join(line(r) for r in [header, *rows])
