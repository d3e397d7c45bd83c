"""The queue phase of one call as a pure state machine.

``QueuedCall.handle(event, now) -> [commands]``; no I/O, no clock, no asyncio.
The shell (``session.py``) translates ARI events and the distributor's
commands for this call into the events below, and executes the commands.

Phases::

    WAITING ──Ring──► RINGING ──LegAnswered──► TALKING ──LegGone──► DONE
       ▲  ▲              │ LegGone/CancelRing      │ TransferAsked
       │  └──────────────┘                         ▼
       │                                        WAITING (new queue, same entry time)
       ├──OverflowOffered──► OFFERING ──LegAnswered──► PEER ──LegGone──► DONE
       │                        │ LegGone/LegFailed/deadline
       └────────────────────────┘
    WAITING/RINGING ──QueueExit──► EXITING (goodbye prompt) ──► DONE
    WAITING/RINGING ──KeyPressed(offer key, after the offer)──► EXITING (callback confirmed) ──► DONE
    TALKING ──LegGone (operator hung up, caller drawn for the survey)──► SURVEY ──► DONE
    any ──CallerGone──► DONE

Quality control (issue 18, docs/quality.md; ``QualityTerms`` from the shell):
in a queue that records, the caller first hears the recording notice and joins
the distributor only once it is over; every connection to an operator is
recorded (``StartRecording`` right after ``Bridge``). The post-call survey is
``quality/survey.py``'s machine: this one hands the caller to it and ends the
call when it is over.

The callback offer (issue 15, docs/callbacks.md): while waiting, the shell feeds
``WaitEstimate`` (the distributor's honest expected wait; None when nobody with
the skill is logged in). Once it is over ``offer_after_s`` (or None) the caller
hears the offer, once; its key accepts it. A caller whose number cannot be
called back (``CallbackTerms.number_ok`` false) hears a notice instead and is
never promised anything: at max wait he hears the "no callback" goodbye and
the call is ``abandoned``, not ``callback_requested``.

Every path reaches DONE through exactly one ``Finish``. A transfer asked in any
phase gets exactly one ``Reply``: done (only while talking to an operator) or
a refusal that says why. The only timer is ``deadline``: the shell arms one
timer for it and feeds back ``DeadlinePassed``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal, Protocol

from ctoengine.calls.protocol import Play, StopPlayback
from ctoengine.quality.survey import Survey, SurveyScore, TalkEnded
from ctoengine.quality.terms import QualityTerms, StartRecording
from ctoengine.queues import distributor as q

Disposition = Literal["answered", "abandoned", "overflowed", "callback_requested"]
HangupBy = Literal["caller", "agent", "peer", "engine"]

# Causes of an operator leg that ended before answering (Q.850).
BUSY_CAUSES = frozenset({17})
NO_ANSWER_CAUSES = frozenset({16, 18, 19, 21})

# The goodbye at a queue exit is waited for at most this long (a lost
# PlaybackFinished must not keep the caller on the line).
EXIT_PROMPT_LIMIT_S = 30.0
# Asterisk ends an unanswered peer leg after the originate timeout; this is a
# backstop in case its ChannelDestroyed is lost, so the caller is never stuck.
OFFER_BACKSTOP_S = 10.0


def ring_failure(cause: int) -> str:
    """The distributor's reason for a ring that ended with Q.850 ``cause``."""
    return "busy" if cause in BUSY_CAUSES else "no_answer" if cause in NO_ANSWER_CAUSES else "failed"


class Prompts(Protocol):
    """What the caller hears in the queue, from the routing file."""

    def position_media(self, position: int, expected_wait_s: float | None) -> list[str]: ...

    def exit_media(self, action: str) -> str:
        """``callback`` (registered), ``no_callback`` (cannot be called back) or ``hangup``."""
        ...

    def offer_media(self, number_ok: bool) -> str:
        """The offer, or the notice to a caller whose number cannot be called back."""
        ...


@dataclass(frozen=True, slots=True)
class CallbackTerms:
    """The routing file's callback section as one caller's queue phase needs it."""

    offer_after_s: float
    key: str
    number_ok: bool  # a dialable Russian number the trunk allows (callbacks/numbers.py)


class Phase(Enum):
    NEW = "new"
    WAITING = "waiting"
    RINGING = "ringing"
    TALKING = "talking"
    OFFERING = "offering"  # a leg to a peer centre is being originated
    PEER = "peer"  # bridged to a peer centre
    EXITING = "exiting"  # the goodbye prompt of a queue exit
    SURVEY = "survey"  # the operator hung up; the caller is asked for a score
    DONE = "done"


# --- events -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Enter:
    """The caller joins ``queue``; ``entered_at`` is kept across a transfer or a restart."""

    entered_at: float | None = None


@dataclass(frozen=True, slots=True)
class Reattach:
    """A restarted engine finds the call connected by ``leg`` to ``agent`` or ``peer``."""

    leg: str
    agent: str | None
    peer: str | None
    leg_up: bool
    entered_at: float | None = None


@dataclass(frozen=True, slots=True)
class LegAnswered:
    leg: str


@dataclass(frozen=True, slots=True)
class LegGone:
    leg: str
    cause: int


@dataclass(frozen=True, slots=True)
class LegFailed:
    """Originating ``leg`` failed (ARI refused it)."""

    leg: str


@dataclass(frozen=True, slots=True)
class CallerGone:
    cause: str | None = None  # Asterisk's hangup cause text, when known


@dataclass(frozen=True, slots=True)
class PlaybackDone:
    playback_id: str


@dataclass(frozen=True, slots=True)
class OverflowOffered:
    """The federation chose ``peer`` for this caller."""

    peer: str
    federation_id: str
    answer_timeout_s: float


@dataclass(frozen=True, slots=True)
class TransferAsked:
    request_id: int
    queue: str | None
    agent: str | None


@dataclass(frozen=True, slots=True)
class DeadlinePassed:
    pass


@dataclass(frozen=True, slots=True)
class WaitEstimate:
    """The caller's honest expected wait now; None when nobody with the skill is logged in."""

    expected_wait_s: float | None


@dataclass(frozen=True, slots=True)
class KeyPressed:
    digit: str


Event = (
    Enter
    | Reattach
    | LegAnswered
    | LegGone
    | LegFailed
    | CallerGone
    | PlaybackDone
    | OverflowOffered
    | TransferAsked
    | DeadlinePassed
    | WaitEstimate
    | KeyPressed
    | q.RingAgent
    | q.CancelRing
    | q.Announce
    | q.QueueExit
)
DistributorEvent = (
    q.CallerQueued | q.CallerLeft | q.RingAnswered | q.RingFailed | q.CallEnded | q.TransferToQueue
)


# --- commands -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Feed:
    """Tell the distributor."""

    event: DistributorEvent


@dataclass(frozen=True, slots=True)
class Ring:
    """Originate the operator leg ``leg`` (its id chosen here)."""

    leg: str
    agent_id: str
    endpoint: str
    timeout_s: int


@dataclass(frozen=True, slots=True)
class OfferToPeer:
    """Originate ``leg`` over the trunk of ``peer`` with the federation headers."""

    leg: str
    peer: str
    federation_id: str
    waited_s: float
    timeout_s: int


@dataclass(frozen=True, slots=True)
class HangupLeg:
    leg: str


@dataclass(frozen=True, slots=True)
class Bridge:
    """Bridge the caller with ``leg``."""

    leg: str


@dataclass(frozen=True, slots=True)
class DestroyBridge:
    pass


@dataclass(frozen=True, slots=True)
class HoldMusic:
    on: bool


@dataclass(frozen=True, slots=True)
class HangupCaller:
    pass


@dataclass(frozen=True, slots=True)
class SaveCall:
    """Persist the record so far, and the connected leg: a restarted engine finishes the same row."""

    leg: str | None


@dataclass(frozen=True, slots=True)
class PeerLeg:
    """A leg to ``peer`` starts (+1) or ends (-1): the federation's concurrency count."""

    peer: str
    delta: int


@dataclass(frozen=True, slots=True)
class Overflowed:
    """The peer answered: count the outcome (the queue-wait metric and the SLA)."""

    peer: str
    waited_s: float


@dataclass(frozen=True, slots=True)
class RecordQueued:
    """The record's queue; its ``queued_at`` is ``entered_at`` on the wall clock if not set yet."""

    queue: str
    entered_at: float


@dataclass(frozen=True, slots=True)
class RecordRinging:
    """First ring: ``ringing_at`` is stamped once."""


@dataclass(frozen=True, slots=True)
class RecordAnswered:
    agent_id: str


@dataclass(frozen=True, slots=True)
class RecordTransferred:
    """Back to waiting in ``queue``: the answered part is forgotten, the wait is kept."""

    queue: str


@dataclass(frozen=True, slots=True)
class RecordOverflowed:
    peer: str
    federation_id: str
    wait_s: float


@dataclass(frozen=True, slots=True)
class Finish:
    """The queue phase is over: the final outcome (None fields leave the record as it is)."""

    disposition: Disposition | None = None
    hangup_by: HangupBy | None = None
    wrap_up_s: float | None = None
    wait_s: float | None = None
    hangup_cause: str | None = None


@dataclass(frozen=True, slots=True)
class RequestCallback:
    """Register (or join the open) callback request of this caller's number and topic."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to ``TransferAsked``: ``refusal`` is None when done."""

    request_id: int
    refusal: str | None = None


Command = (
    Feed
    | Ring
    | OfferToPeer
    | HangupLeg
    | Bridge
    | DestroyBridge
    | HoldMusic
    | Play
    | StopPlayback
    | HangupCaller
    | SaveCall
    | PeerLeg
    | Overflowed
    | RecordQueued
    | RecordRinging
    | RecordAnswered
    | RecordTransferred
    | RecordOverflowed
    | Finish
    | Reply
    | RequestCallback
    | StartRecording
    | SurveyScore
    | TalkEnded
)

_CONNECTED = (Phase.TALKING, Phase.PEER)


class QueuedCall:
    """One caller from his queue entry to the end of his queue phase."""

    def __init__(
        self,
        call_id: str,
        queue: str,
        wrap_up_s: dict[str, float],
        prompts: Prompts,
        may_overflow: bool,
        callback: CallbackTerms | None = None,
        quality: QualityTerms | None = None,
    ) -> None:
        self.call_id = call_id
        self.queue = queue
        self.phase = Phase.NEW
        self.entered_at = 0.0
        self.leg: str | None = None
        self.agent: str | None = None  # the operator rung or talking
        self.peer: str | None = None  # the peer centre offered or talking
        self.bridged = False
        self.tried_peers: set[str] = set()
        self.deadline: float | None = None
        self._wrap_up_s = wrap_up_s
        self._prompts = prompts
        self._may_overflow = may_overflow  # a call overflowed to us is never sent on
        self._legs = 0
        self._moh = False
        self._announcement: str | None = None
        self._goodbye: str | None = None
        self._exit_outcome = Finish()
        self._federation_id = ""
        self._callback = callback
        self._offered = False
        self._quality = quality or QualityTerms()
        self._notice: str | None = None  # the recording notice playing: not queued yet
        self.survey: Survey | None = None

    @property
    def done(self) -> bool:
        return self.phase is Phase.DONE

    @property
    def wants_estimate(self) -> bool:
        """The callback offer is still to come: the shell feeds ``WaitEstimate``."""
        return (
            self._callback is not None
            and not self._offered
            and self.phase is Phase.WAITING
            and self._notice is None
        )

    @property
    def offerable(self) -> bool:
        """The federation may offer this caller to a peer now."""
        return self._may_overflow and self.phase is Phase.WAITING and self._notice is None

    # --- entry ----------------------------------------------------------------
    def handle(self, event: Event, now: float) -> list[Command]:
        if isinstance(event, TransferAsked):
            return self._transfer(event)
        if self.phase is Phase.DONE:
            return []
        match event:
            case Enter(entered_at=at):
                return self._enter(now if at is None else at)
            case Reattach():
                return self._reattach(event, now)
            case q.RingAgent():
                return self._ring(event)
            case q.CancelRing(agent_id=a):
                if self.phase is Phase.RINGING and self.agent == a:
                    return self._drop_ring()
                return []
            case q.Announce():
                return self._announce(event, now)
            case q.QueueExit(action=action):
                return self._exit(action, now)
            case PlaybackDone(playback_id=pb):
                return self._played(pb, now)
            case LegAnswered(leg=leg):
                return self._answered(leg, now)
            case LegGone(leg=leg, cause=cause):
                return self._leg_gone(leg, cause, now)
            case LegFailed(leg=leg):
                return self._leg_failed(leg)
            case CallerGone(cause=cause):
                return self._caller_gone(cause)
            case OverflowOffered():
                return self._offer(event, now)
            case WaitEstimate(expected_wait_s=est):
                return self._offer_callback(est)
            case KeyPressed(digit=digit):
                return self._key(digit, now)
            case DeadlinePassed():
                if self.deadline is None or now < self.deadline:
                    return []
                self.deadline = None
                if self.phase is Phase.SURVEY:
                    assert self.survey is not None
                    if self.survey.expire(now):
                        return self._survey_over()
                    self.deadline = self.survey.deadline
                    return []
                if self.phase is Phase.EXITING:
                    return [HangupCaller(), *self._finish(self._exit_outcome)]
                if self.phase is Phase.OFFERING:
                    assert self.leg is not None
                    return [HangupLeg(self.leg), *self._offer_refused()]
        return []

    def teardown(self) -> list[Command]:
        """The call task ends (hang-up, error, engine stop): nothing of it stays anywhere."""
        out: list[Command] = []
        if self.phase is not Phase.DONE:
            if self.phase is Phase.TALKING:
                out.append(Feed(q.CallEnded(self.call_id, self.agent or "")))
            elif self.phase in (Phase.WAITING, Phase.RINGING, Phase.NEW) and self._notice is None:
                out.append(Feed(q.CallerLeft(self.call_id, "abandoned")))
            out += self._finish(Finish())
        if self.leg is not None:
            out += self._forget_leg()
        if self.bridged:
            self.bridged = False
            out.append(DestroyBridge())
        return out

    # --- helpers --------------------------------------------------------------------
    def _finish(self, outcome: Finish) -> list[Command]:
        out: list[Command] = []
        if self.peer is not None and self.phase in (Phase.OFFERING, Phase.PEER):
            out.append(PeerLeg(self.peer, -1))
        self.phase = Phase.DONE
        self.deadline = None
        return [*out, outcome]

    def _forget_leg(self) -> list[Command]:
        leg, self.leg = self.leg, None
        return [HangupLeg(leg)] if leg is not None else []

    def _music(self, on: bool) -> list[Command]:
        if on == self._moh:
            return []
        self._moh = on
        return [HoldMusic(on)]

    def _queued(self, agent: str | None = None) -> Feed:
        return Feed(q.CallerQueued(self.call_id, self.queue, self.entered_at, agent=agent))

    # --- waiting --------------------------------------------------------------------
    def _enter(self, entered_at: float) -> list[Command]:
        if self.phase is not Phase.NEW:
            return []
        self.phase = Phase.WAITING
        self.entered_at = entered_at
        if self._quality.notice is not None:
            # Told before queueing: he joins the distributor once the notice is over.
            self._notice = f"{self.call_id}-rec-notice"
            return [
                RecordQueued(self.queue, entered_at),
                SaveCall(None),
                Play(self._notice, (self._quality.notice,)),
            ]
        return [
            RecordQueued(self.queue, entered_at),
            *self._music(True),
            SaveCall(None),
            self._queued(),
        ]

    def _reattach(self, e: Reattach, now: float) -> list[Command]:
        if self.phase is not Phase.NEW:
            return []
        self.entered_at = now if e.entered_at is None else e.entered_at
        self.leg, self.agent, self.peer = e.leg, e.agent, e.peer
        self.bridged = True
        if e.peer is not None:
            self.phase = Phase.PEER
            out: list[Command] = [PeerLeg(e.peer, +1)]
            if not e.leg_up:
                out += self._leg_gone(e.leg, 16, now)
            return out
        self.phase = Phase.TALKING
        if not e.leg_up:  # the operator hung up while no engine was running
            return self._leg_gone(e.leg, 16, now)
        return []

    def _ring(self, cmd: q.RingAgent) -> list[Command]:
        if self.phase is not Phase.WAITING:
            # Rung for a caller who is no longer waiting here (a stale command): free the operator.
            return [Feed(q.RingFailed(self.call_id, cmd.agent_id, "failed"))]
        self._legs += 1
        self.leg, self.agent = f"{self.call_id}-l{self._legs}", cmd.agent_id
        self.phase = Phase.RINGING
        # Asterisk's own ring limit is a backstop: the distributor's ring timer decides.
        return [RecordRinging(), Ring(self.leg, cmd.agent_id, cmd.endpoint, int(cmd.ring_timeout_s) + 5)]

    def _drop_ring(self) -> list[Command]:
        self.phase = Phase.WAITING
        self.agent = None
        return self._forget_leg()

    def _announce(self, cmd: q.Announce, now: float) -> list[Command]:
        if self.phase not in (Phase.WAITING, Phase.RINGING) or self._announcement is not None:
            return []
        media = self._prompts.position_media(cmd.position, cmd.expected_wait_s)
        if not media:
            return []
        self._announcement = f"{self.call_id}-ann{self._legs}-{cmd.position}-{int(now)}"
        return [*self._music(False), Play(self._announcement, tuple(media))]

    def _played(self, playback_id: str, now: float) -> list[Command]:
        if playback_id == self._notice:
            self._notice = None
            if self.phase is not Phase.WAITING:
                return []
            return [*self._music(True), self._queued()]
        if self.phase is Phase.SURVEY:
            assert self.survey is not None
            out: list[Command] = list(self.survey.played(playback_id, now))
            self.deadline = self.survey.deadline
            return [*out, *self._survey_over()] if self.survey.over else out
        if playback_id == self._goodbye and self.phase is Phase.EXITING:
            return [HangupCaller(), *self._finish(self._exit_outcome)]
        if playback_id != self._announcement:
            return []
        self._announcement = None
        return self._music(True) if self.phase in (Phase.WAITING, Phase.RINGING) else []

    def _exit(self, action: str, now: float) -> list[Command]:
        if self.phase not in (Phase.WAITING, Phase.RINGING):
            return []
        if action == "callback" and (self._callback is None or not self._callback.number_ok):
            action = "no_callback"  # nobody is promised what cannot be kept
        out = self._forget_leg()
        self.agent = None
        self.phase = Phase.EXITING
        self._goodbye = f"{self.call_id}-bye"
        self.deadline = now + EXIT_PROMPT_LIMIT_S
        disposition: Disposition = "callback_requested" if action == "callback" else "abandoned"
        # The wait ends here, not after the goodbye prompt.
        self._exit_outcome = Finish(disposition, "engine", wait_s=round(now - self.entered_at, 3))
        if self._announcement is not None:  # Asterisk would queue the goodbye behind it
            out.append(StopPlayback(self._announcement))
            self._announcement = None
        if action == "callback":
            out.append(RequestCallback())
        return [
            *out,
            *self._music(False),
            Play(self._goodbye, (self._prompts.exit_media(action),)),
        ]

    # --- the callback offer ------------------------------------------------------------
    def _offer_callback(self, expected_wait_s: float | None) -> list[Command]:
        cb = self._callback
        if cb is None or self._offered or self.phase is not Phase.WAITING or self._announcement is not None:
            return []  # an announcement playing: the next estimate offers it
        if expected_wait_s is not None and expected_wait_s <= cb.offer_after_s:
            return []
        self._offered = True
        self._announcement = f"{self.call_id}-cbo"
        return [*self._music(False), Play(self._announcement, (self._prompts.offer_media(cb.number_ok),))]

    def _key(self, digit: str, now: float) -> list[Command]:
        if self.phase is Phase.SURVEY:
            assert self.survey is not None
            out: list[Command] = list(self.survey.key(digit, now))
            self.deadline = self.survey.deadline
            return [*out, *self._survey_over()] if self.survey.over else out
        cb = self._callback
        if cb is None or not cb.number_ok or not self._offered or digit != cb.key:
            return []
        if self.phase not in (Phase.WAITING, Phase.RINGING):
            return []
        return [Feed(q.CallerLeft(self.call_id, "callback")), *self._exit("callback", now)]

    # --- legs ---------------------------------------------------------------------------
    def _answered(self, leg: str, now: float) -> list[Command]:
        if leg != self.leg:
            return [HangupLeg(leg)]  # a ring given up on (or the last engine's) answered after all
        out: list[Command] = []
        if self.phase is Phase.RINGING:
            assert self.agent is not None
            self.phase = Phase.TALKING
            out += [RecordAnswered(self.agent), Feed(q.RingAnswered(self.call_id, self.agent))]
        elif self.phase is Phase.OFFERING:
            assert self.peer is not None
            self.phase = Phase.PEER
            self.deadline = None
            waited = now - self.entered_at
            out += [
                RecordOverflowed(self.peer, self._federation_id, round(waited, 3)),
                Overflowed(self.peer, waited),
            ]
        else:
            return []
        out += self._music(False)
        if self._announcement is not None:
            out.append(StopPlayback(self._announcement))
            self._announcement = None
        self.bridged = True
        out.append(Bridge(leg))
        if self._quality.record:
            out.append(StartRecording(f"{self.call_id}-rec{self._legs}"))
        return [*out, SaveCall(leg)]

    def _leg_gone(self, leg: str, cause: int, now: float) -> list[Command]:
        if leg != self.leg:
            return []
        self.leg = None
        if self.phase is Phase.RINGING:
            assert self.agent is not None
            agent, self.agent = self.agent, None
            self.phase = Phase.WAITING
            reason = (
                "busy" if cause in BUSY_CAUSES else "no_answer" if cause in NO_ANSWER_CAUSES else "failed"
            )
            return [Feed(q.RingFailed(self.call_id, agent, reason))]
        if self.phase is Phase.TALKING and self._quality.survey is not None:
            return self._start_survey(now)
        if self.phase is Phase.TALKING:  # the operator hung up: the call ends for the caller too
            return [
                Feed(q.CallEnded(self.call_id, self.agent or "")),
                HangupCaller(),
                *self._finish(Finish(hangup_by="agent", wrap_up_s=self._wrap_up_s.get(self.queue))),
            ]
        if self.phase is Phase.OFFERING:
            return self._offer_refused()
        if self.phase is Phase.PEER:
            return [HangupCaller(), *self._finish(Finish(hangup_by="peer"))]
        return []

    def _leg_failed(self, leg: str) -> list[Command]:
        if leg != self.leg:
            return []
        self.leg = None
        if self.phase is Phase.RINGING:
            assert self.agent is not None
            agent, self.agent = self.agent, None
            self.phase = Phase.WAITING
            return [Feed(q.RingFailed(self.call_id, agent, "failed"))]
        if self.phase is Phase.OFFERING:
            return self._offer_refused()
        return []

    def _caller_gone(self, cause: str | None) -> list[Command]:
        phase = self.phase
        out = self._forget_leg()
        if phase is Phase.TALKING:
            out.append(Feed(q.CallEnded(self.call_id, self.agent or "")))
            outcome = Finish(
                hangup_by="caller", wrap_up_s=self._wrap_up_s.get(self.queue), hangup_cause=cause
            )
        elif phase is Phase.PEER:
            outcome = Finish(hangup_by="caller", hangup_cause=cause)
        elif phase is Phase.EXITING:
            outcome = replace(self._exit_outcome, hangup_cause=cause)
        elif phase is Phase.SURVEY:  # the operator ended the conversation; no score is no score
            outcome = replace(self._survey_outcome(), hangup_cause=cause)
        else:
            if phase in (Phase.WAITING, Phase.RINGING, Phase.NEW) and self._notice is None:
                out.append(Feed(q.CallerLeft(self.call_id, "abandoned")))
            # hangup_by is left to the call task: the caller, unless the engine hung up first
            outcome = Finish("abandoned", hangup_cause=cause)
        return out + self._finish(outcome)

    # --- overflow to a peer centre ------------------------------------------------------
    def _offer(self, e: OverflowOffered, now: float) -> list[Command]:
        if not self.offerable or e.peer in self.tried_peers:
            return []
        self.tried_peers.add(e.peer)
        self._legs += 1
        self.leg, self.peer = f"{self.call_id}-p{self._legs}", e.peer
        self._federation_id = e.federation_id
        self.phase = Phase.OFFERING
        timeout = max(1, int(e.answer_timeout_s))
        self.deadline = now + timeout + OFFER_BACKSTOP_S
        return [
            Feed(q.CallerLeft(self.call_id, "overflowed")),
            PeerLeg(e.peer, +1),
            OfferToPeer(self.leg, e.peer, e.federation_id, now - self.entered_at, timeout),
        ]

    def _offer_refused(self) -> list[Command]:
        """Busy, no answer or failed: back in our queue, in the place his first entry time gives."""
        assert self.peer is not None
        peer, self.peer = self.peer, None
        self.leg = None
        self.phase = Phase.WAITING
        self.deadline = None
        return [PeerLeg(peer, -1), self._queued()]

    # --- transfer -----------------------------------------------------------------------
    def _transfer(self, e: TransferAsked) -> list[Command]:
        refusal = self._transfer_refusal()
        if refusal is not None:
            return [Reply(e.request_id, refusal)]
        assert self.agent is not None
        agent, leg = self.agent, self.leg
        queue = e.queue or self.queue
        self.leg = self.agent = None
        self.phase = Phase.WAITING
        self.queue = queue
        out: list[Command] = [Feed(q.TransferToQueue(self.call_id, agent, queue))]
        if self.bridged:
            self.bridged = False
            out.append(DestroyBridge())
        if leg is not None:
            out.append(HangupLeg(leg))
        return [
            *out,
            RecordTransferred(queue),
            *self._music(True),
            SaveCall(None),
            self._queued(e.agent),
            Reply(e.request_id),
        ]

    def _transfer_refusal(self) -> str | None:
        match self.phase:
            case Phase.TALKING if self.agent is not None:
                return None
            case Phase.NEW | Phase.WAITING:
                return "the call is waiting in a queue, not connected to an operator"
            case Phase.RINGING:
                return "the call is ringing an operator, not connected yet"
            case Phase.OFFERING:
                return "the call is being offered to a peer centre"
            case Phase.PEER:
                return "the call is connected to a peer centre, not to one of our operators"
            case Phase.EXITING:
                return "the call is leaving the queue"
            case Phase.SURVEY:
                return "the operator has hung up; the caller is in the post-call survey"
            case _:
                return "the call is over"

    # --- the post-call survey -------------------------------------------------------------
    def _start_survey(self, now: float) -> list[Command]:
        """The operator hung up first: he goes to wrap-up, the caller leaves the bridge (which
        ends the recording) and hears the survey (``quality/survey.py``)."""
        terms = self._quality.survey
        assert terms is not None
        out: list[Command] = [Feed(q.CallEnded(self.call_id, self.agent or "")), TalkEnded()]
        if self.bridged:
            self.bridged = False
            out.append(DestroyBridge())
        self.phase = Phase.SURVEY
        self.survey = Survey(self.call_id, terms)
        out += self.survey.start(now)
        self.deadline = self.survey.deadline
        return out

    def _survey_outcome(self) -> Finish:
        return Finish(hangup_by="agent", wrap_up_s=self._wrap_up_s.get(self.queue))

    def _survey_over(self) -> list[Command]:
        return [HangupCaller(), *self._finish(self._survey_outcome())]
