"""What a new call hears first and which flow it runs: a pure function of the
routing file, the dialled number and the wall time (injected, never read here).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ctoengine.config.routing import WEEKDAYS, Announcement, RoutingConfig, Schedule


@dataclass(frozen=True)
class IntroPrompt:
    name: str  # prompt name, for the IVR path
    skippable: bool


@dataclass(frozen=True)
class EntryPlan:
    flow: str
    mode: str  # "day" | "night" | "emergency"
    intro: tuple[IntroPrompt, ...]  # played in order before the menu
    menu: str | None  # None: goodbye (or nothing) and hang up
    goodbye: str | None


def is_open(cfg: RoutingConfig, wall: datetime) -> bool:
    """Whether ``wall`` (aware) falls in working hours of the centre's time zone."""
    return schedule_open(cfg.schedule, ZoneInfo(cfg.centre.timezone), wall)


def schedule_open(sched: Schedule, tz: ZoneInfo, wall: datetime) -> bool:
    """Whether ``wall`` (aware) falls in the hours of ``sched`` (the centre's, or the callbacks')."""
    if sched.always_open:
        return True
    local = wall.astimezone(tz)
    if local.date() in sched.holidays:
        return False
    t = local.time()
    for start, end in sched.ranges(WEEKDAYS[local.weekday()]):
        if start <= t and (end is None or t < end):
            return True
    return False


def _active(a: Announcement, did: str, wall: datetime, tz: ZoneInfo) -> bool:
    def aware(d: datetime) -> datetime:
        return d if d.tzinfo is not None else d.replace(tzinfo=tz)

    if a.numbers and did not in a.numbers:
        return False
    if a.valid_from is not None and wall < aware(a.valid_from):
        return False
    return not (a.valid_to is not None and wall >= aware(a.valid_to))


def active_announcements(cfg: RoutingConfig, did: str, wall: datetime) -> list[Announcement]:
    tz = ZoneInfo(cfg.centre.timezone)
    found = [a for a in cfg.announcements if _active(a, did, wall, tz)]
    return sorted(found, key=lambda a: -a.priority)


def entry_plan(
    cfg: RoutingConfig, did: str, wall: datetime, heard: frozenset[str] = frozenset()
) -> EntryPlan:
    """``heard``: ids of "once" announcements this caller has already heard."""
    flow_name = cfg.flow_for(did) or (cfg.numbers[0].flow if cfg.numbers else next(iter(cfg.flows)))
    mode = "day"
    intro: list[IntroPrompt] = []
    if cfg.emergency.enabled:
        mode = "emergency"
        intro.append(IntroPrompt(cfg.emergency.prompt, skippable=False))
        if cfg.emergency.flow:
            flow_name = cfg.emergency.flow
    if mode != "emergency" or not cfg.emergency.flow:
        night = cfg.schedule.night
        if night is not None and not is_open(cfg, wall):
            mode = "night" if mode == "day" else mode
            flow_name = night.flow
    flow = cfg.flows[flow_name]
    intro.append(IntroPrompt(flow.greeting, skippable=True))
    intro += [
        IntroPrompt(a.prompt, a.skippable)
        for a in active_announcements(cfg, did, wall)
        if not (a.mode == "once" and a.id in heard)
    ]
    return EntryPlan(flow_name, mode, tuple(intro), flow.menu, flow.goodbye)
