"""The distributor: all agents and all waiting callers of a centre, as one pure object.

``handle(event, now) -> [commands]``; no I/O, no clock. The rules
(docs/distribution.md):

* Callers are served in order of effective priority (queue weight + caller
  priority), then of their wait (``entered_at``; a transferred or restored
  caller keeps his), then arrival. This one order makes FIFO within a queue and
  "the agent takes the longest waiter across his queues" the same rule.
* Each caller gets the longest-idle available agent who may serve him now;
  skill level breaks ties, then the agent id (deterministic).
* Who may serve: the queue's topic at a level not below the caller's current
  minimum (relaxed by waiting time), or any ``general`` agent once the caller
  has waited ``general_after_s``.
* One ring at a time per caller, one caller per reserved agent; a ring times
  out into the next agent; N missed rings in a row pause the agent
  (``no_answer``). Wrap-up is a state with its own timer.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from ctoengine.agents.states import (
    STAFFED,
    Agent,
    AgentSpec,
    AgentState,
    AgentStateChanged,
    InvalidAgentTransition,
)
from ctoengine.calls.protocol import CancelTimer, StartTimer

S = AgentState
DEFAULT_TALK_S = 180.0
HANDLE_WINDOW = 20  # recent calls per queue the handle-time estimate uses


# --- specs --------------------------------------------------------------------
@dataclass(frozen=True)
class QueueSpec:
    name: str
    topic: str
    priority: int = 0
    wrap_up_s: float = 60.0
    ring_timeout_s: float = 15.0
    max_wait_s: float = 600.0
    max_wait_action: str = "callback"
    announce_every_s: float = 30.0
    min_level: int = 1
    relax: tuple[tuple[float, int], ...] = ()  # (after_s, min_level)
    general_after_s: float | None = None
    missed_rings_to_pause: int = 2
    wrap_up_extend_max_s: float = 120.0  # "need more time": at most this much longer in all


# --- events -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AgentLogin:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentLogout:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentPause:
    agent_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class AgentUnpause:
    agent_id: str


@dataclass(frozen=True, slots=True)
class AgentReachable:
    agent_id: str
    reachable: bool


@dataclass(frozen=True, slots=True)
class CallerQueued:
    call_id: str
    queue: str
    entered_at: float
    priority: int = 0
    agent: str | None = None  # transferred to this operator: only he may take the call


@dataclass(frozen=True, slots=True)
class CallerLeft:
    call_id: str
    reason: str = "abandoned"  # abandoned | overflowed | other


@dataclass(frozen=True, slots=True)
class RingAnswered:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class RingFailed:
    call_id: str
    agent_id: str
    reason: str  # no_answer | busy | failed


@dataclass(frozen=True, slots=True)
class CallEnded:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class TransferToQueue:
    call_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class Reserve:
    """A callback (issue 15) takes an available operator with the skill of ``queue`` for ``call_id``."""

    call_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class Connected:
    """The reserved operator of a callback talks to the citizen now (then ``CallEnded``)."""

    call_id: str
    agent_id: str
    queue: str


@dataclass(frozen=True, slots=True)
class Unreserve:
    """A callback gives its operator back before a conversation; ``missed``: he did not answer."""

    call_id: str
    agent_id: str
    missed: bool = False


@dataclass(frozen=True, slots=True)
class WrapUpDone:
    """The operator is ready before his wrap-up ends ("ready now" on the workplace)."""

    agent_id: str


@dataclass(frozen=True, slots=True)
class WrapUpExtend:
    """ "Need more time": the wrap-up goes on ``seconds`` longer, within ``wrap_up_extend_max_s``
    of its queue in all (a bound, so that an operator cannot hide in wrap-up)."""

    agent_id: str
    seconds: float


@dataclass(frozen=True, slots=True)
class Tick:
    """A timer of the distributor fired (the shell passes the name back)."""

    name: str


# --- commands -------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RingAgent:
    call_id: str
    agent_id: str
    endpoint: str
    ring_timeout_s: float


@dataclass(frozen=True, slots=True)
class CancelRing:
    call_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class Announce:
    call_id: str
    position: int
    expected_wait_s: float | None


@dataclass(frozen=True, slots=True)
class QueueExit:
    call_id: str
    action: str


@dataclass(frozen=True, slots=True)
class QueueLog:
    kind: str  # enter | ring | ring_no_answer | answer | abandon | transfer | exit
    call_id: str
    queue: str
    agent_id: str | None
    wait_s: float | None
    at: float


@dataclass
class Waiting:
    call_id: str
    queue: str
    entered_at: float
    priority: int
    seq: int
    ringing: str | None = None
    agent: str | None = None


@dataclass
class _Talk:
    queue: str
    answered_at: float


@dataclass
class WrapUp:
    """One operator's wrap-up: when it ends, and how much it was extended by so far."""

    call_id: str
    until: float
    extended_s: float = 0.0


Command = (
    RingAgent | CancelRing | Announce | QueueExit | QueueLog | AgentStateChanged | StartTimer | CancelTimer
)


@dataclass
class Distributor:
    queues: dict[str, QueueSpec]
    agent_specs: list[AgentSpec]
    agents: dict[str, Agent] = field(init=False)
    waiting: dict[str, Waiting] = field(default_factory=dict)
    _seq: Any = field(default_factory=itertools.count)
    _talks: dict[str, _Talk] = field(default_factory=dict)  # call_id -> talk in progress
    _handle_times: dict[str, deque[float]] = field(default_factory=dict)
    # Operators now AVAILABLE, kept by each Agent's listener: an event then costs the free
    # operators and the waiting callers, not every operator of the centre.
    _free: dict[str, Agent] = field(default_factory=dict)
    wraps: dict[str, WrapUp] = field(default_factory=dict)  # operator id -> his wrap-up now

    def __post_init__(self) -> None:
        self.agents = {s.id: Agent(s, listener=self._on_agent_change) for s in self.agent_specs}

    def _on_agent_change(self, ag: Agent) -> None:
        if ag.state is S.AVAILABLE:
            self._free[ag.id] = ag
        else:
            self._free.pop(ag.id, None)

    # --- entry ------------------------------------------------------------
    def handle(self, event: Any, now: float) -> list[Command]:
        out: list[Command] = []
        match event:
            case AgentLogin(agent_id=a):
                ag = self._agent(a)
                if ag.state is not S.LOGGED_OUT:  # already logged in: say so, change nothing
                    raise InvalidAgentTransition(a, ag.state, S.AVAILABLE)
                out.append(ag.set(S.AVAILABLE if ag.reachable else S.UNAVAILABLE, now, "login"))
            case AgentLogout(agent_id=a):
                ag = self._agent(a)
                if ag.state in (S.ON_CALL, S.WRAP_UP, S.RESERVED):
                    ag.pending, ag.pending_reason = S.LOGGED_OUT, "logout"
                    if ag.state is S.RESERVED:
                        out += self._release_ring(ag, now, requeue_agent=False)
                        out.append(ag.set(S.LOGGED_OUT, now, "logout"))
                elif ag.state is not S.LOGGED_OUT:
                    out.append(ag.set(S.LOGGED_OUT, now, "logout"))
            case AgentPause(agent_id=a, reason=r):
                ag = self._agent(a)
                if ag.state in (S.ON_CALL, S.WRAP_UP):
                    ag.pending, ag.pending_reason = S.PAUSED, r
                elif ag.state is S.PAUSED:
                    ag.reason = r
                else:
                    if ag.state is S.RESERVED:
                        out += self._release_ring(ag, now, requeue_agent=False)
                    out.append(ag.set(S.PAUSED, now, r))
            case AgentUnpause(agent_id=a):
                ag = self._agent(a)
                if ag.pending is S.PAUSED:
                    ag.pending = None
                if ag.state is S.PAUSED:
                    ag.missed_rings = 0
                    out.append(ag.set(S.AVAILABLE if ag.reachable else S.UNAVAILABLE, now, "unpause"))
            case AgentReachable(agent_id=a, reachable=ok):
                ag = self._agent(a)
                ag.reachable = ok
                if not ok and ag.state is S.AVAILABLE:
                    out.append(ag.set(S.UNAVAILABLE, now, "unreachable"))
                elif ok and ag.state is S.UNAVAILABLE:
                    out.append(ag.set(S.AVAILABLE, now, "reachable"))
            case CallerQueued():
                out += self._queued(event, now)
            case CallerLeft(call_id=c, reason=r):
                out += self._left(c, r, now)
            case RingAnswered(call_id=c, agent_id=a):
                out += self._answered(c, a, now)
            case RingFailed(call_id=c, agent_id=a, reason=r):
                out += self._ring_failed(c, a, r, now)
            case CallEnded(call_id=c, agent_id=a):
                out += self._ended(c, a, now)
            case TransferToQueue(call_id=c, agent_id=a, queue=q):
                out += self._transfer(c, a, q, now)
            case Tick(name=name):
                out += self._tick(name, now)
            case WrapUpDone(agent_id=a):
                ag = self._agent(a)
                if ag.state is not S.WRAP_UP:
                    raise InvalidAgentTransition(a, ag.state, S.AVAILABLE)
                out += [CancelTimer(f"wrap:{a}"), *self._wrap_over(ag, now)]
            case WrapUpExtend(agent_id=a, seconds=seconds):
                out += self._extend_wrap(self._agent(a), seconds)
            case Reserve() | Connected() | Unreserve():
                out += self._callback(event, now)
        out += self._assign(now)
        return out

    def _agent(self, agent_id: str) -> Agent:
        try:
            return self.agents[agent_id]
        except KeyError:
            raise KeyError(f"unknown operator {agent_id!r}") from None

    # --- callers ------------------------------------------------------------
    def _queued(self, e: CallerQueued, now: float) -> list[Command]:
        spec = self.queues[e.queue]
        w = Waiting(e.call_id, e.queue, e.entered_at, e.priority, next(self._seq), agent=e.agent)
        self.waiting[e.call_id] = w
        out: list[Command] = [QueueLog("enter", e.call_id, e.queue, None, now - e.entered_at, now)]
        out.append(StartTimer(f"maxwait:{e.call_id}", e.entered_at + spec.max_wait_s))
        if spec.announce_every_s > 0:
            out.append(StartTimer(f"announce:{e.call_id}", now + spec.announce_every_s))
        out += self._arm_relax(w, now)
        return out

    def _arm_relax(self, w: Waiting, now: float) -> list[Command]:
        spec = self.queues[w.queue]
        moments = [w.entered_at + s for s, _ in spec.relax]
        if spec.general_after_s is not None:
            moments.append(w.entered_at + spec.general_after_s)
        upcoming = sorted(m for m in moments if m > now)
        return [StartTimer(f"relax:{w.call_id}", upcoming[0])] if upcoming else []

    def _forget(self, call_id: str) -> list[Command]:
        self.waiting.pop(call_id, None)
        return [CancelTimer(f"{t}:{call_id}") for t in ("maxwait", "announce", "relax", "ring")]

    def _left(self, call_id: str, reason: str, now: float) -> list[Command]:
        w = self.waiting.get(call_id)
        if w is None:
            return []
        out: list[Command] = []
        if w.ringing is not None:
            ag = self.agents[w.ringing]
            out += self._release_ring(ag, now, requeue_agent=True)
        kind = {"abandoned": "abandon", "overflowed": "overflow"}.get(reason, "exit")
        out.append(QueueLog(kind, call_id, w.queue, None, now - w.entered_at, now))
        return out + self._forget(call_id)

    def _release_ring(self, ag: Agent, now: float, requeue_agent: bool) -> list[Command]:
        """Stop ringing ``ag`` without blaming him (the caller left, or he paused)."""
        call_id = ag.call_id
        out: list[Command] = [CancelRing(call_id, ag.id)] if call_id else []
        w = self.waiting.get(call_id) if call_id else None
        if w is not None:
            w.ringing = None
            out.append(CancelTimer(f"ring:{w.call_id}"))
        if requeue_agent:
            idle = ag.idle_since
            out.append(ag.set(S.AVAILABLE, now, "ring_cancelled"))
            ag.idle_since = idle  # not his fault: he keeps his place
        return out

    def _answered(self, call_id: str, agent_id: str, now: float) -> list[Command]:
        w = self.waiting.get(call_id)
        ag = self.agents.get(agent_id)
        if w is None or ag is None or w.ringing != agent_id or ag.state is not S.RESERVED:
            return []
        ag.missed_rings = 0
        change = ag.set(S.ON_CALL, now, w.queue)
        ag.call_id = call_id
        self._talks[call_id] = _Talk(w.queue, now)
        log = QueueLog("answer", call_id, w.queue, agent_id, now - w.entered_at, now)
        return [change, log, *self._forget(call_id)]

    def _ring_failed(self, call_id: str, agent_id: str, reason: str, now: float) -> list[Command]:
        w = self.waiting.get(call_id)
        ag = self.agents.get(agent_id)
        if w is None or ag is None or w.ringing != agent_id:
            return []  # already handled (e.g. our own ring timeout came first)
        w.ringing = None
        out: list[Command] = [CancelTimer(f"ring:{call_id}")]
        out.append(QueueLog("ring_no_answer", call_id, w.queue, agent_id, now - w.entered_at, now))
        ag.missed_rings += 1
        spec = self.queues[w.queue]
        if ag.pending is S.LOGGED_OUT:
            ag.pending = None
            out.append(ag.set(S.LOGGED_OUT, now, "logout"))
        elif ag.missed_rings >= spec.missed_rings_to_pause:
            out.append(ag.set(S.PAUSED, now, "no_answer"))
        else:
            out.append(ag.set(S.AVAILABLE, now, reason))  # to the back of the idle order
        return out

    def _ended(self, call_id: str, agent_id: str, now: float) -> list[Command]:
        ag = self.agents.get(agent_id)
        talk = self._talks.pop(call_id, None)
        if ag is None or ag.state is not S.ON_CALL or ag.call_id != call_id:
            return []
        queue = talk.queue if talk else next(iter(self.queues))
        spec = self.queues[queue]
        if talk is not None:
            times = self._handle_times.setdefault(queue, deque(maxlen=HANDLE_WINDOW))
            times.append(now - talk.answered_at + spec.wrap_up_s)
        ag.wrap_queue = queue
        out: list[Command] = [ag.set(S.WRAP_UP, now, queue)]
        self.wraps[agent_id] = WrapUp(call_id, now + spec.wrap_up_s)
        out.append(StartTimer(f"wrap:{agent_id}", now + spec.wrap_up_s))
        return out

    def _extend_wrap(self, ag: Agent, seconds: float) -> list[Command]:
        """Longer by ``seconds``, cut to what the bound leaves; nothing once it is used up."""
        wrap = self.wraps.get(ag.id)
        if ag.state is not S.WRAP_UP or wrap is None:
            raise InvalidAgentTransition(ag.id, ag.state, S.WRAP_UP)
        grant = min(max(0.0, seconds), self.wrap_extension_left(ag.id))
        if grant <= 0:
            return []
        wrap.until += grant
        wrap.extended_s += grant
        return [StartTimer(f"wrap:{ag.id}", wrap.until)]

    def wrap_extension_left(self, agent_id: str) -> float:
        """Seconds the operator's wrap-up may still be extended by (0 when not in wrap-up)."""
        wrap = self.wraps.get(agent_id)
        ag = self.agents.get(agent_id)
        if wrap is None or ag is None or ag.state is not S.WRAP_UP:
            return 0.0
        spec = self.queues.get(ag.wrap_queue or "")
        limit = spec.wrap_up_extend_max_s if spec is not None else 0.0
        return max(0.0, limit - wrap.extended_s)

    def _wrap_over(self, ag: Agent, now: float) -> list[Command]:
        """The end of a wrap-up (its timer, or "ready now"): a pause or logout asked meanwhile applies."""
        self.wraps.pop(ag.id, None)
        to, reason = (ag.pending or S.AVAILABLE), (ag.pending_reason or "wrap_up_done")
        if to is S.AVAILABLE and not ag.reachable:
            to = S.UNAVAILABLE
        ag.pending = ag.pending_reason = None
        return [ag.set(to, now, reason if to is not S.AVAILABLE else "wrap_up_done")]

    def _transfer(self, call_id: str, agent_id: str, queue: str, now: float) -> list[Command]:
        """Blind transfer by an operator: the caller re-enters ``queue`` keeping his first wait."""
        # The shell then queues the caller again with his original entry time.
        out = self._ended(call_id, agent_id, now)
        return [*out, QueueLog("transfer", call_id, queue, agent_id, None, now)]

    def _tick(self, name: str, now: float) -> list[Command]:
        kind, _, key = name.partition(":")
        if kind == "wrap":
            ag = self.agents.get(key)
            if ag is None or ag.state is not S.WRAP_UP:
                return []
            return self._wrap_over(ag, now)
        w = self.waiting.get(key)
        if w is None:
            return []
        spec = self.queues[w.queue]
        if kind == "ring" and w.ringing is not None:
            ag = self.agents[w.ringing]
            return [CancelRing(w.call_id, ag.id), *self._ring_failed(w.call_id, ag.id, "no_answer", now)]
        if kind == "maxwait":
            out: list[Command] = []
            if w.ringing is not None:
                out += self._release_ring(self.agents[w.ringing], now, requeue_agent=True)
            out.append(QueueExit(w.call_id, spec.max_wait_action))
            out.append(QueueLog("exit", w.call_id, w.queue, None, now - w.entered_at, now))
            return out + self._forget(w.call_id)
        if kind == "announce":
            out = [StartTimer(f"announce:{w.call_id}", now + spec.announce_every_s)]
            if w.ringing is None:
                out.append(Announce(w.call_id, self.position(w.call_id), self.expected_wait(w.call_id, now)))
            return out
        if kind == "relax":
            return self._arm_relax(w, now)
        return []

    # --- callbacks (operators taken outside the waiting line) -----------------
    def _callback(self, e: Reserve | Connected | Unreserve, now: float) -> list[Command]:
        ag = self.agents.get(e.agent_id)
        if ag is None:
            return []
        if isinstance(e, Reserve):
            if ag.state is not S.AVAILABLE or self.queues[e.queue].topic not in ag.spec.skills:
                return []
            ag.call_id = e.call_id
            return [ag.set(S.RESERVED, now, e.call_id)]
        if ag.state is not S.RESERVED or ag.call_id != e.call_id:
            return []  # logged out or paused meanwhile (CancelRing told the callback)
        if isinstance(e, Connected):
            self._talks[e.call_id] = _Talk(e.queue, now)
            return [ag.set(S.ON_CALL, now, e.queue)]
        ag.call_id = None
        if e.missed:
            ag.missed_rings += 1
            limit = min((q.missed_rings_to_pause for q in self.queues.values()), default=2)
            if ag.missed_rings >= limit:
                return [ag.set(S.PAUSED, now, "no_answer")]
            return [ag.set(S.AVAILABLE, now, "no_answer")]
        idle = ag.idle_since
        change = ag.set(S.AVAILABLE, now, "callback_cancelled")
        ag.idle_since = idle  # not his fault: he keeps his place
        return [change]

    def free_by_topic(self) -> dict[str, list[str]]:
        """Available operators per topic they have, longest idle first (the callback scheduler)."""
        out: dict[str, list[str]] = {}
        for a in sorted(self._free.values(), key=lambda a: (a.idle_since, a.id)):
            for topic in a.spec.skills:
                out.setdefault(topic, []).append(a.id)
        return out

    def longest_wait_by_topic(self, now: float) -> dict[str, float]:
        """The longest current wait of the callers of each topic (inbound first)."""
        out: dict[str, float] = {}
        for w in self.waiting.values():
            topic = self.queues[w.queue].topic
            out[topic] = max(out.get(topic, 0.0), now - w.entered_at)
        return out

    # --- distribution -------------------------------------------------------
    def _order(self) -> list[Waiting]:
        return sorted(
            self.waiting.values(),
            key=lambda w: (-(self.queues[w.queue].priority + w.priority), w.entered_at, w.seq),
        )

    def may_serve(self, ag: Agent, w: Waiting, now: float) -> bool:
        if w.agent is not None:
            return ag.id == w.agent
        spec = self.queues[w.queue]
        level = ag.spec.skills.get(spec.topic)
        waited = now - w.entered_at
        if level is not None:
            floor = spec.min_level
            for after_s, min_level in spec.relax:
                if waited >= after_s:
                    floor = min(floor, min_level)
            if level >= floor:
                return True
        return (
            spec.general_after_s is not None
            and waited >= spec.general_after_s
            and "general" in ag.spec.skills
        )

    def _assign(self, now: float) -> list[Command]:
        out: list[Command] = []
        if not self._free or not self.waiting:
            return out
        free = list(self._free.values())
        for w in self._order():
            if w.ringing is not None:
                continue
            spec = self.queues[w.queue]
            fits = [a for a in free if self.may_serve(a, w, now)]
            if not fits:
                continue
            ag = min(fits, key=lambda a: (a.idle_since, -a.spec.skills.get(spec.topic, 0), a.id))
            free.remove(ag)
            out.append(ag.set(S.RESERVED, now, w.call_id))
            ag.call_id = w.call_id
            w.ringing = ag.id
            out.append(RingAgent(w.call_id, ag.id, ag.spec.endpoint, spec.ring_timeout_s))
            out.append(StartTimer(f"ring:{w.call_id}", now + spec.ring_timeout_s))
            out.append(QueueLog("ring", w.call_id, w.queue, ag.id, now - w.entered_at, now))
            if not free:
                break
        return out

    # --- views --------------------------------------------------------------
    def position(self, call_id: str) -> int:
        w = self.waiting[call_id]
        same = [x for x in self._order() if x.queue == w.queue]
        return same.index(w) + 1

    def expected_wait(self, call_id: str, now: float) -> float | None:
        """Honest expected wait of a waiting caller (see ``wait_at_position``);
        None when nobody who can serve the queue is staffed."""
        w = self.waiting[call_id]
        return self._wait_at(w.queue, self.position(call_id), now)

    def expected_wait_new(self, queue: str, now: float) -> float | None:
        """What a caller joining ``queue`` now would wait (the figure peers are told)."""
        return self._wait_at(queue, sum(w.queue == queue for w in self.waiting.values()) + 1, now)

    def expected_waits(self, now: float) -> dict[str, float | None]:
        """Every waiting caller's expected wait at once: one ordering, and per queue one
        pass over the operators and one over its callers. The federation asks this every
        second; asked one caller at a time it was quadratic in the callers waiting."""
        by_queue: dict[str, list[Waiting]] = {}
        for w in self._order():
            by_queue.setdefault(w.queue, []).append(w)
        out: dict[str, float | None] = {}
        for queue, waits in by_queue.items():
            staffing = self._staffing(queue, now)
            if staffing is None:
                out.update((w.call_id, None) for w in waits)
                continue
            moments = waits_for_positions(len(waits), *staffing, self.handle_time(queue))
            out.update((w.call_id, m) for w, m in zip(waits, moments, strict=True))
        return out

    def _wait_at(self, queue: str, position: int, now: float) -> float | None:
        staffing = self._staffing(queue, now)
        if staffing is None:
            return None
        return wait_at_position(position, *staffing, self.handle_time(queue))

    def _staffing(self, queue: str, now: float) -> tuple[int, list[float], int] | None:
        """Operators free now, wrap-up time left of those in wrap-up, and all staffed;
        None when nobody who can serve the queue is staffed."""
        spec = self.queues[queue]
        staffed = available = 0
        wrap_left: list[float] = []
        for a in self.agents.values():  # one pass: this runs for every estimate
            state = a.state
            if state not in STAFFED or spec.topic not in a.spec.skills:
                continue
            staffed += 1
            if state is S.AVAILABLE:
                available += 1
            elif state is S.WRAP_UP:
                wrap = self.wraps.get(a.id)
                end = wrap.until if wrap is not None else a.since + spec.wrap_up_s
                wrap_left.append(max(0.0, end - now))
        return (available, wrap_left, staffed) if staffed else None

    def handle_time(self, queue: str) -> float:
        times = self._handle_times.get(queue)
        if times:
            return sum(times) / len(times)
        return DEFAULT_TALK_S + self.queues[queue].wrap_up_s

    def queue_view(self, name: str, now: float) -> dict[str, Any]:
        spec = self.queues[name]
        waits = [w for w in self._order() if w.queue == name]
        by_state: dict[str, int] = {s.value: 0 for s in AgentState}
        for a in self.agents.values():
            if spec.topic in a.spec.skills:
                by_state[a.state.value] += 1
        longest = max((now - w.entered_at for w in waits), default=0.0)
        ew = self.expected_wait(waits[-1].call_id, now) if waits else None
        return {
            "name": name,
            "topic": spec.topic,
            "waiting": len(waits),
            "longest_wait_s": round(longest, 1),
            "expected_wait_s": None if ew is None else round(ew, 1),
            "agents": by_state,
            "handle_time_s": round(self.handle_time(name), 1),
        }

    # --- restart ------------------------------------------------------------
    def snapshot(self, now: float) -> dict[str, Any]:
        """JSON-able state that must survive a restart; times as seconds ago."""
        return {
            "agents": {
                a.id: {
                    "logged_in": a.state is not S.LOGGED_OUT and a.pending is not S.LOGGED_OUT,
                    "paused": a.state is S.PAUSED or a.pending is S.PAUSED,
                    "reason": a.pending_reason if a.pending is S.PAUSED else a.reason,
                }
                for a in self.agents.values()
            },
            "talks": [
                {"call_id": a.call_id, "agent": a.id, "queue": t.queue, "talked_s": now - t.answered_at}
                for a in self.agents.values()
                if a.state is S.ON_CALL and a.call_id is not None and (t := self._talks.get(a.call_id))
            ],
            "waiting": [
                {
                    "call_id": w.call_id,
                    "queue": w.queue,
                    "priority": w.priority,
                    "waited_s": now - w.entered_at,
                }
                for w in self._order()
            ],
        }

    def restore_agents(self, snap: dict[str, Any], now: float, live: Collection[str] = ()) -> list[Command]:
        """Logins and pauses from a snapshot. An operator who was talking on a call in ``live``
        (still up in Asterisk) is on that call again; a pause asked for during it waits for its end."""
        talks = {
            t["agent"]: t for t in snap.get("talks", []) if isinstance(t, dict) and t.get("call_id") in live
        }
        out: list[Command] = []
        for agent_id, st in snap.get("agents", {}).items():
            ag = self.agents.get(agent_id)
            talk = talks.get(agent_id)
            if ag is None or not (st.get("logged_in") or talk):
                continue
            if talk is not None and talk.get("queue") in self.queues:
                out.append(ag.resume_call(talk["call_id"], now))
                self._talks[talk["call_id"]] = _Talk(talk["queue"], now - float(talk.get("talked_s", 0.0)))
                if not st.get("logged_in"):
                    ag.pending, ag.pending_reason = S.LOGGED_OUT, "logout"
                elif st.get("paused"):
                    ag.pending, ag.pending_reason = S.PAUSED, st.get("reason") or "restored"
            elif st.get("paused"):
                out.append(ag.set(S.PAUSED, now, st.get("reason") or "restored"))
            else:
                out.append(ag.set(S.AVAILABLE, now, "restored"))
        return out


__all__ = [
    "AgentLogin",
    "AgentLogout",
    "AgentPause",
    "AgentReachable",
    "AgentUnpause",
    "Announce",
    "CallEnded",
    "CallerLeft",
    "CallerQueued",
    "CancelRing",
    "Connected",
    "Distributor",
    "InvalidAgentTransition",
    "QueueExit",
    "QueueLog",
    "QueueSpec",
    "Reserve",
    "RingAgent",
    "RingAnswered",
    "RingFailed",
    "Tick",
    "TransferToQueue",
    "Unreserve",
    "WrapUpDone",
    "WrapUpExtend",
    "wait_at_position",
    "waits_for_positions",
]


def wait_at_position(
    position: int, available: int, wrap_left: list[float], staffed: int, aht: float
) -> float:
    """The expected wait of the caller at ``position`` (1 = next).

    The first ``available`` callers are served at once. Operators in wrap-up
    free up at known moments (``wrap_left``). The others are talking, and a
    talk's end cannot be read from how long it has lasted: talk times are
    long-tailed, so an operator past the mean is not about to finish. So the
    staffed operators together are taken to free up one every ``aht / staffed``
    seconds (exact for exponential handle times; an estimate from elapsed talk
    time said 0 s for most callers and sent almost nobody to a peer in
    ``scripts/overflow-sim``). The caller waits for the n-th freeing moment of
    the two merged. Shared with the simulation, so it measures this estimate.
    """
    return waits_for_positions(position, available, wrap_left, staffed, aht)[-1] if position > 0 else 0.0


def waits_for_positions(
    count: int, available: int, wrap_left: list[float], staffed: int, aht: float
) -> list[float]:
    """``wait_at_position`` for positions 1 to ``count`` in one pass."""
    out: list[float] = []
    step = aht / staffed
    wraps = sorted(wrap_left)
    i = talks = 0
    moment = 0.0
    for position in range(1, count + 1):
        if position > available:
            if i < len(wraps) and wraps[i] <= (talks + 1) * step:
                moment, i = wraps[i], i + 1
            else:
                talks += 1
                moment = talks * step
        out.append(moment)
    return out
