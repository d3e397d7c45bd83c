"""What a drill counts, from the numbers it dialled from and the rows it found.

Every call a drill places has a caller number of its own (a prefix unique to
the drill and the run, then sipp's call number), so a row is matched to the
call that made it by ``caller_number`` alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


def numbers(prefix: str, count: int) -> list[str]:
    """The caller numbers of ``count`` calls of one sipp process: ``prefix`` + 1..count."""
    return [f"{prefix}{i}" for i in range(1, count + 1)]


@dataclass
class Tally:
    """Calls offered, rows written, lost (placed, no row) and doubled (placed, more than one row)."""

    offered: int = 0
    rows: int = 0
    lost: int = 0
    doubled: int = 0
    lost_numbers: list[str] = field(default_factory=list)
    doubled_numbers: list[str] = field(default_factory=list)
    strays: int = 0  # rows whose number no placed call had (not counted in ``rows``)

    @classmethod
    def of(cls, placed: Iterable[str], row_numbers: Iterable[str | None]) -> Tally:
        placed = list(placed)
        seen = Counter(n for n in row_numbers if n is not None)
        want = set(placed)
        lost = [n for n in placed if seen[n] == 0]
        doubled = [n for n in placed if seen[n] > 1]
        return cls(
            offered=len(placed),
            rows=sum(seen[n] for n in want),
            lost=len(lost),
            doubled=len(doubled),
            lost_numbers=lost,
            doubled_numbers=doubled,
            strays=sum(c for n, c in seen.items() if n not in want),
        )

    def __add__(self, other: Tally) -> Tally:
        return Tally(
            self.offered + other.offered,
            self.rows + other.rows,
            self.lost + other.lost,
            self.doubled + other.doubled,
            self.lost_numbers + other.lost_numbers,
            self.doubled_numbers + other.doubled_numbers,
            self.strays + other.strays,
        )

    @property
    def clean(self) -> bool:
        return self.lost == 0 and self.doubled == 0


@dataclass
class Result:
    """One drill's outcome: PASS, FAIL or SKIP, and why."""

    name: str
    tally: Tally = field(default_factory=Tally)
    status: str = "PASS"
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def fail(self, why: str) -> None:
        self.status = "FAIL"
        self.problems.append(why)

    def check(self, ok: bool, why: str) -> bool:
        """Fail with ``why`` unless ``ok``; returns ``ok``."""
        if not ok:
            self.fail(why)
        return ok

    def skip(self, why: str) -> None:
        self.status = "SKIP"
        self.problems.append(why)

    def settle(self) -> None:
        """Lost or doubled rows fail a drill whatever else it found."""
        t = self.tally
        if t.lost:
            self.fail(f"{t.lost} call(s) without a row: {', '.join(t.lost_numbers[:5])}")
        if t.doubled:
            self.fail(f"{t.doubled} call(s) with more than one row: {', '.join(t.doubled_numbers[:5])}")

    @property
    def passed(self) -> bool:
        return self.status != "FAIL"

    @property
    def why(self) -> str:
        return "; ".join(self.problems) if self.problems else "; ".join(self.notes)

    def line(self) -> str:
        t = self.tally
        why = f" ({self.why})" if self.why else ""
        return (
            f"drill {self.name}: offered {t.offered}, rows {t.rows}, lost {t.lost}, "
            f"doubled {t.doubled}, {self.status}{why}"
        )

    def as_json(self) -> dict[str, Any]:
        t = self.tally
        return {
            "name": self.name,
            "status": self.status,
            "passed": self.passed,
            "offered": t.offered,
            "rows": t.rows,
            "lost": t.lost,
            "doubled": t.doubled,
            "lost_numbers": t.lost_numbers[:50],
            "doubled_numbers": t.doubled_numbers[:50],
            "stray_rows": t.strays,
            "why": self.why,
            "problems": self.problems,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
            "details": self.details,
        }


def table(results: Iterable[Result]) -> str:
    """The final table: one line per drill."""
    head = f"{'drill':<18} {'offered':>7} {'rows':>6} {'lost':>5} {'doubled':>7} {'secs':>6}  result"
    lines = [head, "-" * len(head)]
    for r in results:
        t = r.tally
        counts = f"{t.offered:>7} {t.rows:>6} {t.lost:>5} {t.doubled:>7}"
        lines.append(f"{r.name:<18} {counts} {r.seconds:>6.0f}  {r.status}")
    return "\n".join(lines)
