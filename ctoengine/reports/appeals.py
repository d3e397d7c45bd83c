"""``ctoengine report --by subtopic`` and ``--by outcome``: the appeals registered in a period
(the pilot's "topics of questions per service"). Pure, like ``figures.py``: rows in, lines out."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

BY = ("subtopic", "outcome")
QUERY = """
SELECT topic, subtopic, outcome FROM call_appeals
WHERE created_at >= $1 AND created_at < $2 AND ($3::text IS NULL OR centre = $3)
"""
COLUMNS = ("appeals", "share", "complaints")


@dataclass(frozen=True, slots=True)
class Appeal:
    topic: str
    subtopic: str
    outcome: str


@dataclass(frozen=True, slots=True)
class Line:
    group: str  # "passport/lost" or "consulted"
    appeals: int
    share: float  # of all appeals of the period
    complaints: int


def lines(appeals: Iterable[Appeal], by: str) -> tuple[list[Line], int]:
    """One line per topic/sub-topic (or outcome), most frequent first; and the total."""
    rows = list(appeals)

    def key(a: Appeal) -> str:
        return f"{a.topic}/{a.subtopic}" if by == "subtopic" else a.outcome

    counts = Counter(key(a) for a in rows)
    complaints = Counter(key(a) for a in rows if a.outcome == "complaint_registered")
    total = len(rows)
    out = [
        Line(k, n, n / total, complaints[k])
        for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return out, total


def table(by: str, found: list[Line], total: int, title: str) -> str:
    header = [by, *COLUMNS]
    rows = [[x.group, str(x.appeals), f"{x.share * 100:.1f}%", str(x.complaints)] for x in found]
    rows.append(["total", str(total), "100.0%" if total else "", str(sum(x.complaints for x in found))])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(r: list[str]) -> str:
        return "  ".join(
            [r[0].ljust(widths[0]), *(v.rjust(w) for v, w in zip(r[1:], widths[1:], strict=True))]
        )

    return "\n".join([title, line(header), *map(line, rows)])


def write_csv(path: Path, by: str, found: list[Line], total: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([by, *COLUMNS])
        for x in found:
            w.writerow([x.group, x.appeals, f"{x.share:.4f}", x.complaints])
        w.writerow(["total", total, "1.0000" if total else "", sum(x.complaints for x in found)])
