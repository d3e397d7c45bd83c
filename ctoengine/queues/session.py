"""The shell of one call's queue phase: ARI in, the pure ``QueuedCall`` in the middle, ARI out.

``_translate`` is the one place where ARI events, the distributor's commands
for this call and the API's requests become the machine's events; ``_execute``
is the one place its commands become I/O. Events are handled one at a time,
by one loop; a command's failure that the machine must know about (an
originate refused, a playback that could not start) is fed back as an event
before the next item of the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.callbacks.numbers import callback_key
from ctoengine.calls import protocol as p
from ctoengine.calls import wire
from ctoengine.config.routing import RoutingConfig
from ctoengine.errors import AriError
from ctoengine.federation.service import OverflowTo
from ctoengine.quality.survey import SurveyScore, SurveyTerms, TalkEnded
from ctoengine.quality.terms import QualityTerms, StartRecording
from ctoengine.queues import call as c
from ctoengine.queues import distributor as q

if TYPE_CHECKING:
    from ctoengine.calls.task import CallTask
    from ctoengine.queues.service import QueueService

DEADLINE_TIMER = "queue.deadline"
_ids = itertools.count(1)


@dataclass
class TransferRequest:
    """Delivered to a call's task by the API: send the connected caller to ``queue`` or ``agent``.
    ``done`` gets None when done, or the reason of a refusal."""

    queue: str | None
    agent: str | None
    done: asyncio.Future[str | None]


class RoutingPrompts:
    """The machine's prompts from the live routing file."""

    def __init__(self, routing: Callable[[], RoutingConfig]) -> None:
        self._routing = routing

    def position_media(self, position: int, expected_wait_s: float | None) -> list[str]:
        return self._routing().position_media(position, expected_wait_s)

    def exit_media(self, action: str) -> str:
        cfg = self._routing()
        prompts = cfg.queue_prompts
        if action == "no_callback":
            impossible = cfg.callback.impossible_prompt if cfg.callback is not None else "callback_impossible"
            return cfg.media(impossible)
        return cfg.media(prompts.callback if action == "callback" else prompts.goodbye)

    def offer_media(self, number_ok: bool) -> str:
        cfg = self._routing()
        cb = cfg.callback
        if cb is None:
            return cfg.media("callback_unavailable")
        return cfg.media(cb.offer_prompt if number_ok else cb.unavailable_prompt)


def callback_terms(cfg: RoutingConfig, caller_number: str | None) -> c.CallbackTerms | None:
    """The offer's terms for this caller; None when the routing file has no callbacks."""
    cb, out = cfg.callback, cfg.outbound
    if cb is None or out is None:
        return None
    number_ok = callback_key(caller_number, out.allows) is not None
    return c.CallbackTerms(cb.offer_after_s, cb.offer_key, number_ok)


def quality_terms(cfg: RoutingConfig, queue: str, draw: Callable[[], float] = random.random) -> QualityTerms:
    """The queue's recording and survey for this caller; ``draw`` is the survey's sampling."""
    spec = cfg.queues.get(queue)
    if spec is None:
        return QualityTerms()
    survey = None
    if spec.survey is not None and draw() < spec.survey.share:
        thanks = cfg.media(spec.survey.thanks_prompt) if spec.survey.thanks_prompt else None
        survey = SurveyTerms(cfg.media(spec.survey.prompt), thanks, spec.survey.answer_s)
    notice = cfg.media(cfg.quality.recording_prompt) if spec.recording else None
    return QualityTerms(record=spec.recording, notice=notice, survey=survey)


class QueueSession:
    """Runs one ``QueuedCall`` for a call task."""

    def __init__(self, service: QueueService, task: CallTask, queue: str) -> None:
        self.s = service
        self.task = task
        wrap_up = {name: spec.wrap_up_s for name, spec in service.dist.queues.items()}
        prompts = RoutingPrompts(service.ctx.routing)
        terms = callback_terms(service.ctx.routing(), task.record.caller_number)
        quality = quality_terms(service.ctx.routing(), queue)
        self.m = c.QueuedCall(
            task.call_id,
            queue,
            wrap_up,
            prompts,
            may_overflow=task.hops == 0,
            callback=terms,
            quality=quality,
        )
        self.bridge_id = wire.queue_bridge(task.call_id)
        self.overflowing = False  # an offer is on its way to the machine
        self._pending: deque[c.Event] = deque()
        self._replies: dict[int, asyncio.Future[str | None]] = {}
        self._armed: float | None = None
        task.queue_session = self

    # --- what the federation reads -------------------------------------------
    @property
    def offerable(self) -> bool:
        return not self.overflowing and self.m.offerable

    @property
    def tried_peers(self) -> set[str]:
        return self.m.tried_peers

    def offer(self, peer: str) -> None:
        self.overflowing = True
        self.task.deliver(OverflowTo(peer))

    # --- the loop ---------------------------------------------------------------
    async def run(self, first: c.Enter | c.Reattach) -> None:
        try:
            await self._apply(first)
            if self.m.wants_estimate and self.task.call_id in self.s.dist.waiting:
                # At entry already: a caller nobody can answer hears the offer at once.
                await self._apply(c.WaitEstimate(self.s.dist.expected_wait(self.task.call_id, self.s.now())))
            if isinstance(first, c.Enter) and self.s.federation is not None:
                self.s.federation.consider(self.task.call_id)  # at entry, then every second
            while not self.m.done:
                event = self._translate(await self.task.get_event())
                if event is not None:
                    await self._apply(event)
        finally:
            self._refuse_the_rest()

    async def release(self) -> None:
        """Teardown of the call task: the machine says what must not stay behind."""
        await self._execute(self.m.teardown())
        self._refuse_the_rest()

    async def _apply(self, event: c.Event) -> None:
        self._pending.append(event)
        while self._pending:
            before = self.m.phase
            commands = self.m.handle(self._pending.popleft(), self.s.now())
            if self.m.phase is not before:
                self.task.log.info("queue_phase", frm=before.value, to=self.m.phase.value)
            await self._execute(commands)
            self._arm()

    def _arm(self) -> None:
        if self.m.deadline == self._armed:
            return
        self._armed = self.m.deadline
        if self._armed is None:
            self.task.timers.cancel(DEADLINE_TIMER)
        else:
            self.task.timers.start(DEADLINE_TIMER, self._armed)

    def _refuse_the_rest(self) -> None:
        """A transfer asked as the call ends still gets its answer, not a timeout."""
        with contextlib.suppress(asyncio.QueueEmpty):
            while True:
                item = self.task.events.get_nowait()
                if isinstance(item, TransferRequest) and not item.done.done():
                    item.done.set_result("the call is over")
        for fut in self._replies.values():
            if not fut.done():
                fut.set_result("the call is over")
        self._replies.clear()

    # --- in: the one translation ----------------------------------------------
    def _translate(self, item: Any) -> c.Event | None:
        t = self.task
        if isinstance(item, q.RingAgent | q.CancelRing | q.Announce | q.QueueExit | c.WaitEstimate):
            return item
        if isinstance(item, ari.ChannelDtmfReceived):
            return c.KeyPressed(item.digit) if item.channel.id == t.call_id else None
        if isinstance(item, ari.StasisStart):
            return c.LegAnswered(item.channel.id)  # the caller's own StasisStart is never routed here
        if isinstance(item, ari.ChannelDestroyed):
            if item.channel.id != t.call_id:
                return c.LegGone(item.channel.id, item.cause)
            t.gone = True
            return c.CallerGone(item.cause_txt or str(item.cause))
        if isinstance(item, ari.StasisEnd | p.CallerHungUp):
            if isinstance(item, ari.StasisEnd) and item.channel.id != t.call_id:
                return None  # a leg leaving Stasis: its ChannelDestroyed follows
            t.gone = True
            return c.CallerGone()
        if isinstance(item, ari.PlaybackFinished):
            return c.PlaybackDone(item.playback.id)
        if isinstance(item, p.PlaybackFinished):
            return c.PlaybackDone(item.playback_id)
        if isinstance(item, p.TimerFired) and item.name == DEADLINE_TIMER:
            self._armed = None
            return c.DeadlinePassed()
        if isinstance(item, TransferRequest):
            request_id = next(_ids)
            self._replies[request_id] = item.done
            return c.TransferAsked(request_id, item.queue, item.agent)
        if isinstance(item, OverflowTo):
            self.overflowing = False
            cfg = self.s.ctx.routing().federation
            if self.s.federation is None or cfg is None or item.peer not in cfg.peers:
                return None
            fed_id = t.record.federation_id or f"{cfg.id}-{t.call_id}"
            return c.OverflowOffered(item.peer, fed_id, cfg.answer_timeout_s)
        return None

    # --- out: the one executor ---------------------------------------------------
    async def _execute(self, commands: list[c.Command]) -> None:
        for cmd in commands:
            await self._execute_one(cmd)

    async def _execute_one(self, cmd: c.Command) -> None:
        t, s, ari_ = self.task, self.s, self.s.ctx.ari
        match cmd:
            case c.Feed(event=event):
                s.feed(event)
            case c.RequestCallback():
                await self._request_callback()
            case c.Ring():
                await self._ring(cmd)
            case c.OfferToPeer():
                await self._offer_to_peer(cmd)
            case c.HangupLeg(leg=leg):
                s.dispatcher.release(leg)
                with contextlib.suppress(AriError):
                    await ignore_gone(ari_.hangup(leg))
            case c.Bridge(leg=leg):
                await ari_.create_bridge(self.bridge_id)
                await ari_.add_channels(self.bridge_id, [t.call_id, leg])
            case c.DestroyBridge():
                with contextlib.suppress(AriError):
                    await ignore_gone(ari_.destroy_bridge(self.bridge_id))
                if s.recorder is not None:
                    s.recorder.stopped(t.call_id)
            case StartRecording(recording_id=rid):
                if s.recorder is not None:  # never fails the call: the recorder logs and counts
                    await s.recorder.start(t.call_id, self.bridge_id, rid)
            case c.HoldMusic(on=on):
                if not t.gone:
                    with contextlib.suppress(AriError):
                        await ignore_gone(ari_.start_moh(t.call_id) if on else ari_.stop_moh(t.call_id))
            case p.Play(playback_id=pb, media=media):
                if t.gone or not await ignore_gone(ari_.play(t.call_id, pb, list(media))):
                    self._pending.append(c.PlaybackDone(pb))
                else:
                    t.playbacks.add(pb)
            case p.StopPlayback(playback_id=pb):
                await ignore_gone(ari_.stop_playback(pb))
            case c.HangupCaller():
                t.hangup_requested = True
                if not t.gone:
                    with contextlib.suppress(AriError):
                        await ignore_gone(ari_.hangup(t.call_id))
            case c.SaveCall(leg=leg):
                s.save_call(t, leg)
            case c.PeerLeg(peer=peer, delta=delta):
                if s.federation is not None:
                    active = s.federation.usage.active
                    active[peer] = active.get(peer, 0) + delta
            case c.Overflowed(peer=peer, waited_s=waited):
                if s.federation is not None:
                    sent = s.federation.usage.sent
                    sent[peer] = sent.get(peer, 0) + 1
                s.outcome(self.m.queue, "overflow", waited, s.ctx.wall())
                s.ctx.metrics.overflows.labels(peer).inc()
                t.log.info("call_overflowed", peer=peer, federation_id=t.record.federation_id)
            case _:
                self._record(cmd)

    def _record(self, cmd: c.Command) -> None:
        t, s, r = self.task, self.s, self.task.record
        match cmd:
            case c.RecordQueued(queue=queue, entered_at=entered_at):
                r.queue = queue
                if r.queued_at is None:
                    # A restored or transferred caller's wait counts from his first entry.
                    r.queued_at = s.ctx.wall() - timedelta(seconds=max(0.0, s.now() - entered_at))
                    r.started_at = min(r.started_at, r.queued_at)
                    if s.federation is not None and t.hops == 0:
                        s.federation.usage.queued += 1
            case c.RecordRinging():
                if r.ringing_at is None:
                    r.ringing_at = s.ctx.wall()
            case c.RecordAnswered(agent_id=agent):
                r.agent_answered_at = s.ctx.wall()
                r.agent_id = agent
                r.disposition = "answered"
                t.log.info("call_connected", agent=agent)
            case c.RecordTransferred(queue=queue):
                t.log.info("call_transferred", by=r.agent_id, queue=queue)
                r.queue = queue
                r.agent_id = None
                r.agent_answered_at = None
                r.disposition = "abandoned"
            case c.RecordOverflowed(peer=peer, federation_id=fed_id, wait_s=wait):
                r.disposition = "overflowed"
                r.overflow_peer = peer
                r.federation_id = fed_id
                r.wait_seconds = wait
            case c.Finish():
                if cmd.disposition is not None:
                    r.disposition = cmd.disposition
                if cmd.hangup_by is not None:
                    r.hangup_by = cmd.hangup_by
                if cmd.wrap_up_s is not None:
                    r.wrap_up_seconds = cmd.wrap_up_s
                if cmd.wait_s is not None:
                    r.wait_seconds = cmd.wait_s
                if cmd.hangup_cause is not None:
                    r.hangup_cause = cmd.hangup_cause
                t.log.info("queue_phase_over", disposition=r.disposition, hangup_by=r.hangup_by)
                if self.m.survey is not None:
                    outcome = "scored" if self.m.survey.score is not None else "no_score"
                    s.ctx.metrics.quality.surveys.labels(self.m.queue, outcome).inc()
            case TalkEnded():
                if r.agent_answered_at is not None:
                    r.talk_seconds = round(max(0.0, (s.ctx.wall() - r.agent_answered_at).total_seconds()), 3)
            case SurveyScore(score=score):
                r.survey_score = score
                s.ctx.metrics.quality.survey_score.labels(self.m.queue, r.agent_id or "").observe(score)
                t.log.info("survey_scored", score=score, agent=r.agent_id)
            case c.Reply(request_id=request_id, refusal=refusal):
                fut = self._replies.pop(request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(refusal)

    async def _request_callback(self) -> None:
        t, callbacks = self.task, self.s.callbacks
        topic = self.s.dist.queues[self.m.queue].topic
        if callbacks is None:  # the machine promises only with callback terms: a reload removed them
            t.log.error("callback_not_registered", reason="no callback service", topic=topic)
            return
        t.record.callback_id = await callbacks.request(t.record.caller_number, topic, self.m.queue, t.call_id)
        t.log.info("callback_requested", callback_id=t.record.callback_id, topic=topic)

    async def _ring(self, cmd: c.Ring) -> None:
        t = self.task
        self.s.dispatcher.adopt(cmd.leg, t)
        caller = t.channel.caller.number or "anonymous"
        try:
            await self.s.ctx.ari.originate(
                cmd.leg,
                cmd.endpoint,
                wire.operator_args(t.call_id),
                caller_id=f'"{caller}" <{caller}>',
                timeout=cmd.timeout_s,
            )
        except AriError as e:
            t.log.warning("ring_failed", agent=cmd.agent_id, error=str(e))
            self.s.dispatcher.release(cmd.leg)
            self._pending.append(c.LegFailed(cmd.leg))

    async def _offer_to_peer(self, cmd: c.OfferToPeer) -> None:
        t, fed = self.task, self.s.federation
        cfg = self.s.ctx.routing().federation
        if fed is None or cfg is None or cmd.peer not in cfg.peers:
            self._pending.append(c.LegFailed(cmd.leg))
            return
        self.s.dispatcher.adopt(cmd.leg, t)
        caller = t.channel.caller.number or "anonymous"
        t.log.info("overflow_try", peer=cmd.peer, waited_s=round(cmd.waited_s, 1))
        try:
            await self.s.ctx.ari.originate(
                cmd.leg,
                cfg.peers[cmd.peer].trunk,
                wire.operator_args(t.call_id),
                caller_id=f'"{caller}" <{caller}>',
                timeout=cmd.timeout_s,
                variables=fed.headers(
                    federation_id=cmd.federation_id,
                    topic=self.s.dist.queues[self.m.queue].topic,
                    caller=caller,
                    waited_s=cmd.waited_s,
                    hops=t.hops,
                ),
            )
        except AriError as e:
            t.log.warning("overflow_failed", peer=cmd.peer, error=str(e))
            self.s.dispatcher.release(cmd.leg)
            self._pending.append(c.LegFailed(cmd.leg))
