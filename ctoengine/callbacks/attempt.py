"""One attempt to keep a callback promise, as a pure state machine.

``CallbackAttempt.handle(event, now) -> [commands]``; no I/O, no clock. The
shell (``dialer.py``) translates ARI events into these events and executes
the commands. The operator is reserved before it starts (the scheduler chose
him); he is connected first, so that a citizen who answers is never left
waiting for nobody::

    NEW ─Start─► OPERATOR (ring him) ─answered─► WHISPER (he hears the topic)
      ─played─► DIALING (the citizen's phone rings; the operator hears music)
      ─answered─► INTRO (the citizen hears who calls) ─played─► TALKING (bridged)
      ─either hangs up─► DONE

Every path reaches DONE through exactly one ``Done`` with the result the
scheduler reads (``schedule.after_attempt``). One timer, ``deadline``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Literal

from ctoengine.callbacks.schedule import Result
from ctoengine.calls import wire
from ctoengine.queues import distributor as q

# A leg answered, gone with its cause, refused by ARI; a prompt finished: the queue
# machine's own events (re-exported: the dialer builds them as attempt events).
from ctoengine.queues.call import LegAnswered as LegAnswered
from ctoengine.queues.call import LegFailed as LegFailed
from ctoengine.queues.call import LegGone as LegGone
from ctoengine.queues.call import PlaybackDone as PlaybackDone

BUSY_CAUSES = frozenset({17})
NO_ANSWER_CAUSES = frozenset({16, 18, 19, 21})  # 16 before an answer: the far end gave up ringing
PROMPT_LIMIT_S = 30.0  # a lost PlaybackFinished must not hold the operator
ORIGINATE_BACKSTOP_S = 10.0  # Asterisk ends an unanswered leg itself; this is in case its event is lost


class Phase(Enum):
    NEW = "new"
    OPERATOR = "operator"
    WHISPER = "whisper"
    DIALING = "dialing"
    INTRO = "intro"
    TALKING = "talking"
    DONE = "done"


@dataclass(frozen=True, slots=True)
class Plan:
    """What the attempt needs to know, from the request and the routing file."""

    call_id: str  # also the citizen leg's channel id
    agent_id: str
    endpoint: str  # the operator's phone
    queue: str
    ring_operator_s: int
    ring_citizen_s: int
    whisper: tuple[str, ...]  # media
    intro: tuple[str, ...]

    @property
    def operator_leg(self) -> str:
        return wire.callback_operator_leg(self.call_id)


# --- events ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Start:
    pass


@dataclass(frozen=True, slots=True)
class OperatorWithdrawn:
    """The operator logged out or paused while reserved (the distributor's CancelRing)."""


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    pass


Event = Start | LegAnswered | LegGone | LegFailed | PlaybackDone | OperatorWithdrawn | DeadlinePassed


# --- commands -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RingOperator:
    leg: str
    endpoint: str
    timeout_s: int


@dataclass(frozen=True, slots=True)
class DialCitizen:
    leg: str
    timeout_s: int


@dataclass(frozen=True, slots=True)
class PlayTo:
    leg: str
    playback_id: str
    media: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Music:
    leg: str
    on: bool


@dataclass(frozen=True, slots=True)
class Bridge:
    legs: tuple[str, str]


@dataclass(frozen=True, slots=True)
class HangupLeg:
    leg: str


@dataclass(frozen=True, slots=True)
class Feed:
    event: q.Connected | q.Unreserve | q.CallEnded


@dataclass(frozen=True, slots=True)
class RecordAnswered:
    """The citizen and the operator are connected: the row's answer time."""


@dataclass(frozen=True, slots=True)
class Done:
    result: Result
    hangup_by: Literal["caller", "agent", "engine"] = "engine"
    cause: str | None = None


Command = RingOperator | DialCitizen | PlayTo | Music | Bridge | HangupLeg | Feed | RecordAnswered | Done


class CallbackAttempt:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.phase = Phase.NEW
        self.deadline: float | None = None
        self.up: set[str] = set()  # legs originated and not known to be gone
        self.dialled = False  # the citizen's phone was rung: the attempt leaves a row

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    def handle(self, event: Event, now: float) -> list[Command]:
        if self.phase is Phase.DONE:
            return []
        p, op, citizen = self.plan, self.plan.operator_leg, self.plan.call_id
        match event:
            case Start() if self.phase is Phase.NEW:
                self.phase = Phase.OPERATOR
                self.up.add(op)
                self.deadline = now + p.ring_operator_s + ORIGINATE_BACKSTOP_S
                return [RingOperator(op, p.endpoint, p.ring_operator_s)]
            case LegAnswered(leg=leg) if leg == op and self.phase is Phase.OPERATOR:
                self.phase = Phase.WHISPER
                self.deadline = now + PROMPT_LIMIT_S
                return [PlayTo(op, f"{citizen}-whisper", p.whisper)]
            case LegAnswered(leg=leg) if leg == citizen and self.phase is Phase.DIALING:
                self.phase = Phase.INTRO
                self.deadline = now + PROMPT_LIMIT_S
                return [PlayTo(citizen, f"{citizen}-intro", p.intro)]
            case PlaybackDone(playback_id=pb) if pb == f"{citizen}-whisper" and self.phase is Phase.WHISPER:
                return self._dial(now)
            case PlaybackDone(playback_id=pb) if pb == f"{citizen}-intro" and self.phase is Phase.INTRO:
                return self._connect()
            case LegGone(leg=leg, cause=cause):
                self.up.discard(leg)
                return self._gone(leg, cause)
            case LegFailed(leg=leg):
                self.up.discard(leg)
                return self._gone(leg, 0 if leg == citizen else 16, failed=True)
            case OperatorWithdrawn() if self.phase in (Phase.OPERATOR, Phase.WHISPER, Phase.DIALING):
                # The distributor has already freed (or logged out) the operator.
                return self._end("operator_unavailable", unreserve=False)
            case DeadlinePassed() if self.deadline is not None and now >= self.deadline:
                self.deadline = None
                if self.phase is Phase.WHISPER:
                    return self._dial(now)
                if self.phase is Phase.INTRO:
                    return self._connect()
                if self.phase is Phase.OPERATOR:
                    return self._end("operator_unavailable", missed=True)
                if self.phase is Phase.DIALING:
                    return self._end("no_answer")
        return []

    def _dial(self, now: float) -> list[Command]:
        self.phase = Phase.DIALING
        self.dialled = True
        self.up.add(self.plan.call_id)
        self.deadline = now + self.plan.ring_citizen_s + ORIGINATE_BACKSTOP_S
        return [Music(self.plan.operator_leg, True), DialCitizen(self.plan.call_id, self.plan.ring_citizen_s)]

    def _connect(self) -> list[Command]:
        p = self.plan
        self.phase = Phase.TALKING
        self.deadline = None
        return [
            Music(p.operator_leg, False),
            Bridge((p.call_id, p.operator_leg)),
            Feed(q.Connected(p.call_id, p.agent_id, p.queue)),
            RecordAnswered(),
        ]

    def _gone(self, leg: str, cause: int, failed: bool = False) -> list[Command]:
        p = self.plan
        citizen = leg == p.call_id
        if leg not in (p.call_id, p.operator_leg):
            return []
        match self.phase:
            case Phase.OPERATOR | Phase.WHISPER if not citizen:
                return self._end("operator_unavailable", missed=self.phase is Phase.OPERATOR)
            case Phase.DIALING if citizen:
                result: Result = (
                    "failed"
                    if failed
                    else "busy"
                    if cause in BUSY_CAUSES
                    else "no_answer"
                    if cause in NO_ANSWER_CAUSES
                    else "failed"
                )
                return self._end(result, cause=str(cause))
            case Phase.DIALING:
                return self._end("operator_unavailable")
            case Phase.INTRO:
                # The citizen hung up on the introduction, or the operator left before it ended.
                return self._end(
                    "hung_up" if citizen else "failed", hangup_by="caller" if citizen else "agent"
                )
            case Phase.TALKING:
                out: list[Command] = [Feed(q.CallEnded(p.call_id, p.agent_id))]
                return out + self._end(
                    "answered", unreserve=False, hangup_by="caller" if citizen else "agent"
                )
        return []

    def _end(
        self,
        result: Result,
        *,
        missed: bool = False,
        unreserve: bool = True,
        hangup_by: Literal["caller", "agent", "engine"] = "engine",
        cause: str | None = None,
    ) -> list[Command]:
        p = self.plan
        out: list[Command] = [HangupLeg(leg) for leg in sorted(self.up)]
        self.up.clear()
        if unreserve:
            out.append(Feed(q.Unreserve(p.call_id, p.agent_id, missed=missed)))
        self.phase = Phase.DONE
        self.deadline = None
        return [*out, Done(result, hangup_by, cause)]
