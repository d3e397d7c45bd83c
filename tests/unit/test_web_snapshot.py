"""The wallboard's figures from the real distributor and RollingSla with a fixed clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ctoengine.config import RoutingConfig
from ctoengine.metrics.sla import RollingSla
from ctoengine.queues import distributor as q
from ctoengine.queues.service import build_distributor
from ctoengine.web import labels
from ctoengine.web.snapshot import abandon_level, sl_level, snapshot, wait_level

WALL = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TITLES = {"passport": "Паспорт", "social": "Соцпомощь"}


def _board(dist: q.Distributor, sla: RollingSla, now: float) -> dict[str, object]:
    return {"board": snapshot(dist, sla, now, WALL + timedelta(seconds=now), TITLES)}


def test_waiting_longest_wait_and_operators_by_state(demo: RoutingConfig) -> None:
    dist = build_distributor(demo)
    sla = RollingSla(ZoneInfo("Europe/Moscow"))
    dist.handle(q.CallerQueued("c1", "social", 0.0), 0.0)
    dist.handle(q.CallerQueued("c2", "social", 7.0), 7.0)
    dist.handle(q.AgentPause("op9", "lunch"), 8.0)
    board = snapshot(dist, sla, 31.4, WALL, TITLES)
    social = next(r for r in board.queues if r.name == "social")
    assert (social.title, social.waiting, social.longest_wait_s) == ("Соцпомощь", 2, 31)
    assert social.wait_level == "warn"  # over 20 s, under 40 s
    assert social.agents["paused"] == 1
    assert social.agents["available"] == 0
    assert board.total.waiting == 2
    assert board.total.longest_wait_s == 31
    assert board.total.agents["paused"] == 1
    assert board.logged_out == len(dist.agents) - 1
    (op9,) = board.agents  # only operators not logged out are listed
    assert (op9.id, op9.state, op9.reason, op9.in_state_s) == ("op9", "paused", "lunch", 23)
    assert op9.call_topic is None
    assert op9.talk_s is None


def test_the_talk_shows_its_topic_and_time(demo: RoutingConfig) -> None:
    dist = build_distributor(demo)
    sla = RollingSla(ZoneInfo("Europe/Moscow"))
    dist.handle(q.AgentLogin("op8"), 0.0)
    dist.handle(q.CallerQueued("c1", "social", 10.0), 10.0)  # rung at once
    ringing = snapshot(dist, sla, 11.0, WALL, TITLES)
    (op8,) = ringing.agents
    assert (op8.state, op8.call_topic, op8.talk_s) == ("reserved", "Соцпомощь", None)
    dist.handle(q.RingAnswered("c1", "op8"), 12.0)
    talking = snapshot(dist, sla, 75.0, WALL, TITLES)
    (op8,) = talking.agents
    assert (op8.state, op8.call_topic, op8.talk_s, op8.in_state_s) == ("on_call", "Соцпомощь", 63, 63)
    assert next(r for r in talking.queues if r.name == "social").waiting == 0
    dist.handle(q.AgentPause("op8", "break"), 80.0)  # asked during the call: after the wrap-up
    (op8,) = snapshot(dist, sla, 81.0, WALL, TITLES).agents
    assert (op8.pending, op8.pending_reason) == ("paused", "break")


def test_shares_are_rolling_sla_counts(demo: RoutingConfig) -> None:
    dist = build_distributor(demo)
    sla = RollingSla(ZoneInfo("Europe/Moscow"))
    for wait in (5, 10, 15, 19, 30):  # four of five within 20 s
        sla.observe("passport", "answer", wait, WALL - timedelta(hours=1))
    sla.observe("passport", "answer", 3, WALL - timedelta(minutes=5))
    sla.observe("passport", "abandon", 2, WALL - timedelta(minutes=5))  # short: not in the base
    sla.observe("passport", "abandon", 40, WALL - timedelta(minutes=4))
    board = snapshot(dist, sla, 0.0, WALL, TITLES)
    passport = next(r for r in board.queues if r.name == "passport")
    figures = sla.figures(WALL)
    today, last15 = figures["passport", "today"], figures["passport", "15m"]
    assert passport.sl_today.value == today.service_level == pytest.approx(5 / 7)
    assert (passport.sl_today.count, passport.sl_today.offered) == (5, 8)
    assert passport.sl_today.level == "warn"
    assert passport.sl_15m.value == last15.service_level == pytest.approx(1 / 2)
    assert passport.sl_15m.level == "bad"
    assert passport.abandoned_today.value == today.abandoned_share == pytest.approx(1 / 7)
    assert passport.abandoned_today.count == 1
    assert passport.abandoned_today.level == "bad"
    assert board.total.sl_today.value == figures["all", "today"].service_level
    social = next(r for r in board.queues if r.name == "social")
    assert social.sl_today.value is None
    assert social.sl_today.level == "none"


@pytest.mark.parametrize(
    ("value", "sl", "lost"),
    [
        (None, "none", "none"),
        (0.0, "bad", "ok"),
        (0.05, "bad", "ok"),
        (0.06, "bad", "warn"),
        (0.11, "bad", "bad"),
        (0.7, "warn", "bad"),
        (0.8, "ok", "bad"),
        (1.0, "ok", "bad"),
    ],
)
def test_thresholds(value: float | None, sl: str, lost: str) -> None:
    assert sl_level(value) == sl
    assert abandon_level(value) == lost


def test_wait_levels() -> None:
    assert wait_level(0, 0) == "none"
    assert wait_level(1, 20) == "ok"
    assert wait_level(1, 21) == "warn"
    assert wait_level(3, 41) == "bad"


def test_russian_labels() -> None:
    assert labels.duration(None) == "—"
    assert labels.duration(65) == "1:05"
    assert labels.duration(3725) == "1:02:05"
    assert labels.percent(None) == "—"
    assert labels.percent(0.8) == "80\u202f%"
    assert labels.state("wrap_up") == "Обработка"
    assert labels.reason("lunch") == "обед"
    assert labels.reason("custom_reason") == "custom_reason"
    assert labels.reason(None) == ""
