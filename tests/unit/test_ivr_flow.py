"""The IVR machine with a fixed clock: no Asterisk, milliseconds per test."""

from __future__ import annotations

from datetime import UTC, datetime

from ctoengine.calls import protocol as p
from ctoengine.config import RoutingConfig, entry_plan
from ctoengine.ivr.flow import INPUT_TIMER, IvrMachine

DAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, 13:00 in Moscow


class Run:
    """Drives a machine and remembers what it asked for."""

    def __init__(self, cfg: RoutingConfig, wall: datetime = DAY) -> None:
        self.now = 0.0
        self.m = IvrMachine(entry_plan(cfg, "88003336060", wall), cfg, "c1")
        self.cmds: list[p.Command] = list(self.m.start(self.now))

    def send(self, event: p.Event, dt: float = 0.1) -> list[p.Command]:
        self.now += dt
        out = self.m.handle(event, self.now)
        self.cmds += out
        return out

    @property
    def playing(self) -> p.Play:
        plays = [c for c in self.cmds if isinstance(c, p.Play)]
        return plays[-1]

    def finish_playback(self) -> list[p.Command]:
        return self.send(p.PlaybackFinished(self.playing.playback_id), dt=1.0)

    def keys(self, digits: str) -> None:
        for d in digits:
            self.send(p.Dtmf(d))

    def prompt_names(self) -> list[str]:
        return [m.rsplit("/", 1)[-1] for c in self.cmds if isinstance(c, p.Play) for m in c.media]


def test_greeting_announcement_then_menu_then_queue(demo: RoutingConfig) -> None:
    r = Run(demo)
    assert r.prompt_names() == ["greeting"]
    r.finish_playback()
    assert r.prompt_names()[-1] == "announcement_demo"  # the auto-informer, active in 2026
    r.finish_playback()
    assert r.prompt_names()[-1] == "main_menu"
    out = r.send(p.Dtmf("1"))
    assert p.StopPlayback(r.playing.playback_id) in out  # barge-in on the menu
    assert p.Enqueue("passport") in out
    assert r.m.done and r.m.topic == "passport" and r.m.disposition is None
    assert r.m.path == ["main:1"]


def test_every_menu_branch(demo: RoutingConfig) -> None:
    for key, topic in {"1": "passport", "2": "egrul", "3": "social", "0": "general"}.items():
        r = Run(demo)
        r.keys(key)  # typed over the greeting: type-ahead
        assert p.Enqueue(topic) in r.cmds
        assert r.m.path == [f"main:{key}"]


def test_no_input_repeats_the_menu_twice_then_general(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.finish_playback()
    r.finish_playback()
    menus = 0
    for _ in range(3):
        assert r.prompt_names()[-1] == "main_menu"
        menus += 1
        out = r.finish_playback()
        timer = next(c for c in out if isinstance(c, p.StartTimer))
        assert timer == p.StartTimer(INPUT_TIMER, r.now + 5.0)  # the exact deadline
        r.now = timer.at
        r.send(p.TimerFired(INPUT_TIMER), dt=0.0)
    assert menus == 3
    assert p.Enqueue("general") in r.cmds
    assert r.m.path == ["main:timeout"] * 3 + ["main:exhausted"]


def test_invalid_key_says_so_and_repeats(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.finish_playback()
    r.finish_playback()
    r.finish_playback()  # menu played, waiting for a key
    r.send(p.Dtmf("7"))
    assert r.prompt_names()[-1] == "invalid"
    r.finish_playback()
    assert r.prompt_names()[-1] == "main_menu"
    r.send(p.Dtmf("2"))
    assert p.Enqueue("egrul") in r.cmds
    assert r.m.path == ["main:invalid:7", "main:2"]


def test_barge_in_stops_the_greeting_and_skips_skippable_intro(demo: RoutingConfig) -> None:
    r = Run(demo)
    greeting = r.playing.playback_id
    out = r.send(p.Dtmf("3"))
    assert out[0] == p.StopPlayback(greeting)
    assert p.Enqueue("social") in out
    assert "announcement_demo" not in r.prompt_names()


def test_self_service_typed_ahead_known_number(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.keys("4123456#")
    assert p.LookupApplication("123456") in r.cmds
    r.send(p.LookupResult("123456", "ready", "2026-12-01"))
    media = r.playing.media
    assert media[0].endswith("status_ready") and media[-1].endswith("goodbye")
    assert "number:1" in media and "number:12" in media  # ready on 1 December
    r.send(p.Dtmf("9"))  # the status is not skippable
    assert not any(isinstance(c, p.StopPlayback) for c in r.cmds[-1:])
    out = r.finish_playback()
    assert p.Hangup() in out
    assert r.m.disposition == "self_served"
    assert r.m.path == ["main:4", "self_service:123456", "self_service:status:ready"]


def test_self_service_unknown_number_goes_back_to_menu(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.keys("4")
    r.finish_playback()  # "type the number"
    r.keys("999#")
    r.send(p.LookupResult("999", None))
    assert r.prompt_names()[-1] == "application_unknown"
    r.finish_playback()
    assert r.prompt_names()[-1] == "main_menu"
    assert not r.m.done
    assert r.m.path[-1] == "self_service:unknown"


def test_at_most_three_lookups_per_call_then_try_later_and_goodbye(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.finish_playback()  # greeting
    r.finish_playback()  # announcement
    for n in ("111", "222", "333"):
        assert r.prompt_names()[-1] == "main_menu"
        r.keys("4")
        assert r.prompt_names()[-1] == "enter_application_number"
        r.keys(n + "#")
        assert p.LookupApplication(n) in r.cmds
        r.send(p.LookupResult(n, None))
        assert r.prompt_names()[-1] == "application_unknown"
        r.finish_playback()
    assert r.m.lookups == 3 and not r.m.lookup_refused
    before = len([c for c in r.cmds if isinstance(c, p.LookupApplication)])
    r.keys("4444#")  # the fourth attempt, typed ahead: no prompt for a number, no look-up
    assert len([c for c in r.cmds if isinstance(c, p.LookupApplication)]) == before
    assert r.prompt_names()[-2:] == ["lookup_failed", "goodbye"]
    assert r.m.lookup_refused and r.m.disposition == "self_served"
    assert p.Hangup() in r.finish_playback()
    assert r.m.done
    assert r.m.path[-1] == "self_service:limit"
    assert "self_service:4444" not in r.m.path


def test_provider_failure_is_spoken_not_silent(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.keys("41#")
    r.send(p.LookupResult("1", None, failed=True))
    assert r.prompt_names()[-2:] == ["lookup_failed", "goodbye"]
    assert p.Hangup() in r.finish_playback()


def test_hangup_while_status_is_spoken_is_self_served(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.keys("4123456#")
    r.send(p.LookupResult("123456", "in_progress"))
    r.send(p.CallerHungUp())
    assert r.m.done and r.m.disposition == "self_served"


def test_hangup_in_the_menu_is_abandoned(demo: RoutingConfig) -> None:
    r = Run(demo)
    r.send(p.CallerHungUp())
    assert r.m.disposition == "abandoned"
    assert r.send(p.Dtmf("1")) == []  # nothing after the end


def test_stale_playback_events_are_ignored(demo: RoutingConfig) -> None:
    r = Run(demo)
    old = r.playing.playback_id
    r.send(p.Dtmf("5"))  # invalid, typed over the greeting
    assert r.send(p.PlaybackFinished(old)) == []


def test_night_mode_from_the_injected_wall_time(demo: RoutingConfig) -> None:
    cfg = demo.model_copy(update={"schedule": demo.schedule.model_copy(update={"always_open": False})})
    night = datetime(2026, 11, 23, 19, 30, tzinfo=UTC)  # 22:30 in Moscow
    plan = entry_plan(cfg, "88003336060", night)
    assert plan.mode == "night" and plan.flow == "night"
    r = Run(cfg, night)
    assert r.prompt_names()[0] == "night_mode"
    assert r.m.path == ["night"]
    assert entry_plan(cfg, "88003336060", DAY).mode == "day"
    holiday = datetime(2027, 1, 7, 9, 0, tzinfo=UTC)
    assert entry_plan(cfg, "88003336060", holiday).mode == "night"


def test_emergency_goes_first_and_cannot_be_skipped(demo: RoutingConfig) -> None:
    cfg = demo.model_copy(update={"emergency": demo.emergency.model_copy(update={"enabled": True})})
    r = Run(cfg)
    assert r.prompt_names() == ["emergency"]
    out = r.send(p.Dtmf("1"))
    assert not any(isinstance(c, p.StopPlayback) for c in out)
    r.finish_playback()
    assert p.Enqueue("passport") in r.cmds  # the key typed over it still counts
    assert r.m.path == ["emergency", "main:1"]


def test_announcement_window(demo: RoutingConfig) -> None:
    before = datetime(2025, 12, 31, 12, 0, tzinfo=UTC)
    names = [i.name for i in entry_plan(demo, "88003336060", before).intro]
    assert names == ["greeting"]
    names = [i.name for i in entry_plan(demo, "88003336060", DAY).intro]
    assert names == ["greeting", "announcement_demo"]


def test_once_announcement_is_skipped_for_a_caller_who_heard_it(demo: RoutingConfig) -> None:
    (ann,) = demo.announcements
    cfg = demo.model_copy(update={"announcements": [ann.model_copy(update={"mode": "once"})]})
    first = [i.name for i in entry_plan(cfg, "88003336060", DAY).intro]
    again = [i.name for i in entry_plan(cfg, "88003336060", DAY, frozenset({ann.id})).intro]
    assert first == ["greeting", "announcement_demo"]
    assert again == ["greeting"]
    every = [i.name for i in entry_plan(demo, "88003336060", DAY, frozenset({ann.id})).intro]
    assert every == ["greeting", "announcement_demo"]  # mode every_call ignores who heard it
