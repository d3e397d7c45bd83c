"""Routes ARI events to their owners; the one place the Stasis verbs are dispatched.

Stasis arguments: the first is a verb, the same verbs ``dialplan/`` uses —
``inbound`` (a citizen's call: ``inbound,<DID>``), ``operator`` (the operator
leg the engine originated: ``operator,<call id>``), ``feature`` (a softphone
feature code: ``feature,<code>,<endpoint>``), ``federation`` (a call a peer
centre overflowed to us: ``federation,<federation id>,<origin>,<topic>,<waited
ms>,<hops>,<caller>``, read from its X-CTO-* SIP headers by ``dialplan/``).
The websocket reader calls ``on_event``; it only routes and hands over, it
never awaits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ctoengine.agents.features import FeatureCall
from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.calls.context import CallContext
from ctoengine.calls.task import CallTask, Incoming
from ctoengine.errors import AriError
from ctoengine.logs import get_logger

if TYPE_CHECKING:
    from ctoengine.queues.service import RestoredCall

log = get_logger("ctoengine.dispatch")


class Owner(Protocol):
    def deliver(self, event: Any) -> None: ...


VerbHandler = Callable[[ari.StasisStart], None]


class Dispatcher:
    def __init__(self, ctx: CallContext) -> None:
        self.ctx = ctx
        ctx.adopt = self.adopt
        ctx.release = self.release
        self.owners: dict[str, Owner] = {}
        self.calls: dict[str, CallTask] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.listeners: list[Callable[[ari.AriEvent], None]] = []
        self.verbs: dict[str, VerbHandler] = {
            "inbound": self._inbound,
            "operator": self._operator_leg,
            "feature": self._feature,
            "federation": self._federation,
        }

    # --- the reader's entry point ----------------------------------------
    def on_event(self, event: ari.AriEvent) -> None:
        started = time.perf_counter()
        metrics = self.ctx.metrics
        metrics.ari_events.labels(event.type).inc()
        try:
            self._route(event)
        except Exception:  # a bug in routing must not kill the websocket reader
            log.exception("dispatch_failed", event=event.type)
        metrics.event_handling.observe(time.perf_counter() - started)

    def _route(self, event: ari.AriEvent) -> None:
        if isinstance(event, ari.StasisStart):
            verb = event.args[0] if event.args else ""
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
                self.owners.pop(channel_id, None)

    # --- verbs ------------------------------------------------------------
    def _inbound(self, event: ari.StasisStart) -> None:
        channel = event.channel
        if channel.id in self.owners:  # a duplicate StasisStart (e.g. after a reconnect)
            return
        dialed = (
            event.args[1] if len(event.args) > 1 else (channel.dialplan.exten if channel.dialplan else "")
        )
        task = CallTask(self.ctx, channel, dialed)
        self.owners[channel.id] = task
        self.calls[channel.id] = task
        self.spawn(self._run_call(task))

    def _federation(self, event: ari.StasisStart) -> None:
        channel = event.channel
        if channel.id in self.owners:
            return
        incoming = Incoming.from_args(event.args[1:])
        fed = self.ctx.queues.federation if self.ctx.queues is not None else None
        accepted = (
            incoming is not None
            and incoming.hops <= 1  # sent on once already: a loop, refuse
            and fed is not None
            and fed.accepts(incoming.topic)
        )
        origin = incoming.origin if incoming is not None else "?"
        self.ctx.metrics.overflows_received.labels(origin, "accepted" if accepted else "refused").inc()
        if not accepted:
            # Congestion (cause 34): the sending engine puts the caller back in its own queue.
            log.info("overflow_refused", origin=origin, topic=incoming.topic if incoming else None)
            self.spawn(self._hangup(channel.id, "congestion"))
            return
        task = CallTask(self.ctx, channel, "overflow")
        task.incoming = incoming
        self.owners[channel.id] = task
        self.calls[channel.id] = task
        self.spawn(self._run_call(task))

    def _operator_leg(self, event: ari.StasisStart) -> None:
        call_id = event.args[1] if len(event.args) > 1 else ""
        owner = self.owners.get(call_id)
        if owner is None:
            log.info("orphan_operator_leg", call_id=call_id)
            self.spawn(self._hangup(event.channel.id))
            return
        self.owners[event.channel.id] = owner
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
        """After a (re)connect: take back callers still in our Stasis application.

        A caller of the last engine's snapshot (``restored``) gets his place back:
        waiting with his original wait, or connected to the same operator or peer
        centre; one who was in the IVR hears it again. A call of the snapshot
        whose channel is gone ended while no engine ran: its row is written now.
        """
        app = self.ctx.ari.app
        live: set[str] = set()
        for raw in await self.ctx.ari.list_channels():
            dialplan = raw.get("dialplan") or {}
            data = str(dialplan.get("app_data", "")).split(",")
            if (
                dialplan.get("app_name") != "Stasis"
                or data[0] != app
                or data[1:2] not in (["inbound"], ["federation"])
            ):
                continue
            channel = ari.Channel.model_validate(raw)
            live.add(channel.id)
            if channel.id in self.owners:
                continue
            if data[1] == "federation":
                task = CallTask(self.ctx, channel, "overflow")
                task.incoming = Incoming.from_args(data[2:])
            else:
                task = CallTask(self.ctx, channel, data[2] if len(data) > 2 else "")
            task.resume = restored.get(channel.id)
            log.info("call_taken_back", call_id=channel.id, waiting=task.resume is not None)
            self.owners[channel.id] = task
            self.calls[channel.id] = task
            self.spawn(self._run_call(task))
        if self.ctx.queues is not None:
            for call_id, r in restored.items():
                if call_id not in live:
                    await self.ctx.queues.vanished(call_id, r)

    def adopt(self, channel_id: str, owner: Owner) -> None:
        """Route a channel's events (e.g. an originated leg) to ``owner``."""
        self.owners[channel_id] = owner

    def release(self, channel_id: str) -> None:
        self.owners.pop(channel_id, None)

    async def _run_call(self, task: CallTask) -> None:
        try:
            await task.run()
        finally:
            self.calls.pop(task.call_id, None)
            self.owners.pop(task.call_id, None)

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
