"""The survey part of ``ctoengine report``: averages per queue, operator and day."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ctoengine.reports.survey import Score, averages, table

MSK = ZoneInfo("Europe/Moscow")


def test_averages_per_queue_operator_and_day() -> None:
    scores = [
        Score(datetime(2026, 11, 22, 8, 0, tzinfo=UTC), "passport", "op1", 5),
        Score(datetime(2026, 11, 22, 9, 0, tzinfo=UTC), "passport", "op2", 2),
        Score(datetime(2026, 11, 22, 22, 30, tzinfo=UTC), "social", "op1", 4),  # 01:30 next day in Moscow
    ]
    got = averages(scores, MSK)
    assert {k: (a.scored, a.average) for k, a in got["queue"].items()} == {
        "passport": (2, 3.5),
        "social": (1, 4.0),
    }
    assert {k: a.average for k, a in got["agent"].items()} == {"op1": 4.5, "op2": 2.0}
    assert {k: a.scored for k, a in got["day"].items()} == {"2026-11-22": 2, "2026-11-23": 1}
    text = table(got)
    assert text.splitlines()[0].split() == ["by", "key", "scored", "average"]
    assert text.splitlines()[-1].split() == ["total", "3", "3.67"]


def test_no_scores_is_an_empty_total() -> None:
    assert table(averages([], MSK)).splitlines()[-1].split() == ["total", "0"]
