"""Live listening's shell: one task per session runs the pure ``Listening`` machine
(``quality/listen.py``) over ARI. The API starts, switches and stops sessions.

The supervisor's leg and its snoops carry the Stasis arguments ``listen,<session id>``
(the session id is the supervisor's leg id), so the dispatcher routes their events
here; the operator's leg belongs to the call, so its end is watched through a
dispatcher listener (``on_event``). One session per call at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.calls import wire
from ctoengine.calls.context import CallContext
from ctoengine.errors import AriError, BadRequest, Conflict, NotFound
from ctoengine.logs import get_logger
from ctoengine.quality import listen as ls

log = get_logger("ctoengine.quality")

RING_S = 30


@dataclass(frozen=True)
class ListenState:
    call_id: str
    session: str
    mode: ls.Mode
    endpoint: str
    state: str  # dialing, connected, ended


class Session:
    def __init__(self, svc: ListenService, m: ls.Listening, user: str) -> None:
        self.svc = svc
        self.m = m
        self.user = user
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    def deliver(self, event: Any) -> None:
        self.events.put_nowait(event)

    def state(self) -> ListenState:
        return ListenState(self.m.call_id, self.m.leg, self.m.mode, self.m.endpoint, self.m.phase.value)

    async def run(self) -> None:
        try:
            await self._execute(self.m.start())
            while not self.m.ended:
                event = self._translate(await self.events.get())
                if event is not None:
                    await self._execute(self.m.handle(event))
        finally:
            self.svc.forget(self)

    def _translate(self, item: Any) -> ls.Event | None:
        if isinstance(item, ls.ModeAsked | ls.CallGone | ls.Failed):
            return item
        if isinstance(item, ari.StasisStart):
            return ls.Answered() if item.channel.id == self.m.leg else ls.SnoopUp(item.channel.id)
        if isinstance(item, ari.ChannelDestroyed) and item.channel.id == self.m.leg:
            return ls.SupervisorGone()
        return None

    async def _execute(self, commands: list[ls.Command]) -> None:
        for cmd in commands:
            try:
                await self._one(cmd)
            except AriError as e:
                log.warning(
                    "listen_step_failed", call_id=self.m.call_id, step=type(cmd).__name__, error=str(e)
                )
                if isinstance(cmd, ls.DialSupervisor | ls.Snoop | ls.AddToBridge | ls.CreateBridge):
                    self.deliver(ls.Failed(type(cmd).__name__))

    async def _one(self, cmd: ls.Command) -> None:
        a, d = self.svc.ctx.ari, self.svc.ctx
        match cmd:
            case ls.DialSupervisor(leg=leg, endpoint=endpoint):
                d.adopt(leg, self)
                await a.originate(
                    leg,
                    endpoint,
                    wire.listen_args(leg),
                    caller_id=f'"listen {self.m.call_id}" <listen>',
                    timeout=RING_S,
                )
            case ls.Snoop(channel=channel, target=target, spy=spy, whisper=whisper):
                d.adopt(channel, self)
                await a.snoop(target, channel, spy, whisper, wire.listen_args(self.m.leg))
            case ls.CreateBridge(bridge=bridge):
                await a.create_bridge(bridge)
            case ls.AddToBridge(bridge=bridge, channel=channel):
                await a.add_channels(bridge, [channel])
            case ls.RemoveFromBridge(bridge=bridge, channel=channel):
                await ignore_gone(a.remove_channel(bridge, channel))
            case ls.HangupChannel(channel=channel):
                d.release(channel)
                await ignore_gone(a.hangup(channel))
            case ls.DestroyBridge(bridge=bridge):
                await ignore_gone(a.destroy_bridge(bridge))
            case ls.Ended(reason=reason):
                log.info("listen_ended", call_id=self.m.call_id, user=self.user, reason=reason)


class ListenService:
    def __init__(
        self,
        ctx: CallContext,
        connected: Callable[[str], tuple[str, str] | None],
        allowed: Callable[[], list[str]],
    ) -> None:
        """``connected(call_id)``: (operator leg, call bridge) while talking to an operator;
        ``allowed()``: the supervisors' phones of the routing file."""
        self.ctx = ctx
        self.connected = connected
        self.allowed = allowed
        self.by_call: dict[str, Session] = {}
        self.watch: dict[str, Session] = {}  # operator leg -> its listening session
        self._seq = 0

    async def start(self, call_id: str, mode: ls.Mode, endpoint: str, user: str) -> ListenState:
        if endpoint not in self.allowed():
            raise BadRequest(
                f"{endpoint!r} is not a supervisor's phone (quality.supervisor_endpoints)",
                error_id="unknown_endpoint",
            )
        if call_id in self.by_call:
            raise Conflict(f"call {call_id!r} is already listened to", error_id="already_listening")
        found = self.connected(call_id)
        if found is None:
            raise NotFound(f"call {call_id!r} is not connected to an operator now", error_id="not_connected")
        leg, bridge = found
        self._seq += 1
        m = ls.Listening(call_id, self._seq, leg, bridge, endpoint, mode)
        s = Session(self, m, user)
        self.by_call[call_id] = s
        self.watch[leg] = s
        s.task = asyncio.get_running_loop().create_task(s.run(), name=f"listen-{call_id}")
        self.ctx.metrics.quality.listen_sessions.labels(mode).inc()
        log.info("listen_started", call_id=call_id, user=user, mode=mode, endpoint=endpoint)
        return s.state()

    def _session(self, call_id: str) -> Session:
        s = self.by_call.get(call_id)
        if s is None:
            raise NotFound(f"nobody listens to call {call_id!r}", error_id="not_listening")
        return s

    async def set_mode(self, call_id: str, mode: ls.Mode, user: str) -> ListenState:
        s = self._session(call_id)
        s.deliver(ls.ModeAsked(mode))
        log.info("listen_mode", call_id=call_id, user=user, mode=mode)
        return ListenState(call_id, s.m.leg, mode, s.m.endpoint, s.m.phase.value)

    async def stop(self, call_id: str, user: str) -> ListenState:
        s = self._session(call_id)
        with contextlib.suppress(AriError):
            await ignore_gone(self.ctx.ari.hangup(s.m.leg))  # its ChannelDestroyed ends the session
        log.info("listen_stopped", call_id=call_id, user=user)
        return ListenState(call_id, s.m.leg, s.m.mode, s.m.endpoint, "ended")

    def on_event(self, event: ari.AriEvent) -> None:
        """A dispatcher listener: the operator's leg is gone, the listening ends."""
        if isinstance(event, ari.ChannelDestroyed):
            s = self.watch.get(event.channel.id)
            if s is not None:
                s.deliver(ls.CallGone())

    def forget(self, s: Session) -> None:
        if self.by_call.get(s.m.call_id) is s:
            del self.by_call[s.m.call_id]
        if self.watch.get(s.m.operator_leg) is s:
            del self.watch[s.m.operator_leg]
        for channel in (s.m.leg, s.m.snoop):
            if channel is not None:
                self.ctx.release(channel)

    async def close(self) -> None:
        for s in list(self.by_call.values()):
            if s.task is not None:
                s.task.cancel()
