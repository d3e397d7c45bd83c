"""The callbacks part of ``ctoengine report``: per day and topic, the requests made and
those called back within their due time (``done_at <= due_by``). Pure, like ``figures.py``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, tzinfo

QUERY = """
SELECT requested_at, topic, status, done_at, due_by FROM callbacks
WHERE requested_at >= $1 AND requested_at < $2 AND ($3::text IS NULL OR centre = $3)
"""


@dataclass(frozen=True, slots=True)
class Request:
    requested_at: datetime
    topic: str
    status: str
    done_at: datetime | None
    due_by: datetime


@dataclass(slots=True)
class Line:
    requested: int = 0
    done_in_time: int = 0

    @property
    def share(self) -> float | None:
        return self.done_in_time / self.requested if self.requested else None


def lines(requests: Iterable[Request], tz: tzinfo) -> dict[tuple[str, str], Line]:
    """(day in ``tz``, topic) -> counts, sorted; the day of the request, not of the callback."""
    out: dict[tuple[str, str], Line] = {}
    for r in requests:
        line = out.setdefault((r.requested_at.astimezone(tz).strftime("%Y-%m-%d"), r.topic), Line())
        line.requested += 1
        if r.status == "done" and r.done_at is not None and r.done_at <= r.due_by:
            line.done_in_time += 1
    return dict(sorted(out.items()))


def table(by_day: dict[tuple[str, str], Line]) -> str:
    header = ["day", "topic", "requested", "done_within_due", "share"]
    rows = [
        [
            day,
            topic,
            str(n.requested),
            str(n.done_in_time),
            "" if n.share is None else f"{n.share * 100:.1f}%",
        ]
        for (day, topic), n in by_day.items()
    ]
    total = Line(sum(n.requested for n in by_day.values()), sum(n.done_in_time for n in by_day.values()))
    share = "" if total.share is None else f"{total.share * 100:.1f}%"
    rows.append(["total", "", str(total.requested), str(total.done_in_time), share])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:  # text columns left, counts right
        cells = [v.ljust(w) if i < 2 else v.rjust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True))]
        return "  ".join(cells)

    return "\n".join(line(r) for r in [header, *rows])
