"""The shell of one callback attempt: ARI in, the pure ``CallbackAttempt`` in the middle, ARI out.

It owns both legs (the dispatcher routes their events here by the ``callback``
Stasis verb), writes the attempt's row (``direction = 'callback'``) once the
citizen's phone was rung, and reports the result to the service, which
settles the request. Cancelled (the engine stops): the legs are hung up and
the request is left ``dialing``; the next engine's start makes it pending.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.callbacks import attempt as a
from ctoengine.callbacks.schedule import Pending
from ctoengine.calls import wire
from ctoengine.config.routing import RoutingConfig
from ctoengine.errors import AriError
from ctoengine.logs import get_logger
from ctoengine.queues import distributor as q
from ctoengine.records.model import CallRecord

if TYPE_CHECKING:
    from ctoengine.callbacks.service import CallbackService

log = get_logger("ctoengine.callbacks")

WATCHDOG_S = 30.0  # how often the legs are checked with Asterisk (a lost ChannelDestroyed)
OPERATOR_RING_S = 15


def plan_for(
    cfg: RoutingConfig, call_id: str, agent_id: str, endpoint: str, queue: str, topic: str
) -> a.Plan:
    cb, out = cfg.callback, cfg.outbound
    assert cb is not None and out is not None
    whisper = [cfg.media(cb.whisper_prompt)]
    if topic in cb.whisper_topics:
        whisper.append(cfg.media(cb.whisper_topics[topic]))
    ring = int(cfg.queues[queue].ring_timeout_s) if queue in cfg.queues else OPERATOR_RING_S
    return a.Plan(
        call_id, agent_id, endpoint, queue, ring, out.ring_s, tuple(whisper), (cfg.media(cb.intro_prompt),)
    )


class Dialer:
    def __init__(
        self,
        service: CallbackService,
        request: Pending,
        call_id: str,
        agent_id: str,
        queue: str,
        number: str,
        cfg: RoutingConfig,
    ) -> None:
        self.s = service
        self.request = request
        self.number = number
        self.cfg = cfg  # an attempt finishes on the configuration it started with
        endpoint = service.queues.dist.agents[agent_id].spec.endpoint
        self.m = a.CallbackAttempt(plan_for(cfg, call_id, agent_id, endpoint, queue, request.topic))
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.pending: list[a.Event] = []
        self.bridge_id = f"{call_id}-br"
        self.bridged = False
        self.log = log.bind(call_id=call_id, callback_id=request.id, agent=agent_id)
        ctx = service.ctx
        self.record = CallRecord(
            call_id=call_id,
            centre=cfg.centre.name,
            instance=ctx.instance,
            started_at=ctx.wall(),
            caller_number=number,
            topic=request.topic,
            queue=queue,
            direction="callback",
            callback_id=request.id,
        )

    @property
    def call_id(self) -> str:
        return self.m.plan.call_id

    def deliver(self, event: Any) -> None:
        self.events.put_nowait(event)

    async def run(self) -> None:
        ctx, legs = self.s.ctx, (self.call_id, self.m.plan.operator_leg)
        for leg in legs:
            ctx.adopt(leg, self)
        self.s.queues.outbound[self.call_id] = self
        result: a.Done | None = None
        try:
            result = await self._loop()
        finally:
            self.s.queues.outbound.pop(self.call_id, None)
            await asyncio.shield(self._teardown(result))
            for leg in legs:
                ctx.release(leg)

    async def _loop(self) -> a.Done | None:
        loop = asyncio.get_running_loop()
        done = await self._apply(a.Start())
        while done is None:
            wait = WATCHDOG_S if self.m.deadline is None else max(0.0, self.m.deadline - loop.time())
            try:
                item = await asyncio.wait_for(self.events.get(), min(wait, WATCHDOG_S))
            except TimeoutError:
                if self.m.deadline is not None and loop.time() >= self.m.deadline:
                    done = await self._apply(a.DeadlinePassed())
                else:
                    for leg in sorted(self.m.up):
                        if not await self.s.ctx.ari.channel_exists(leg):
                            done = done or await self._apply(a.LegGone(leg, 0))
                continue
            event = self._translate(item)
            if event is not None:
                done = await self._apply(event)
        return done

    def _translate(self, item: Any) -> a.Event | None:
        if isinstance(item, ari.StasisStart):
            return a.LegAnswered(item.channel.id)
        if isinstance(item, ari.ChannelDestroyed):
            return a.LegGone(item.channel.id, item.cause)
        if isinstance(item, ari.PlaybackFinished):
            return a.PlaybackDone(item.playback.id)
        if isinstance(item, q.CancelRing):
            return a.OperatorWithdrawn()
        return None

    async def _apply(self, event: a.Event) -> a.Done | None:
        self.pending.append(event)
        done: a.Done | None = None
        while self.pending:
            for cmd in self.m.handle(self.pending.pop(0), asyncio.get_running_loop().time()):
                if isinstance(cmd, a.Done):
                    done = cmd
                else:
                    await self._execute(cmd)
        return done

    async def _execute(self, cmd: a.Command) -> None:
        ari_, p = self.s.ctx.ari, self.m.plan
        try:
            match cmd:
                case a.RingOperator(leg=leg, endpoint=endpoint, timeout_s=timeout):
                    topic = self.request.topic
                    caller_id = f'"callback {topic}" <{self.number}>'
                    await ari_.originate(leg, endpoint, wire.callback_args(p.call_id), caller_id, timeout)
                case a.DialCitizen(leg=leg, timeout_s=timeout):
                    await self._dial(leg, timeout)
                case a.PlayTo(leg=leg, playback_id=pb, media=media):
                    if not await ignore_gone(ari_.play(leg, pb, list(media))):
                        self.pending.append(a.PlaybackDone(pb))
                case a.Music(leg=leg, on=on):
                    await ignore_gone(ari_.start_moh(leg) if on else ari_.stop_moh(leg))
                case a.Bridge(legs=legs):
                    await ari_.create_bridge(self.bridge_id)
                    self.bridged = True
                    await ari_.add_channels(self.bridge_id, list(legs))
                case a.HangupLeg(leg=leg):
                    await ignore_gone(ari_.hangup(leg))
                case a.Feed(event=event):
                    self.s.queues.feed(event)
                case a.RecordAnswered():
                    self.record.agent_answered_at = self.s.ctx.wall()
                    self.record.agent_id = p.agent_id
                    self.record.disposition = "answered"
                    self.log.info("callback_connected")
        except AriError as e:
            self.log.warning("callback_ari_error", command=type(cmd).__name__, error=str(e))
            if isinstance(cmd, a.RingOperator | a.DialCitizen):
                self.pending.append(a.LegFailed(cmd.leg))
            elif isinstance(cmd, a.Bridge):
                self.pending.append(a.LegGone(p.call_id, 0))

    async def _dial(self, leg: str, timeout: int) -> None:
        out = self.cfg.outbound
        if out is None or not out.allows(self.number):  # nothing else is ever dialled
            self.log.error("callback_number_not_allowed")
            self.pending.append(a.LegFailed(leg))
            return
        self.record.started_at = self.s.ctx.wall()
        caller_id = f'"{out.caller_id}" <{out.caller_id}>'
        endpoint = f"PJSIP/{self.number}@{out.trunk}"
        await self.s.ctx.ari.originate(leg, endpoint, wire.callback_args(self.call_id), caller_id, timeout)

    async def _teardown(self, done: a.Done | None) -> None:
        ari_, p = self.s.ctx.ari, self.m.plan
        if done is None:  # cancelled: nothing of the attempt stays in Asterisk or the distributor
            for leg in sorted(self.m.up):
                with contextlib.suppress(AriError):
                    await ignore_gone(ari_.hangup(leg))
            talking = self.m.phase is a.Phase.TALKING
            self.s.queues.feed(
                q.CallEnded(p.call_id, p.agent_id) if talking else q.Unreserve(p.call_id, p.agent_id)
            )
        if self.bridged:
            with contextlib.suppress(AriError):
                await ignore_gone(ari_.destroy_bridge(self.bridge_id))
        if self.m.dialled:
            self._write_record(done)
        if done is not None:
            await self.s.settle(self.request, done.result)

    def _write_record(self, done: a.Done | None) -> None:
        r = self.record
        r.hangup_by = done.hangup_by if done is not None else "engine"
        if done is not None and done.result != "answered":
            r.hangup_cause = done.result if done.cause is None else f"{done.result} ({done.cause})"
        if r.disposition == "answered":
            spec = self.s.queues.dist.queues.get(self.m.plan.queue)
            r.wrap_up_seconds = spec.wrap_up_s if spec is not None else None
        r.finish(self.s.ctx.wall())
        self.s.ctx.writer.submit(r)
        self.s.ctx.metrics.calls.labels(r.disposition, r.topic or "").inc()
        self.log.info("callback_call_end", disposition=r.disposition, hangup_by=r.hangup_by)
