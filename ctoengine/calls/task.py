"""One task per call: it owns the call's state and handles its events one at a time.

The task feeds core events and ``now`` into the pure machines (IVR, then the
queue) and executes the commands they return over ARI. Its teardown (hang up,
write the record) runs in ``finally``, shielded and time-limited, so a call
always leaves exactly one record whatever happened.

Every wait for an event is bounded (``get_event``): at least every
``WATCHDOG_S`` the task asks Asterisk whether its channel, its legs and its
playbacks still exist, and feeds itself the events that were lost. The event
queue is bounded too, except for the events that end a call (``must_deliver``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.calls import protocol as p
from ctoengine.calls.context import CallContext
from ctoengine.calls.timers import Timers
from ctoengine.calls.transfer import transfer_external
from ctoengine.calls.wire import Incoming
from ctoengine.config import entry_plan
from ctoengine.config.plan import active_announcements
from ctoengine.errors import AriError, DatabaseError
from ctoengine.ivr.flow import IvrMachine
from ctoengine.ivr.heard import heard, mark
from ctoengine.logs import get_logger, scrub_text
from ctoengine.records.model import CallRecord

if TYPE_CHECKING:
    from ctoengine.queues.service import RestoredCall
    from ctoengine.queues.session import QueueSession

log = get_logger("ctoengine.calls")

QUEUE_SIZE = 256
TEARDOWN_SECONDS = 5.0
WATCHDOG_S = 30.0  # how often a waiting call checks with Asterisk that what it waits for exists
SAY_LIMIT_S = 300.0  # the longest a ``say`` waits for its playback, whatever Asterisk says
LOST_CAUSE = "lost while the engine was not listening"


def must_deliver(event: object) -> bool:
    """Events a full queue never drops: each one ends the call (or a leg of it) for good."""
    return isinstance(event, ari.ChannelDestroyed | ari.StasisEnd | p.CallerHungUp)


def lost_destroyed(channel_id: str) -> ari.ChannelDestroyed:
    """The ``ChannelDestroyed`` Asterisk sent while nobody listened (found out by asking it)."""
    return ari.ChannelDestroyed(
        type="ChannelDestroyed", channel=ari.Channel(id=channel_id), cause=0, cause_txt=LOST_CAUSE
    )


class CallTask:
    """Owns one inbound call from StasisStart to its record."""

    def __init__(self, ctx: CallContext, channel: ari.Channel, dialed: str) -> None:
        self.ctx = ctx
        self.channel = channel
        self.call_id = channel.id
        self.dialed = dialed
        self.config = ctx.routing()  # a call finishes on the configuration it started with
        # ARI events, core events, and the queue service's commands for this call.
        # Unbounded as a queue; ``deliver`` keeps the bound for all but the terminal events.
        self.events: asyncio.Queue[Any] = asyncio.Queue()
        self.legs: set[str] = set()  # channels the call originated, routed here (kept by the dispatcher)
        self.playbacks: set[str] = set()  # started and not yet known to be finished
        self.loop = asyncio.get_running_loop()
        self.timers = Timers(lambda name: self.deliver(p.TimerFired(name)), self.loop.time)
        self.children: set[asyncio.Task[Any]] = set()
        self._next_probe = self.loop.time() + WATCHDOG_S
        self.gone = False
        self.hangup_requested = False
        self.log = log.bind(call_id=self.call_id)
        self.record = CallRecord(
            call_id=self.call_id,
            centre=self.config.centre.name,
            instance=ctx.instance,
            started_at=ctx.wall(),
            caller_number=channel.caller.number or None,
            dialed_number=dialed,
        )
        self.ivr: IvrMachine | None = None
        self.queue_session: QueueSession | None = None  # set by the queue service while queued
        # Set on a graceful engine stop: the channel stays in Asterisk for the next engine.
        self.detached = False
        # Set when a restarted engine takes back a caller it had in a queue, waiting or connected.
        self.resume: RestoredCall | None = None
        self.incoming: Incoming | None = None  # set for a call a peer centre overflowed to us
        self.transfer_fallback: str | None = None  # the queue after an external transfer that failed

    @property
    def hops(self) -> int:
        """How many times this call was overflowed between centres before it reached us."""
        return self.incoming.hops if self.incoming is not None else 0

    # --- input ------------------------------------------------------------
    def deliver(self, event: Any) -> None:
        """Called by the dispatcher (never blocks). A full queue means a stuck call: its other
        events are dropped (counted), never the one that ends it."""
        if isinstance(event, ari.PlaybackFinished):
            self.playbacks.discard(event.playback.id)
        elif isinstance(event, p.PlaybackFinished):
            self.playbacks.discard(event.playback_id)
        if self.events.qsize() >= QUEUE_SIZE and not must_deliver(event):
            self.ctx.metrics.call_events_dropped.labels(type(event).__name__).inc()
            self.log.error("call_queue_full", dropped=type(event).__name__)
            return
        self.events.put_nowait(event)

    async def get_event(self) -> Any:
        """The next item of the queue; meanwhile, every ``WATCHDOG_S``, the truth from Asterisk."""
        while True:
            if not self.events.empty():
                return self.events.get_nowait()
            wait = self._next_probe - self.loop.time()
            if wait <= 0:
                self._next_probe = self.loop.time() + WATCHDOG_S
                await self.probe()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    return await self.events.get()

    async def probe(self) -> None:
        """The watchdog: is what this call waits for still there? A channel or a playback that
        is gone without its event gets the event now (a 404 is the answer, not an error)."""
        ari_ = self.ctx.ari
        lost: list[Any] = []
        try:
            if not self.gone and not await ari_.channel_exists(self.call_id):
                lost.append(lost_destroyed(self.call_id))
            for leg in sorted(self.legs):
                if not await ari_.channel_exists(leg):
                    lost.append(lost_destroyed(leg))
            for pb in sorted(self.playbacks):
                if not await ari_.playback_exists(pb):
                    lost.append(p.PlaybackFinished(pb))
        except AriError as e:  # Asterisk unreachable: the reconnect's reconciliation will tell
            self.log.info("watchdog_unanswered", error=str(e))
            return
        for event in lost:
            self.log.warning("watchdog_recovered", event_type=type(event).__name__)
            self.ctx.metrics.watchdog_recoveries.labels(type(event).__name__).inc()
            if isinstance(event, ari.ChannelDestroyed) and event.channel.id != self.call_id:
                self.ctx.release(event.channel.id)
            self.deliver(event)

    def now(self) -> float:
        return self.loop.time()

    def _to_core(self, event: Any) -> p.Event | None:
        if isinstance(event, p.Dtmf | p.PlaybackFinished | p.TimerFired | p.CallerHungUp | p.LookupResult):
            return event
        if isinstance(event, ari.ChannelDtmfReceived) and event.channel.id == self.call_id:
            return p.Dtmf(event.digit)
        if isinstance(event, ari.PlaybackFinished):
            return p.PlaybackFinished(event.playback.id)
        if isinstance(event, ari.ChannelDestroyed) and event.channel.id == self.call_id:
            self.record.hangup_cause = event.cause_txt or str(event.cause)
            self.gone = True
            return p.CallerHungUp()
        if isinstance(event, ari.StasisEnd) and event.channel.id == self.call_id:
            self.gone = True
            return p.CallerHungUp()
        return None

    async def next_event(self) -> p.Event:
        while True:
            core = self._to_core(await self.get_event())
            if core is not None:
                return core

    # --- the flow ---------------------------------------------------------
    async def run(self) -> None:
        self.ctx.metrics.calls_started.inc()
        self.ctx.metrics.active_calls.inc()
        self.log.info("call_start", caller=self.record.caller_number, dialed=self.dialed)
        try:
            if self.resume is not None and self.ctx.queues is not None:
                r = self.resume
                self.ctx.queues.take_back(self, r)
                if r.leg is not None:
                    await self.ctx.queues.serve_reattached(self, r)
                else:
                    self.record.topic = r.topic
                    await self._run_queue(r.topic, r.entered_at)
                return
            if self.channel.state != "Up":  # the hotline dialplan answers before Stasis()
                await self.ctx.ari.answer(self.call_id)
            if self.incoming is not None:
                await self._run_overflowed_in(self.incoming)
                return
            topic = await self._run_ivr()
            if topic is None and self.transfer_fallback is not None:
                topic = self.record.topic = self.config.queues[self.transfer_fallback].topic
            if topic is not None and not self.gone:
                await self._run_queue(topic)
        except AriError as e:
            if not self.gone:
                self.log.warning("call_ari_error", error=str(e))
                self.record.disposition = "failed"
        except asyncio.CancelledError:
            self.log.info("call_cancelled")
            raise
        finally:
            await asyncio.shield(self._teardown_limited())

    async def _run_ivr(self) -> str | None:
        wall = self.ctx.wall()
        once = [a.id for a in active_announcements(self.config, self.dialed, wall) if a.mode == "once"]
        caller = self.record.caller_number
        heard_before: frozenset[str] = frozenset()
        if once and caller and self.ctx.pool is not None:
            try:
                pool = await self.ctx.pool()
            except DatabaseError:
                pass  # the database is down: the announcement plays (better twice than never)
            else:
                heard_before = await heard(pool, caller, once)
                self.spawn(mark(pool, caller, [i for i in once if i not in heard_before]))
        plan = entry_plan(self.config, self.dialed, wall, heard_before)
        machine = self.ivr = IvrMachine(plan, self.config, self.call_id)
        await self.execute(machine.start(self.now()))
        while not machine.done:
            event = await self.next_event()
            await self.execute(machine.handle(event, self.now()))
        self.record.ivr_path = list(machine.path)
        self.record.ivr_ended_at = self.ctx.wall()
        if machine.lookup_refused:
            self.ctx.metrics.selfservice_lookups_refused.inc()
            self.log.warning("selfservice_lookup_limit", lookups=machine.lookups)
        if machine.disposition is not None:
            self.record.disposition = machine.disposition  # type: ignore[assignment]
            return None
        self.record.topic = machine.topic
        return machine.topic

    async def _run_overflowed_in(self, inc: Incoming) -> None:
        """A peer's caller: no IVR, straight into the topic's queue with his wait counted."""
        self.record.federation_id = inc.federation_id
        self.record.topic = inc.topic
        self.record.ivr_path = [f"overflow:{inc.origin}"]
        # The trunk's own caller id names the peer centre; the citizen is in the header.
        self.record.caller_number = inc.caller or None
        self.log.info("overflow_received", origin=inc.origin, federation_id=inc.federation_id)
        await self._run_queue(inc.topic, self.now() - inc.waited_s)

    async def _run_queue(self, topic: str, entered_at: float | None = None) -> None:
        if self.ctx.queues is None:
            self.log.warning("no_queue_service", topic=topic)
            self.record.disposition = "failed"
            return
        await self.ctx.queues.serve(self, topic, entered_at)

    # --- commands ---------------------------------------------------------
    async def execute(self, commands: Iterable[p.Command]) -> None:
        for cmd in commands:
            await self._execute_one(cmd)

    async def _execute_one(self, cmd: p.Command) -> None:
        ari_ = self.ctx.ari
        if isinstance(cmd, p.StartTimer):
            self.timers.start(cmd.name, cmd.at)
        elif isinstance(cmd, p.CancelTimer):
            self.timers.cancel(cmd.name)
        elif self.gone:
            return  # nothing more to say to a channel that is gone
        elif isinstance(cmd, p.Play):
            if await ignore_gone(ari_.play(self.call_id, cmd.playback_id, list(cmd.media))):
                self.playbacks.add(cmd.playback_id)
            else:
                self.deliver(p.PlaybackFinished(cmd.playback_id))
        elif isinstance(cmd, p.StopPlayback):
            await ignore_gone(ari_.stop_playback(cmd.playback_id))
        elif isinstance(cmd, p.Hangup):
            self.hangup_requested = True
            self.record.hangup_by = self.record.hangup_by or "engine"
            await ignore_gone(ari_.hangup(self.call_id, cmd.reason))
        elif isinstance(cmd, p.Enqueue):
            pass  # the IVR loop ends on machine.done and hands the topic to the queue
        elif isinstance(cmd, p.LookupApplication):
            self.spawn(self._lookup(cmd.number))
        elif isinstance(cmd, p.TransferExternal):
            await transfer_external(self, cmd.destination)

    async def _lookup(self, number: str) -> None:
        try:
            result = await self.ctx.status_provider.lookup(number)
        except Exception as e:  # a provider bug must not leave the caller in silence
            self.log.error("status_lookup_crashed", error=scrub_text(repr(e), number))
            result = p.LookupResult(number=number, status=None, failed=True)
        self.record.self_service = {
            "application": number,
            "status": result.status,
            "failed": result.failed,
        }
        self.deliver(result)

    async def say(self, playback_id: str, media: list[str], limit: float = SAY_LIMIT_S) -> None:
        """Play and wait until it is over, or until the caller hangs up (then ``gone``).
        Other events meanwhile are dropped: nothing else is listened to during it. A lost
        ``PlaybackFinished`` is found by the watchdog (``get_event``); ``limit`` bounds the rest."""
        if not await ignore_gone(self.ctx.ari.play(self.call_id, playback_id, media)):
            return
        self.playbacks.add(playback_id)
        try:
            async with asyncio.timeout(limit):
                while True:
                    core = self._to_core(await self.get_event())
                    if isinstance(core, p.PlaybackFinished) and core.playback_id == playback_id:
                        return
                    if isinstance(core, p.CallerHungUp):
                        return
        except TimeoutError:
            self.log.warning("say_limit_reached", playback=playback_id)
            with contextlib.suppress(AriError):
                await ignore_gone(self.ctx.ari.stop_playback(playback_id))
        finally:
            self.playbacks.discard(playback_id)

    def spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self.children.add(task)
        task.add_done_callback(self.children.discard)

    # --- teardown ---------------------------------------------------------
    async def _teardown_limited(self) -> None:
        if self.detached:
            self.timers.cancel_all()
            self.ctx.metrics.active_calls.dec()
            self.log.info("call_detached")
            return
        try:
            async with asyncio.timeout(TEARDOWN_SECONDS):
                await self._teardown()
        except TimeoutError:
            self.log.error("call_teardown_timeout")
        finally:
            self._write_record()

    async def _teardown(self) -> None:
        self.timers.cancel_all()
        for child in list(self.children):
            child.cancel()
        if self.ctx.queues is not None:
            await self.ctx.queues.release(self)
        if not self.gone:
            with contextlib.suppress(AriError):
                await ignore_gone(self.ctx.ari.hangup(self.call_id))

    def _write_record(self) -> None:
        if self.record.hangup_by is None:
            self.record.hangup_by = "caller" if self.gone and not self.hangup_requested else "engine"
        if self.record.disposition == "failed" and self.ivr is not None and not self.record.ivr_path:
            self.record.ivr_path = list(self.ivr.path)
            if self.ivr.disposition is not None:
                self.record.disposition = self.ivr.disposition  # type: ignore[assignment]
        self.record.finish(self.ctx.wall())
        self.ctx.writer.submit(self.record)
        self.ctx.metrics.active_calls.dec()
        self.ctx.metrics.calls.labels(self.record.disposition, self.record.topic or "").inc()
        self.log.info(
            "call_end",
            disposition=self.record.disposition,
            topic=self.record.topic,
            agent=self.record.agent_id,
            hangup_by=self.record.hangup_by,
        )
