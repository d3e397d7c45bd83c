"""One supervisor listening to one call, as a pure machine (issue 18, docs/quality.md).

The supervisor's phone is rung; once it answers, the mode decides where it is::

    listen  : supervisor + a snoop on the operator's leg (spy both, whisper none) in a bridge
              of their own: he hears both sides, nobody hears him.
    whisper : the same with the snoop whispering into what the operator hears (whisper out):
              the operator hears him, the caller does not.
    barge   : the supervisor in the call's own bridge: everybody hears everybody.

    DIALING ──Answered──► CONNECTED ──SupervisorGone / CallGone / Failed──► ENDED
       │ ModeAsked: remembered             │ ModeAsked: moved (a new snoop, or into the call's bridge)
       └───────SupervisorGone / CallGone / Failed──────────────────────────► ENDED

A snoop's whisper direction is fixed when it is created, so a switch between
listen and whisper replaces the snoop. Snoops are added to the bridge when they
are up (their StasisStart); one that comes up after it was replaced is hung up.
Ids are chosen here: the supervisor's leg is the session id; none is a prefix of
another live channel's id (Asterisk 22 refuses that, see ``calls/wire.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

Mode = Literal["listen", "whisper", "barge"]
MODES: tuple[Mode, ...] = ("listen", "whisper", "barge")


class Phase(Enum):
    DIALING = "dialing"
    CONNECTED = "connected"
    ENDED = "ended"


# --- events -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Answered:
    """The supervisor's phone answered (its leg entered Stasis)."""


@dataclass(frozen=True, slots=True)
class SnoopUp:
    channel: str


@dataclass(frozen=True, slots=True)
class ModeAsked:
    mode: Mode


@dataclass(frozen=True, slots=True)
class SupervisorGone:
    pass


@dataclass(frozen=True, slots=True)
class CallGone:
    """The operator's leg is gone (hang-up, survey, transfer): nothing to listen to."""


@dataclass(frozen=True, slots=True)
class Failed:
    """A command the machine relied on failed (the originate, a snoop, a bridge)."""

    what: str


Event = Answered | SnoopUp | ModeAsked | SupervisorGone | CallGone | Failed


# --- commands -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DialSupervisor:
    leg: str
    endpoint: str


@dataclass(frozen=True, slots=True)
class CreateBridge:
    bridge: str


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    bridge: str


@dataclass(frozen=True, slots=True)
class Snoop:
    """A snoop channel ``channel`` on ``target`` (ARI: spy/whisper in, out, both or none)."""

    channel: str
    target: str
    spy: str
    whisper: str


@dataclass(frozen=True, slots=True)
class AddToBridge:
    bridge: str
    channel: str


@dataclass(frozen=True, slots=True)
class RemoveFromBridge:
    bridge: str
    channel: str


@dataclass(frozen=True, slots=True)
class HangupChannel:
    channel: str


@dataclass(frozen=True, slots=True)
class Ended:
    """The session is over (for the log and the audit): why."""

    reason: str


Command = (
    DialSupervisor
    | CreateBridge
    | DestroyBridge
    | Snoop
    | AddToBridge
    | RemoveFromBridge
    | HangupChannel
    | Ended
)


class Listening:
    """``seq`` numbers the sessions of one call (ids stay unique across sessions)."""

    def __init__(
        self, call_id: str, seq: int, operator_leg: str, call_bridge: str, endpoint: str, mode: Mode
    ) -> None:
        self.call_id = call_id
        self.operator_leg = operator_leg
        self.call_bridge = call_bridge
        self.endpoint = endpoint
        self.mode: Mode = mode
        self.phase = Phase.DIALING
        self.leg = f"sup-{call_id}-{seq:04d}"
        self.bridge = f"lbr-{call_id}-{seq:04d}"
        self.snoop: str | None = None  # the current snoop channel (asked for, maybe not up yet)
        self.where: str | None = None  # the bridge the supervisor is in
        self._snoops = 0
        self._bridge_made = False

    @property
    def ended(self) -> bool:
        return self.phase is Phase.ENDED

    def start(self) -> list[Command]:
        return [DialSupervisor(self.leg, self.endpoint)]

    def handle(self, event: Event) -> list[Command]:
        if self.phase is Phase.ENDED:
            # A snoop that comes up after the end must not stay.
            return [HangupChannel(event.channel)] if isinstance(event, SnoopUp) else []
        match event:
            case Answered():
                if self.phase is not Phase.DIALING:
                    return []
                self.phase = Phase.CONNECTED
                return self._place()
            case ModeAsked(mode=mode):
                if mode == self.mode:
                    return []
                before, self.mode = self.mode, mode
                return self._move(before) if self.phase is Phase.CONNECTED else []
            case SnoopUp(channel=channel):
                if channel != self.snoop:
                    return [HangupChannel(channel)]  # replaced while it was coming up
                return [AddToBridge(self.bridge, channel)]
            case SupervisorGone():
                return self._end("the supervisor hung up", supervisor_up=False)
            case CallGone():
                return self._end("the call's conversation is over", supervisor_up=True)
            case Failed(what=what):
                return self._end(f"failed: {what}", supervisor_up=True)
        return []

    # --- placing the supervisor ---------------------------------------------------------
    def _place(self) -> list[Command]:
        if self.mode == "barge":
            self.where = self.call_bridge
            return [AddToBridge(self.call_bridge, self.leg)]
        out: list[Command] = []
        if not self._bridge_made:
            self._bridge_made = True
            out.append(CreateBridge(self.bridge))
        self.where = self.bridge
        return [*out, AddToBridge(self.bridge, self.leg), self._new_snoop()]

    def _new_snoop(self) -> Snoop:
        self._snoops += 1
        self.snoop = f"snp-{self.call_id}-{self.leg[-4:]}-{self._snoops:03d}"
        whisper = "out" if self.mode == "whisper" else "none"  # out: what the operator hears
        return Snoop(self.snoop, self.operator_leg, "both", whisper)

    def _drop_snoop(self) -> list[Command]:
        snoop, self.snoop = self.snoop, None
        return [HangupChannel(snoop)] if snoop is not None else []

    def _move(self, before: Mode) -> list[Command]:
        out = self._drop_snoop()
        if before == "barge" or self.mode == "barge":
            if self.where is not None:
                out.append(RemoveFromBridge(self.where, self.leg))
                self.where = None
            return [*out, *self._place()]
        return [*out, self._new_snoop()]  # listen <-> whisper: same bridge, a new snoop

    def _end(self, reason: str, supervisor_up: bool) -> list[Command]:
        out = self._drop_snoop()
        if supervisor_up:
            out.append(HangupChannel(self.leg))
        if self._bridge_made:
            out.append(DestroyBridge(self.bridge))
        self.phase = Phase.ENDED
        self.where = None
        return [*out, Ended(reason)]
