"""Routes ARI events to their owners; the one place the Stasis verbs are dispatched.

Stasis arguments: the first is a verb, the same verbs ``dialplan/`` uses —
``inbound`` (a citizen's call: ``inbound,<DID>``), ``operator`` (the operator
leg the engine originated: ``operator,<call id>``), ``feature`` (a softphone
feature code: ``feature,<code>,<endpoint>``), ``federation`` (a call a peer
centre overflowed to us: ``federation,<federation id>,<origin>,<topic>,<waited
ms>,<hops>,<caller>``, read from its X-CTO-* SIP headers by ``dialplan/``).
The formats are built and parsed in ``calls/wire.py``. The websocket reader
calls ``on_event``; it only routes and hands over, it never awaits, and no
event can take it down: a failure is logged, counted, and costs at most the
one call it was about. After every (re)connect ``resume`` reconciles what the
engine owns with what Asterisk has (``calls/reconcile.py``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ctoengine.agents.features import FeatureCall
from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.calls import protocol as p
from ctoengine.calls import reconcile as r
from ctoengine.calls import wire
from ctoengine.calls.context import CallContext
from ctoengine.calls.task import CallTask, lost_destroyed
from ctoengine.errors import AriError
from ctoengine.logs import get_logger

if TYPE_CHECKING:
    from ctoengine.queues.service import RestoredCall

log = get_logger("ctoengine.dispatch")


class Owner(Protocol):
    def deliver(self, event: Any) -> None: ...


VerbHandler = Callable[[ari.StasisStart], None]

ENDED_REMEMBERED = 10_000  # call ids whose row is written: never run again if their channel lingers


class Dispatcher:
    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        ctx.adopt = self.adopt
        ctx.release = self.release
        self.owners: dict[str, Owner] = {}
        self.calls: dict[str, CallTask] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: list[Callable[[ari.AriEvent], None]] = []
        self.ended: OrderedDict[str, None] = OrderedDict()
        self.verbs: dict[str, VerbHandler] = {
            wire.INBOUND: self._inbound,
            wire.OPERATOR: self._operator_leg,
            wire.FEATURE: self._feature,
            wire.FEDERATION: self._federation,
            wire.CALLBACK: self._operator_leg,  # a callback's legs go to the attempt that made them
            wire.LISTEN: self._operator_leg,  # a supervisor's phone and snoops: their listen session
        }

    # --- the reader's entry point ----------------------------------------
    def on_event(self, event: ari.AriEvent) -> None:
        started = time.perf_counter()
        metrics = self.ctx.metrics
        metrics.ari_events.labels(event.type).inc()
        try:
            self._route(event)
        except Exception as e:  # nothing an event carries may kill the websocket reader
            self._dispatch_failed(event, e)
        metrics.event_handling.observe(time.perf_counter() - started)

    def _dispatch_failed(self, event: ari.AriEvent, e: Exception) -> None:
        """Log (the event's type and where it failed: no caller data), count, and refuse the one
        call it was about when nobody owns it yet."""
        tb = e.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        where = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}" if tb else "?"
        log.error("event_dispatch_failed", event_type=event.type, error=type(e).__name__, where=where)
        self.ctx.metrics.event_dispatch_errors.labels(event.type).inc()
        if isinstance(event, ari.StasisStart) and event.channel.id not in self.owners:
            self.spawn(self._hangup(event.channel.id))

    def _route(self, event: ari.AriEvent) -> None:
        if isinstance(event, ari.StasisStart):
            verb = wire.verb(event.args)
            handler = self.verbs.get(verb)
            if handler is None:
                log.warning("unknown_stasis_verb", verb=verb, channel=event.channel.name)
                self.spawn(self._hangup(event.channel.id))
                return
            handler(event)
            return
        for listener in self.listeners:
            listener(event)
        channel_id = ari.channel_of(event)
        if channel_id is None:
            return
        owner = self.owners.get(channel_id)
        if owner is not None:
            owner.deliver(event)
            if isinstance(event, ari.ChannelDestroyed):
                self.release(channel_id)

    # --- verbs ------------------------------------------------------------
    def _inbound(self, event: ari.StasisStart) -> None:
        channel = event.channel
        if channel.id in self.owners:  # a duplicate StasisStart (e.g. after a reconnect)
            return
        dialed = wire.inbound_dialed(event.args)
        if dialed is None:
            dialed = channel.dialplan.exten if channel.dialplan else ""
        self._start(CallTask(self.ctx, channel, dialed))

    def _federation(self, event: ari.StasisStart) -> None:
        channel = event.channel
        if channel.id in self.owners:
            return
        parsed = wire.parse_federation(event.args[1:], self._topics())
        fed = self.ctx.queues.federation if self.ctx.queues is not None else None
        peers = fed.cfg.peers if fed is not None and fed.cfg is not None else {}
        # A metric label only for a configured peer: a sender cannot grow the label set.
        origin = parsed.origin if parsed.origin in peers else "?"
        if isinstance(parsed, wire.Refused):
            refusal = parsed.reason
        elif origin == "?":
            refusal = "origin is not a configured peer"
        elif fed is None or not fed.accepts(parsed.topic):
            refusal = "topic not accepted now"
        else:
            refusal = ""
        self.ctx.metrics.overflows_received.labels(origin, "refused" if refusal else "accepted").inc()
        if refusal or not isinstance(parsed, wire.Incoming):
            # Congestion (cause 34): the sending engine puts the caller back in its own queue.
            log.info("overflow_refused", origin=origin, reason=refusal)
            self.spawn(self._hangup(channel.id, "congestion"))
            return
        task = CallTask(self.ctx, channel, "overflow")
        task.incoming = parsed
        self._start(task)

    def _topics(self) -> set[str]:
        return {t.code for t in self.ctx.routing().topics}

    def _start(self, task: CallTask) -> None:
        self.owners[task.call_id] = task
        self.calls[task.call_id] = task
        self.spawn(self._run_call(task))

    def _operator_leg(self, event: ari.StasisStart) -> None:
        call_id = wire.leg_call_id(event.args)
        owner = self.owners.get(call_id)
        if owner is None:
            log.info("orphan_operator_leg", call_id=call_id)
            self.spawn(self._hangup(event.channel.id))
            return
        self.adopt(event.channel.id, owner)
        owner.deliver(event)

    def _feature(self, event: ari.StasisStart) -> None:
        call = FeatureCall(self.ctx.ari, self.ctx.queues, event)
        self.owners[event.channel.id] = call
        self.spawn(self._run_feature(call, event.channel.id))

    async def _run_feature(self, call: FeatureCall, channel_id: str) -> None:
        try:
            await call.run()
        finally:
            self.owners.pop(channel_id, None)

    async def resume(self, restored: dict[str, RestoredCall]) -> None:
        """After every (re)connect and at start: reconcile the calls and operators the engine owns
        with the channels Asterisk has (the rules: ``calls/reconcile.py``).

        A caller of the last engine's snapshot (``restored``) gets his place back:
        waiting with his original wait, or connected to the same operator or peer
        centre; one who was in the IVR hears it again (the last engine's IVR state
        is not kept). A call of the snapshot whose channel is gone ended while no
        engine ran: its row is written now.
        """
        # What we own is read before Asterisk is asked: a call that starts in between is
        # not in the list and must not be taken for gone.
        owned = [
            r.OwnedCall(t.call_id, frozenset(t.legs), frozenset(t.playbacks)) for t in self.calls.values()
        ]
        listed = await self.ctx.ari.list_channels()
        live, channels = self._live(listed)
        queues = self.ctx.queues
        if queues is not None:
            for call_id, saved in restored.items():
                if call_id not in channels:
                    await queues.vanished(call_id, saved)
        agents = queues.agents_on_call() if queues is not None else {}
        actions = r.reconcile(owned, live, agents, self.ended)
        for action in actions:
            try:
                await self._apply(action, channels, restored)
            except AriError as e:
                log.warning("reconcile_step_failed", action=type(action).__name__, error=str(e))
            except Exception as e:  # one call's trouble must not stop the others' reconciliation
                log.error("reconcile_step_crashed", action=type(action).__name__, error=type(e).__name__)
        counts: dict[str, int] = {}
        for action in actions:
            counts[type(action).__name__] = counts.get(type(action).__name__, 0) + 1
        log.info("ari_reconciled", channels=len(live), **counts)

    def _live(self, listed: list[dict[str, Any]]) -> tuple[list[r.LiveChannel], dict[str, ari.Channel]]:
        app = self.ctx.ari.app
        live: list[r.LiveChannel] = []
        channels: dict[str, ari.Channel] = {}
        for raw in listed:
            try:
                channel = ari.Channel.model_validate(raw)
            except ValueError:
                continue
            dialplan = raw.get("dialplan") or {}
            args = None
            if dialplan.get("app_name") == "Stasis":
                parsed = wire.stasis_args(str(dialplan.get("app_data", "")), app)
                args = tuple(parsed) if parsed is not None else None
            live.append(r.LiveChannel(channel.id, args))
            channels[channel.id] = channel
        return live, channels

    async def _apply(
        self, action: r.Action, channels: dict[str, ari.Channel], restored: dict[str, RestoredCall]
    ) -> None:
        m = self.ctx.metrics.reconciled
        match action:
            case r.Continue():
                pass
            case r.CallerGone(call_id=call_id):
                task = self.calls.get(call_id)
                if task is not None and not await self.ctx.ari.channel_exists(call_id):
                    m.labels("caller_gone").inc()
                    task.deliver(lost_destroyed(call_id))
            case r.LegGone(call_id=call_id, leg=leg):
                task = self.calls.get(call_id)
                if task is not None and not await self.ctx.ari.channel_exists(leg):
                    m.labels("leg_gone").inc()
                    task.deliver(lost_destroyed(leg))
                    self.release(leg)
            case r.LegUp(call_id=call_id, leg=leg):
                task = self.calls.get(call_id)
                if task is not None and leg in channels:
                    args = [wire.OPERATOR, call_id]
                    task.deliver(ari.StasisStart(type="StasisStart", args=args, channel=channels[leg]))
            case r.CheckPlaybacks(call_id=call_id, playbacks=playbacks):
                task = self.calls.get(call_id)
                for pb in sorted(playbacks):
                    if task is not None and not await self.ctx.ari.playback_exists(pb):
                        m.labels("playback_finished").inc()
                        task.deliver(p.PlaybackFinished(pb))
            case r.TakeBack(channel_id=channel_id, args=args):
                if channel_id in self.owners or channel_id not in channels:
                    return
                self._take_back(channels[channel_id], args, restored.get(channel_id))
                m.labels("taken_back").inc()
            case r.Hangup(channel_id=channel_id, why=why):
                log.info("reconcile_hangup", channel=channel_id, why=why)
                m.labels("hung_up").inc()
                await self._hangup(channel_id)
            case r.ReleaseAgent(agent_id=agent, call_id=call_id):
                if self.ctx.queues is not None and call_id not in self.calls:
                    log.warning("agent_released", agent=agent, call_id=call_id)
                    m.labels("agent_released").inc()
                    self.ctx.queues.release_agent(agent, call_id)

    def _take_back(self, channel: ari.Channel, args: tuple[str, ...], saved: RestoredCall | None) -> None:
        if wire.verb(args) == wire.FEDERATION:
            parsed = wire.parse_federation(args[1:], self._topics())
            if isinstance(parsed, wire.Refused):
                log.info("overflow_refused", origin="?", reason=parsed.reason)
                self.spawn(self._hangup(channel.id, "congestion"))
                return
            task = CallTask(self.ctx, channel, "overflow")
            task.incoming = parsed
        else:
            task = CallTask(self.ctx, channel, wire.inbound_dialed(args) or "")
        task.resume = saved
        log.info("call_taken_back", call_id=channel.id, waiting=task.resume is not None)
        self._start(task)

    def adopt(self, channel_id: str, owner: Owner) -> None:
        """Route a channel's events (e.g. an originated leg) to ``owner``."""
        self.owners[channel_id] = owner
        if isinstance(owner, CallTask) and channel_id != owner.call_id:
            owner.legs.add(channel_id)

    def release(self, channel_id: str) -> None:
        owner = self.owners.pop(channel_id, None)
        if isinstance(owner, CallTask):
            owner.legs.discard(channel_id)

    async def _run_call(self, task: CallTask) -> None:
        try:
            await task.run()
        finally:
            self.calls.pop(task.call_id, None)
            self.owners.pop(task.call_id, None)
            if not task.detached:  # its row is written: the call never runs again
                self.ended[task.call_id] = None
                while len(self.ended) > ENDED_REMEMBERED:
                    self.ended.popitem(last=False)

    async def _hangup(self, channel_id: str, reason: str = "normal") -> None:
        try:
            await ignore_gone(self.ctx.ari.hangup(channel_id, reason))
        except AriError as e:
            log.warning("hangup_failed", error=str(e))

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def shutdown(self) -> None:
        # Callers stay in Asterisk's Stasis application: the next engine takes them back.
        for call in self.calls.values():
            call.detached = True
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.wait(self.tasks, timeout=10)
