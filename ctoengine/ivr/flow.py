"""The IVR of one call as a pure state machine.

It takes events (DTMF, playback finished, timer fired, hang-up, lookup result)
and ``now``, and returns commands (play, stop, timers, enqueue, lookup, hang
up). No I/O, no clock: unit tests drive it with a fixed clock in milliseconds.

Keys typed during a prompt stop it (barge-in, if the prompt is skippable) and
are kept (type-ahead): ``4123456#`` typed over the greeting runs self-service
to the end without waiting for any prompt.
"""

from __future__ import annotations

from collections import deque
from enum import Enum

from ctoengine.calls import protocol as p
from ctoengine.config.plan import EntryPlan
from ctoengine.config.routing import Action, ApplicationStatus, Menu, RoutingConfig

LOOKUP_TIMER = "ivr.lookup"
INPUT_TIMER = "ivr.input"
LOOKUP_LIMIT_S = 10.0  # the shell's provider has its own, shorter timeout; this is a backstop
# Self-service look-ups one call may make: more would let a caller enumerate
# application numbers. The next attempt hears "try later" and goodbye.
MAX_LOOKUPS = 3


class Phase(Enum):
    INTRO = "intro"
    MENU = "menu"  # menu prompt playing or waiting for a key
    NOTICE = "notice"  # a prompt after which the menu comes back (invalid, play, unknown)
    COLLECT = "collect"  # self-service: collecting the application number
    LOOKUP = "lookup"
    SPEAK = "speak"  # status and goodbye, then hang up
    DONE = "done"


class IvrMachine:
    def __init__(self, plan: EntryPlan, config: RoutingConfig, call_id: str) -> None:
        self.plan = plan
        self.cfg = config
        self.call_id = call_id
        self.phase = Phase.INTRO
        self.path: list[str] = []
        self.topic: str | None = None
        self.disposition: str | None = None
        self._keys: deque[str] = deque()
        self._pb_seq = 0
        self._playing: str | None = None
        self._skippable = True
        self._intro = list(plan.intro)
        self._menu_name: str | None = plan.menu
        self._attempts = 0
        self._number = ""
        self._collect_tries = 0
        self.lookups = 0  # look-ups asked of the provider during this call
        self.lookup_refused = False  # a look-up beyond MAX_LOOKUPS was refused (the shell counts it)

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    # --- helpers ------------------------------------------------------------
    def _play(self, media: list[str], skippable: bool = True) -> list[p.Command]:
        self._pb_seq += 1
        pb = f"{self.call_id}-pb{self._pb_seq}"
        self._playing = pb
        self._skippable = skippable
        return [p.Play(pb, tuple(media))]

    def _stop(self) -> list[p.Command]:
        pb, self._playing = self._playing, None
        return [p.StopPlayback(pb)] if pb else []

    def _prompt(self, name: str) -> str:
        return self.cfg.media(name)

    @property
    def _menu(self) -> Menu:
        assert self._menu_name is not None
        return self.cfg.menus[self._menu_name]

    def _finish(self, disposition: str | None) -> list[p.Command]:
        self.phase = Phase.DONE
        self.disposition = disposition
        self._keys.clear()
        return [p.CancelTimer(INPUT_TIMER), p.CancelTimer(LOOKUP_TIMER)]

    # --- entry ----------------------------------------------------------------
    def start(self, now: float) -> list[p.Command]:
        if self.plan.mode != "day":
            self.path.append(self.plan.mode)
        return self._next_intro(now)

    def _next_intro(self, now: float) -> list[p.Command]:
        while self._intro:
            item = self._intro.pop(0)
            if self._keys and item.skippable:
                continue  # the caller already chose: skippable intro prompts are skipped
            return self._play([self._prompt(item.name)], item.skippable)
        if self._menu_name is None:
            # A flow without a menu (e.g. closed at night): goodbye, then hang up.
            self.phase = Phase.SPEAK
            self.disposition = "closed"
            if self.plan.goodbye:
                return self._play([self._prompt(self.plan.goodbye)], skippable=False)
            return [*self._finish("closed"), p.Hangup()]
        return self._enter_menu(now)

    def _enter_menu(self, now: float) -> list[p.Command]:
        self.phase = Phase.MENU
        if self._keys:
            return self._menu_key(self._keys.popleft(), now)
        return self._play([self._prompt(self._menu.prompt)])

    # --- events ---------------------------------------------------------------
    def handle(self, event: p.Event, now: float) -> list[p.Command]:
        if self.phase is Phase.DONE:
            return []
        if isinstance(event, p.CallerHungUp):
            if self.phase is Phase.SPEAK and self.disposition is not None:
                return self._finish(self.disposition)  # heard (part of) the status: served
            self.path.append("hangup")
            return self._finish("abandoned")
        if isinstance(event, p.Dtmf):
            return self._dtmf(event.digit, now)
        if isinstance(event, p.PlaybackFinished):
            if event.playback_id != self._playing:
                return []  # a stopped or superseded playback
            self._playing = None
            return self._played(now)
        if isinstance(event, p.TimerFired):
            return self._timer(event.name, now)
        if isinstance(event, p.LookupResult):
            return self._lookup_result(event)
        return []

    def _dtmf(self, digit: str, now: float) -> list[p.Command]:
        out: list[p.Command] = []
        if self._playing is not None and self._skippable and self.phase is not Phase.SPEAK:
            out += self._stop()  # barge-in
        if self.phase is Phase.COLLECT:
            return out + self._collect_key(digit, now)
        if self.phase is Phase.MENU and self._playing is None:
            return [*out, p.CancelTimer(INPUT_TIMER), *self._menu_key(digit, now)]
        if self.phase in (Phase.INTRO, Phase.NOTICE, Phase.MENU):
            self._keys.append(digit)  # type-ahead: used when the menu is reached
            if self._playing is None:
                # The prompt was cut: move on now rather than wait for its end.
                return out + self._played(now)
        return out

    def _played(self, now: float) -> list[p.Command]:
        if self.phase is Phase.INTRO:
            return self._next_intro(now)
        if self.phase is Phase.MENU:
            if self._keys:
                return self._menu_key(self._keys.popleft(), now)
            return [p.StartTimer(INPUT_TIMER, now + self._menu.timeout_s)]
        if self.phase is Phase.NOTICE:
            return self._enter_menu(now)
        if self.phase is Phase.COLLECT:
            if self._keys:
                keys = list(self._keys)
                self._keys.clear()
                out: list[p.Command] = []
                for k in keys:
                    out += self._collect_key(k, now)
                    if self.phase is not Phase.COLLECT:
                        return out
                return out
            return [p.StartTimer(INPUT_TIMER, now + self._ss.timeout_s)]
        if self.phase is Phase.SPEAK:
            return [*self._finish(self.disposition), p.Hangup()]
        return []

    def _timer(self, name: str, now: float) -> list[p.Command]:
        if name == INPUT_TIMER and self.phase is Phase.MENU:
            self.path.append(f"{self._menu_name}:timeout")
            return self._retry(now, None)
        if name == INPUT_TIMER and self.phase is Phase.COLLECT:
            self.path.append("self_service:timeout")
            self._collect_tries += 1
            if self._number or self._collect_tries < 2:
                self._number = ""
                return self._play([self._prompt(self._ss.ask_prompt)])
            # No number twice: back to the menu the caller came from.
            self._menu_name = self._menu_name or self.plan.menu
            return self._enter_menu(now)
        if name == LOOKUP_TIMER and self.phase is Phase.LOOKUP:
            return self._lookup_result(p.LookupResult(self._number, None, failed=True))
        return []

    # --- menus ----------------------------------------------------------------
    def _menu_key(self, digit: str, now: float) -> list[p.Command]:
        menu = self._menu
        action = menu.options.get(digit)
        if action is None:
            self.path.append(f"{self._menu_name}:invalid:{digit}")
            return self._retry(now, menu.invalid_prompt)
        self.path.append(f"{self._menu_name}:{digit}")
        return self._act(action, now)

    def _retry(self, now: float, notice: str | None) -> list[p.Command]:
        self._attempts += 1
        menu = self._menu
        if self._attempts > menu.retries:
            self.path.append(f"{self._menu_name}:exhausted")
            return self._act(menu.on_exhausted, now)
        self._keys.clear()
        if notice:
            self.phase = Phase.NOTICE
            return self._play([self._prompt(notice)])
        return self._enter_menu(now)

    def _act(self, action: Action, now: float) -> list[p.Command]:
        kind, target = action.kind, action.target
        if kind == "queue":
            self.topic = self.cfg.queues[target].topic if target in self.cfg.queues else target
            return [*self._finish(None), p.Enqueue(self.topic)]
        if kind == "menu":
            self._menu_name = target
            self._attempts = 0
            return self._enter_menu(now)
        if kind == "play":
            self.phase = Phase.NOTICE
            return self._play([self._prompt(target)])
        if kind == "hangup":
            self.phase = Phase.SPEAK
            # At night the goodbye is the closed centre's answer, not a served question.
            self.disposition = "closed" if self.plan.mode == "night" else "self_served"
            return self._play([self._prompt(target)], skippable=False)
        if kind == "transfer":
            return [*self._finish(None), p.TransferExternal(target)]
        return self._start_self_service(now)

    # --- self-service: application status -----------------------------------
    @property
    def _ss(self) -> ApplicationStatus:
        ss = self.cfg.self_service.application_status
        assert ss is not None
        return ss

    def _start_self_service(self, now: float) -> list[p.Command]:
        if self.lookups >= MAX_LOOKUPS:
            return self._refuse_lookup()
        self.phase = Phase.COLLECT
        self._number = ""
        self._collect_tries = 0
        if self._keys:
            # Keys typed ahead are the number: no need to ask.
            return self._played(now)
        return self._play([self._prompt(self._ss.ask_prompt)])

    def _collect_key(self, digit: str, now: float) -> list[p.Command]:
        out: list[p.Command] = [p.CancelTimer(INPUT_TIMER)]
        if self._playing is not None:
            out += self._stop()
        if digit == "#" or (digit.isdigit() and len(self._number) + 1 >= self._ss.max_digits):
            if digit.isdigit():
                self._number += digit
            if not self._number:
                return [*out, *self._play([self._prompt(self._ss.ask_prompt)])]
            if self.lookups >= MAX_LOOKUPS:
                return [*out, *self._refuse_lookup()]
            self.lookups += 1
            self.path.append(f"self_service:{self._number}")
            self.phase = Phase.LOOKUP
            return [*out, p.LookupApplication(self._number), p.StartTimer(LOOKUP_TIMER, now + LOOKUP_LIMIT_S)]
        if digit.isdigit():
            self._number += digit
        elif digit == "*":
            self._number = ""  # start over
        return [*out, p.StartTimer(INPUT_TIMER, now + self._ss.timeout_s)]

    def _refuse_lookup(self) -> list[p.Command]:
        """One look-up too many in this call: "try later", goodbye, hang up (no enumeration)."""
        ss = self._ss
        self.lookup_refused = True
        self.path.append("self_service:limit")
        self.phase = Phase.SPEAK
        self.disposition = "self_served"
        self._keys.clear()
        return [
            p.CancelTimer(INPUT_TIMER),
            *self._play([self._prompt(ss.failed_prompt), self._prompt(ss.goodbye_prompt)], False),
        ]

    def _lookup_result(self, result: p.LookupResult) -> list[p.Command]:
        if self.phase is not Phase.LOOKUP:
            return []
        ss = self._ss
        out: list[p.Command] = [p.CancelTimer(LOOKUP_TIMER)]
        if result.failed:
            self.path.append("self_service:failed")
            self.phase = Phase.SPEAK
            self.disposition = "self_served"
            return out + self._play([self._prompt(ss.failed_prompt), self._prompt(ss.goodbye_prompt)], False)
        if result.status is None or result.status not in ss.status_prompts:
            self.path.append("self_service:unknown")
            self.phase = Phase.NOTICE
            return out + self._play([self._prompt(ss.unknown_prompt)])
        self.path.append(f"self_service:status:{result.status}")
        self.phase = Phase.SPEAK
        self.disposition = "self_served"
        media = [self._prompt(ss.status_prompts[result.status])]
        if result.ready_date:
            _, m, d = result.ready_date.split("-")
            media += [f"number:{int(d)}", f"number:{int(m)}"]
        media.append(self._prompt(ss.goodbye_prompt))
        return out + self._play(media, skippable=False)
