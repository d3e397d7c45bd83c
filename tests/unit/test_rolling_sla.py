from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ctoengine.metrics.sla import RollingSla

MSK = ZoneInfo("Europe/Moscow")


def test_window_and_today() -> None:
    sla = RollingSla(MSK)
    t0 = datetime(2026, 11, 22, 23, 40, tzinfo=MSK)
    sla.observe("passport", "answer", 10, t0)  # within
    sla.observe("passport", "answer", 30, t0)  # late
    sla.observe("passport", "abandon", 3, t0)  # short: counted apart
    sla.observe("egrul", "abandon", 40, t0 + timedelta(minutes=1))  # lost
    sla.observe("egrul", "overflow", 25, t0 + timedelta(minutes=1))  # the peer's
    f = sla.figures(t0 + timedelta(minutes=2))
    assert f["passport", "15m"].service_level == pytest.approx(1 / 2)
    assert f["egrul", "15m"].abandoned_share == pytest.approx(1.0)
    assert f["all", "15m"].service_level == pytest.approx(1 / 3)
    assert f["all", "today"].offered == 5
    # 15.5 minutes on: the passport calls left the window; past midnight "today" starts again.
    f = sla.figures(t0 + timedelta(minutes=15, seconds=30))
    assert f["passport", "15m"].offered == 0
    assert f["egrul", "15m"].offered == 2
    assert f["all", "today"].offered == 5
    sla.observe("egrul", "answer", 5, t0 + timedelta(minutes=21))
    f = sla.figures(t0 + timedelta(minutes=21))
    assert f["all", "today"].offered == 1
    assert f["all", "today"].service_level == 1.0
    assert f["passport", "today"].service_level is None
