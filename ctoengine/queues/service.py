"""The shell around the distributor: one owner of agents and waiting callers.

The distributor (``machine.py``) is pure; this service feeds it events with
``now`` and routes the commands it returns: rings and announcements go to the
call task that owns the caller, agent state changes and queue events go to the
record writer and metrics, timers to the event loop. Everything runs on the
event loop's one thread and ``handle`` never awaits, so no lock is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ctoengine.agents.states import AgentSpec, AgentStateChanged
from ctoengine.ari import events as ari
from ctoengine.ari.client import AriClient, ignore_gone
from ctoengine.calls import protocol as p
from ctoengine.calls.context import CallContext
from ctoengine.calls.timers import Timers
from ctoengine.config.routing import RoutingConfig
from ctoengine.errors import AriError
from ctoengine.federation.service import FederationService, OverflowTo
from ctoengine.logs import get_logger
from ctoengine.metrics.sla import RollingSla
from ctoengine.queues import distributor as q
from ctoengine.records.model import AgentEventRecord, CallRecord, QueueEventRecord, from_json, to_json

if TYPE_CHECKING:
    from ctoengine.calls.dispatch import Dispatcher
    from ctoengine.calls.task import CallTask

log = get_logger("ctoengine.queues")


@dataclass
class TransferRequest:
    """Delivered to a call's task by the API: send the connected caller to ``queue`` or ``agent``."""

    queue: str | None
    agent: str | None
    done: asyncio.Future[bool]


@dataclass
class RestoredCall:
    """A call the last engine had in a queue, as its snapshot tells: waiting (no ``leg``) or
    connected by ``leg`` to an operator (``agent``) or a peer centre (``peer``)."""

    topic: str
    entered_at: float
    record: CallRecord | None
    leg: str | None = None
    agent: str | None = None
    peer: str | None = None


def _record(saved: Any) -> CallRecord | None:
    try:
        record = from_json({"table": "calls", "row": saved["record"]})
    except (KeyError, TypeError, ValueError):
        return None
    return record if isinstance(record, CallRecord) else None


class QueueService:
    def __init__(
        self,
        ctx: CallContext,
        dispatcher: Dispatcher,
        distributor: q.Distributor,
        persist: Callable[[dict[str, Any]], None],
        persist_call: Callable[[str, dict[str, Any] | None], None] = lambda call_id, saved: None,
    ) -> None:
        self.ctx = ctx
        self.dispatcher = dispatcher
        self.dist = distributor
        self.loop = asyncio.get_running_loop()
        self.timers = Timers(lambda name: self.feed(q.Tick(name)), self.loop.time)
        self.calls: dict[str, CallTask] = {}
        self._persist = persist
        self._persist_call = persist_call
        self._persist_handle: asyncio.TimerHandle | None = None
        self.federation: FederationService | None = None  # set by the engine when peers are configured
        self.sla = RollingSla(ZoneInfo(ctx.routing().centre.timezone))

    def now(self) -> float:
        return self.loop.time()

    # --- the only way into the distributor ---------------------------------
    def feed(self, event: Any) -> None:
        commands = self.dist.handle(event, self.now())
        for cmd in commands:
            self._route(cmd)
        self._schedule_persist()

    def _route(self, cmd: Any) -> None:
        if isinstance(cmd, p.StartTimer):
            self.timers.start(cmd.name, cmd.at)
        elif isinstance(cmd, p.CancelTimer):
            self.timers.cancel(cmd.name)
        elif isinstance(cmd, AgentStateChanged):
            self.ctx.metrics.agent_state_changes.labels(cmd.from_state, cmd.to_state).inc()
            self.ctx.writer.submit(
                AgentEventRecord(
                    agent_id=cmd.agent_id,
                    from_state=str(cmd.from_state),
                    to_state=str(cmd.to_state),
                    reason=cmd.reason,
                    at=self._wall_at(cmd.at),
                    instance=self.ctx.instance,
                )
            )
            log.info(
                "agent_state",
                agent=cmd.agent_id,
                frm=str(cmd.from_state),
                to=str(cmd.to_state),
                reason=cmd.reason,
            )
        elif isinstance(cmd, q.QueueLog):
            # An "overflow" leave is only an attempt: the outcome is counted when the peer answers.
            if cmd.kind in ("answer", "abandon", "exit") and cmd.wait_s is not None:
                self.outcome(cmd.queue, cmd.kind, cmd.wait_s, self._wall_at(cmd.at))
            self.ctx.writer.submit(
                QueueEventRecord(
                    call_id=cmd.call_id,
                    queue=cmd.queue,
                    kind=cmd.kind,
                    agent_id=cmd.agent_id,
                    wait_s=None if cmd.wait_s is None else round(cmd.wait_s, 3),
                    at=self._wall_at(cmd.at),
                    instance=self.ctx.instance,
                )
            )
        else:
            call_id = getattr(cmd, "call_id", None)
            task = self.calls.get(call_id) if call_id else None
            if task is not None:
                task.deliver(cmd)
            else:
                log.info("queue_command_for_gone_call", command=type(cmd).__name__, call_id=call_id)

    def outcome(self, queue: str, kind: str, wait_s: float, at: datetime) -> None:
        self.ctx.metrics.queue_wait.labels(queue, kind).observe(wait_s)
        self.sla.observe(queue, kind, wait_s, at)

    def _wall_at(self, mono: float) -> datetime:
        return self.ctx.wall() - timedelta(seconds=max(0.0, self.now() - mono))

    # --- persistence (waiting callers and agents survive a restart) ---------
    def _schedule_persist(self) -> None:
        if self._persist_handle is None:
            self._persist_handle = self.loop.call_later(0.05, self._do_persist)

    def _do_persist(self) -> None:
        self._persist_handle = None
        # Waits are stored as "seconds ago" at a wall time: monotonic clocks do not survive a restart.
        self._persist({"wall": self.ctx.wall().isoformat(), "state": self.dist.snapshot(self.now())})

    def save_call(self, task: CallTask) -> None:
        """Store the call's record so far, and its leg once connected: a restarted engine finishes
        the same row. Called when they change (queue entry, connection, transfer)."""
        session = getattr(task, "queue_session", None)
        leg = session.leg_id if session is not None and session.bridged else None
        saved = {
            "record": to_json(task.record)["row"],
            "leg": leg,
            "peer": task.record.overflow_peer if leg else None,
        }
        self._persist_call(task.call_id, saved)

    def queue_for(self, topic: str) -> str:
        if topic in self.dist.queues:
            return topic
        return next(name for name, spec in self.dist.queues.items() if spec.topic == topic)

    async def transfer(self, call_id: str, queue: str | None, agent: str | None) -> bool:
        """Blind transfer of a connected call; False when the call is not connected to an operator."""
        task = self.calls.get(call_id)
        if task is None:
            return False
        if queue is None and agent is not None:
            # To an operator: through a queue he serves, so that his wrap-up and state rules hold.
            skills = self.dist.agents[agent].spec.skills
            queue = next((n for n, s in self.dist.queues.items() if s.topic in skills), None)
        req = TransferRequest(queue, agent, self.loop.create_future())
        task.deliver(req)
        return await asyncio.wait_for(req.done, 5)

    # --- agents (API and softphone feature codes) ---------------------------
    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.dist.agents

    def agent_for_endpoint(self, endpoint: str) -> str | None:
        return next((a.id for a in self.dist.agents.values() if a.spec.endpoint == endpoint), None)

    def on_ari_event(self, event: ari.AriEvent) -> None:
        """Softphone reachability from Asterisk's device state (qualify with OPTIONS)."""
        if isinstance(event, ari.DeviceStateChanged):
            self.reachability(event.device_state.name, event.device_state.state != "UNAVAILABLE")

    def endpoint_state(self, technology: str, resource: str, state: str) -> None:
        # "unknown" until the first qualify: give the benefit of the doubt
        self.reachability(f"{technology}/{resource}", state != "offline")

    def reachability(self, endpoint: str, reachable: bool) -> None:
        agent = self.agent_for_endpoint(endpoint)
        if agent is None or self.dist.agents[agent].reachable == reachable:
            return
        log.info("agent_reachability", agent=agent, reachable=reachable)
        self.feed(q.AgentReachable(agent, reachable))

    async def sync_endpoints(self) -> None:
        """After a (re)connect: subscribe to the operators' device states and read where they are now.

        Device states, not endpoints: an endpoint subscription would also deliver
        every event of the callers' channels a second time (seen: each key twice).
        """
        for a in self.dist.agents.values():
            await self.ctx.ari.subscribe(f"deviceState:{a.spec.endpoint}")
        for e in await self.ctx.ari.list_endpoints():
            self.endpoint_state(
                str(e.get("technology", "")), str(e.get("resource", "")), str(e.get("state", ""))
            )

    def agent_action(self, agent_id: str, action: str, reason: str | None = None) -> None:
        """Login/logout/pause/unpause; raises InvalidAgentTransition for a change that cannot be."""
        event: Any
        if action == "login":
            event = q.AgentLogin(agent_id)
        elif action == "logout":
            event = q.AgentLogout(agent_id)
        elif action == "pause":
            event = q.AgentPause(agent_id, reason or "break")
        elif action == "unpause":
            event = q.AgentUnpause(agent_id)
        else:
            raise ValueError(action)
        self.feed(event)

    def agent_view(self, agent_id: str) -> dict[str, Any]:
        a = self.dist.agents[agent_id]
        return {
            "id": a.id,
            "state": a.state.value,
            "reason": a.reason,
            "state_for_s": round(self.now() - a.since, 1),
            "pending": a.pending.value if a.pending else None,
            "skills": dict(a.spec.skills),
            "line": a.spec.line,
            "call_id": a.call_id,
            "missed_rings": a.missed_rings,
        }

    def agents_view(self) -> list[dict[str, Any]]:
        return [self.agent_view(a) for a in self.dist.agents]

    def queues_view(self) -> list[dict[str, Any]]:
        return [self.dist.queue_view(name, self.now()) for name in self.dist.queues]

    def update_gauges(self) -> None:
        m = self.ctx.metrics
        for view in self.queues_view():
            m.queue_waiting.labels(view["name"]).set(view["waiting"])
            m.queue_longest_wait.labels(view["name"]).set(view["longest_wait_s"])
            for state, n in view["agents"].items():
                m.agents.labels(view["name"], state).set(n)
        for (queue, window), counts in self.sla.figures(self.ctx.wall()).items():
            sl, ab = counts.service_level, counts.abandoned_share
            m.service_level.labels(queue, window).set(float("nan") if sl is None else sl)
            m.abandoned_share.labels(queue, window).set(float("nan") if ab is None else ab)

    def restore(self, saved: dict[str, Any], live: Collection[str] = ()) -> dict[str, RestoredCall]:
        """Agents' states from the last snapshot, and the calls that were in the queues then:
        waiting (with their entry time, monotonic) or talking (``live``: channels still up)."""
        try:
            wall = datetime.fromisoformat(saved["wall"])
            state = saved["state"]
            calls = saved.get("calls") or {}
        except (KeyError, TypeError, ValueError, AttributeError):
            log.warning("queue_snapshot_unreadable")
            return {}
        for cmd in self.dist.restore_agents(state, self.now(), live):
            self._route(cmd)
        since = max(0.0, (self.ctx.wall() - wall).total_seconds())
        out: dict[str, RestoredCall] = {}
        for w in state.get("waiting", []):
            queue = self.dist.queues.get(w.get("queue", "")) if isinstance(w, dict) else None
            if queue is not None:
                entered = self.now() - float(w["waited_s"]) - since
                out[w["call_id"]] = RestoredCall(queue.topic, entered, _record(calls.get(w["call_id"])))
        for t in state.get("talks", []):
            record = _record(calls.get(t.get("call_id")))
            if record is not None and t.get("queue") in self.dist.queues:
                leg = calls[t["call_id"]].get("leg")
                out[t["call_id"]] = RestoredCall(record.topic or "", self.now(), record, leg, t.get("agent"))
        for call_id, c in calls.items():
            record = _record(c)
            if call_id not in out and record is not None and c.get("peer") and c.get("leg"):
                out[call_id] = RestoredCall(record.topic or "", self.now(), record, c["leg"], peer=c["peer"])
        for call_id in calls.keys() - out.keys():  # rows of calls that had ended
            self._persist_call(call_id, None)
        self._schedule_persist()
        return out

    def take_back(self, task: CallTask, restored: RestoredCall) -> None:
        """A restarted engine's task for a caller it had: his record so far comes back."""
        if restored.record is not None:
            task.record = restored.record
        else:  # a snapshot from before records were kept in it
            task.record.ivr_path = ["restored"]

    async def vanished(self, call_id: str, restored: RestoredCall) -> None:
        """A call of the snapshot that ended while no engine ran: write its row (it must not be
        missing), hang up the operator or peer left alone in the bridge and free the operator.
        When it ended is not known: the row says so."""
        if restored.leg is not None:
            with contextlib.suppress(AriError):
                await ignore_gone(self.ctx.ari.hangup(restored.leg))
            with contextlib.suppress(AriError):
                await ignore_gone(self.ctx.ari.destroy_bridge(f"{call_id}-br"))
        self._persist_call(call_id, None)
        record = restored.record
        if record is None:
            return
        if restored.agent is None and restored.peer is None:
            record.disposition = "abandoned"
        elif restored.agent is not None:
            spec = self.dist.queues.get(record.queue or "")
            record.wrap_up_seconds = spec.wrap_up_s if spec is not None else None
            self.feed(q.CallEnded(call_id=call_id, agent_id=restored.agent))
        record.hangup_cause = "ended while the engine was down"
        record.finish(self.ctx.wall())
        self.ctx.writer.submit(record)
        self.ctx.metrics.calls.labels(record.disposition, record.topic or "").inc()
        log.info("call_ended_while_down", call_id=call_id, disposition=record.disposition)

    # --- one caller in the queue ---------------------------------------------
    async def serve(self, task: CallTask, topic: str, entered_at: float | None = None) -> None:
        """Wait for an operator, ring, bridge; returns when the call is over."""
        queue = self.queue_for(topic)
        session = _QueuedCall(self, task, queue)
        self.calls[task.call_id] = task
        try:
            await session.run(entered_at)
        finally:
            self._call_over(task)

    async def serve_reattached(self, task: CallTask, restored: RestoredCall) -> None:
        """Follow a call that was connected when the last engine stopped until it ends."""
        queue = task.record.queue if task.record.queue in self.dist.queues else self.queue_for(restored.topic)
        session = _QueuedCall(self, task, queue)
        self.calls[task.call_id] = task
        try:
            await session.run_reattached(restored)
        finally:
            self._call_over(task)

    def _call_over(self, task: CallTask) -> None:
        self.calls.pop(task.call_id, None)
        if not task.detached:  # a detached call is left in Asterisk for the next engine
            self._persist_call(task.call_id, None)

    async def release(self, task: CallTask) -> None:
        """Teardown hook of a call task: nothing of this call stays in the queue."""
        self.calls.pop(task.call_id, None)
        if task.detached:
            return
        session = getattr(task, "queue_session", None)
        if session is not None:
            await session.release()


_BUSY_CAUSES = frozenset({17})  # user busy
_NO_ANSWER_CAUSES = frozenset({16, 18, 19, 21})  # normal clearing before answer, no answer


class _QueuedCall:
    """The queue phase of one call: rings, the bridge, hold music, announcements."""

    def __init__(self, service: QueueService, task: CallTask, queue: str) -> None:
        self.s = service
        self.task = task
        self.queue = queue
        self.leg_id: str | None = None
        self.leg_agent: str | None = None
        self.legs = 0
        self.connected = False
        self.bridge_id = f"{task.call_id}-br"
        self.bridged = False
        self.moh = False
        self.announcement: str | None = None
        self.finished = False
        self.entered_at = 0.0
        # Federation: a call overflowed to us is never sent on; each peer is tried once per call.
        self.tried_peers: set[str] = set()
        self.overflowing = False
        task.queue_session = self

    @property
    def client(self) -> AriClient:
        return self.s.ctx.ari

    async def run(self, entered_at: float | None) -> None:
        t = self.task
        t.record.queue = self.queue
        if t.record.queued_at is None:
            t.record.queued_at = self.s.ctx.wall()
            if self.s.federation is not None and self.task.hops == 0:
                self.s.federation.usage.queued += 1
            if entered_at is not None:
                # Restored after a restart (or transferred): the wait counts from the first entry.
                t.record.queued_at -= timedelta(seconds=max(0.0, self.s.now() - entered_at))
                t.record.started_at = min(t.record.started_at, t.record.queued_at)
        await self._hold_music(True)
        self.entered_at = self.s.now() if entered_at is None else entered_at
        self.s.save_call(t)
        self.s.feed(q.CallerQueued(call_id=t.call_id, queue=self.queue, entered_at=self.entered_at))
        if self.s.federation is not None:
            self.s.federation.consider(t.call_id)  # at entry, then every second while waiting
        while not self.finished:
            await self._handle(await t.events.get())

    async def run_reattached(self, r: RestoredCall) -> None:
        t = self.task
        assert r.leg is not None
        t.record.queue = self.queue
        self.leg_id, self.leg_agent = r.leg, r.agent
        self.s.dispatcher.adopt(r.leg, t)
        self.connected, self.bridged = r.agent is not None, True
        if t.record.queued_at is not None:  # a transfer back to a queue keeps the first entry time
            self.entered_at = self.s.now() - (self.s.ctx.wall() - t.record.queued_at).total_seconds()
        t.log.info("call_reattached", agent=r.agent, peer=r.peer)
        # Asked only after adopting the leg, so that its end cannot slip between the two.
        leg_up = await self.client.channel_exists(r.leg)
        if r.peer is not None:
            fed = self.s.federation
            if fed is not None:
                fed.usage.active[r.peer] = fed.usage.active.get(r.peer, 0) + 1
            try:
                await self._talk_to_peer(leg_up)
            finally:
                if fed is not None:
                    fed.usage.active[r.peer] -= 1
            return
        if not leg_up:
            await self._leg_gone(16)  # the operator hung up while no engine was running
            return
        while not self.finished:
            await self._handle(await t.events.get())

    async def _talk_to_peer(self, leg_up: bool = True) -> None:
        """Bridged to a peer centre's operator: the call ends when either side hangs up."""
        t = self.task
        while leg_up:
            item = await t.events.get()
            if not isinstance(item, ari.ChannelDestroyed | ari.StasisEnd | p.CallerHungUp):
                continue
            if self._is_callers_end(item):
                self._caller_ended(item)
                t.record.hangup_by = "caller"
                await self._drop_leg()
                return
            if isinstance(item, ari.ChannelDestroyed) and item.channel.id == self.leg_id:
                break
        self._forget_leg()
        self.finished = True
        t.record.hangup_by = "peer"
        with contextlib.suppress(AriError):
            await ignore_gone(self.client.hangup(t.call_id))

    async def _handle(self, item: Any) -> None:
        if isinstance(item, q.RingAgent):
            await self._ring(item)
        elif isinstance(item, q.CancelRing):
            await self._cancel_ring(item.agent_id)
        elif isinstance(item, ari.StasisStart):
            if item.channel.id == self.leg_id:
                await self._answered()
            else:  # a ring we gave up on (or the last engine's) answered after all
                self.s.dispatcher.release(item.channel.id)
                with contextlib.suppress(AriError):
                    await ignore_gone(self.client.hangup(item.channel.id))
        elif isinstance(item, ari.ChannelDestroyed | ari.StasisEnd | p.CallerHungUp):
            if self._is_callers_end(item):
                await self._caller_gone(item)
            elif isinstance(item, ari.ChannelDestroyed) and item.channel.id == self.leg_id:
                await self._leg_gone(item.cause)
        elif isinstance(item, q.Announce):
            await self._announce(item)
        elif isinstance(item, ari.PlaybackFinished | p.PlaybackFinished):
            pb = item.playback.id if isinstance(item, ari.PlaybackFinished) else item.playback_id
            if pb == self.announcement:
                self.announcement = None
                await self._hold_music(True)
        elif isinstance(item, q.QueueExit):
            await self._exit(item.action)
        elif isinstance(item, TransferRequest):
            await self._transfer(item)
        elif isinstance(item, OverflowTo):
            await self._overflow(item.peer)

    async def _overflow(self, peer: str) -> None:
        """Carry the caller to a peer centre over the trunk; if it is busy, does not answer or
        fails, the caller goes back to our queue with his place (his entry time) kept."""
        t, fed = self.task, self.s.federation
        cfg = self.s.ctx.routing().federation
        if (
            fed is None or cfg is None or peer not in cfg.peers
            or self.connected or self.leg_id is not None or self.finished
        ):  # fmt: skip
            self.overflowing = False
            return
        self.tried_peers.add(peer)
        waited = self.s.now() - self.entered_at
        self.s.feed(q.CallerLeft(call_id=t.call_id, reason="overflowed"))
        fed_id = t.record.federation_id or f"{cfg.id}-{t.call_id}"
        caller = t.channel.caller.number or "anonymous"
        self.legs += 1
        leg = f"{t.call_id}-p{self.legs}"
        self.leg_id, self.leg_agent = leg, None
        self.s.dispatcher.adopt(leg, t)
        fed.usage.active[peer] = fed.usage.active.get(peer, 0) + 1
        t.log.info("overflow_try", peer=peer, waited_s=round(waited, 1))
        try:
            await self.client.originate(
                leg,
                cfg.peers[peer].trunk,
                f"operator,{t.call_id}",
                caller_id=f'"{caller}" <{caller}>',
                timeout=max(1, int(cfg.answer_timeout_s)),
                variables=fed.headers(
                    federation_id=fed_id, topic=self.s.dist.queues[self.queue].topic,
                    caller=caller, waited_s=waited, hops=self.task.hops,
                ),
            )  # fmt: skip
            while True:
                item = await t.events.get()
                if isinstance(item, ari.StasisStart) and item.channel.id == leg:
                    await self._bridge_peer(peer, fed_id, waited)
                    await self._talk_to_peer()
                    return
                if isinstance(item, ari.ChannelDestroyed | ari.StasisEnd | p.CallerHungUp):
                    if self._is_callers_end(item):
                        self._caller_ended(item)
                        t.record.disposition = "abandoned"
                        await self._drop_leg()
                        return
                    if isinstance(item, ari.ChannelDestroyed) and item.channel.id == leg:
                        self._forget_leg()
                        t.log.info("overflow_refused", peer=peer, cause=item.cause)
                        break
        except AriError as e:
            t.log.warning("overflow_failed", peer=peer, error=str(e))
            self._forget_leg()
        finally:
            fed.usage.active[peer] -= 1
            self.overflowing = False
        # Back in our queue, in the place the first entry time gives him.
        self.s.feed(q.CallerQueued(call_id=t.call_id, queue=self.queue, entered_at=self.entered_at))

    async def _bridge_peer(self, peer: str, fed_id: str, waited: float) -> None:
        t, fed = self.task, self.s.federation
        assert fed is not None and self.leg_id is not None
        t.record.disposition = "overflowed"
        t.record.overflow_peer = peer
        t.record.federation_id = fed_id
        t.record.wait_seconds = round(waited, 3)
        fed.usage.sent[peer] = fed.usage.sent.get(peer, 0) + 1
        self.s.outcome(self.queue, "overflow", waited, self.s.ctx.wall())
        self.s.ctx.metrics.overflows.labels(peer).inc()
        await self._bridge_leg()
        t.log.info("call_overflowed", peer=peer, federation_id=fed_id)

    async def _bridge_leg(self) -> None:
        """The answered leg (an operator's or a peer's) joins the caller: no more music or prompts."""
        assert self.leg_id is not None
        await self._hold_music(False)
        if self.announcement is not None:
            await ignore_gone(self.client.stop_playback(self.announcement))
            self.announcement = None
        await self.client.create_bridge(self.bridge_id)
        self.bridged = True
        await self.client.add_channels(self.bridge_id, [self.task.call_id, self.leg_id])
        self.s.save_call(self.task)  # a restarted engine must find this call connected

    async def _transfer(self, req: TransferRequest) -> None:
        """Blind transfer by the operator: the caller waits again, keeping his first entry time."""
        t = self.task
        agent = t.record.agent_id
        if not self.connected or agent is None:
            req.done.set_result(False)
            return
        queue = req.queue or self.queue
        self.connected = False
        leg = self.leg_id
        self._forget_leg()
        self.s.feed(q.TransferToQueue(call_id=t.call_id, agent_id=agent, queue=queue))
        if self.bridged:
            self.bridged = False
            with contextlib.suppress(AriError):
                await ignore_gone(self.client.destroy_bridge(self.bridge_id))
        if leg is not None:
            with contextlib.suppress(AriError):
                await ignore_gone(self.client.hangup(leg))
        t.log.info("call_transferred", by=agent, queue=queue, agent=req.agent)
        self.queue = queue
        t.record.queue = queue
        t.record.agent_id = None
        t.record.agent_answered_at = None
        t.record.disposition = "abandoned"
        await self._hold_music(True)
        self.s.save_call(t)
        self.s.feed(
            q.CallerQueued(call_id=t.call_id, queue=queue, entered_at=self.entered_at, agent=req.agent)
        )
        req.done.set_result(True)

    async def _ring(self, cmd: q.RingAgent) -> None:
        t = self.task
        self.legs += 1
        leg = f"{t.call_id}-l{self.legs}"
        self.leg_id, self.leg_agent = leg, cmd.agent_id
        self.s.dispatcher.adopt(leg, t)
        if t.record.ringing_at is None:
            t.record.ringing_at = self.s.ctx.wall()
        caller = t.channel.caller.number or "anonymous"
        try:
            await self.client.originate(
                leg,
                cmd.endpoint,
                f"operator,{t.call_id}",
                caller_id=f'"{caller}" <{caller}>',
                timeout=int(cmd.ring_timeout_s) + 5,
            )
        except AriError as e:
            t.log.warning("ring_failed", agent=cmd.agent_id, error=str(e))
            self._forget_leg()
            self.s.feed(q.RingFailed(call_id=t.call_id, agent_id=cmd.agent_id, reason="failed"))

    def _forget_leg(self) -> None:
        if self.leg_id is not None:
            self.s.dispatcher.release(self.leg_id)
        self.leg_id = self.leg_agent = None

    async def _cancel_ring(self, agent_id: str) -> None:
        if self.leg_id is None or self.leg_agent != agent_id or self.connected:
            return
        leg = self.leg_id
        self._forget_leg()
        with contextlib.suppress(AriError):
            await ignore_gone(self.client.hangup(leg))

    async def _answered(self) -> None:
        t = self.task
        assert self.leg_id is not None
        assert self.leg_agent is not None
        self.connected = True
        t.record.agent_answered_at = self.s.ctx.wall()
        t.record.agent_id = self.leg_agent
        t.record.disposition = "answered"
        self.s.feed(q.RingAnswered(call_id=t.call_id, agent_id=self.leg_agent))
        await self._bridge_leg()
        t.log.info("call_connected", agent=self.leg_agent)

    async def _leg_gone(self, cause: int) -> None:
        t = self.task
        agent = self.leg_agent
        assert agent is not None
        self._forget_leg()
        if self.connected:
            # The operator hung up: the call ends for the caller too.
            self.finished = True
            t.record.hangup_by = "agent"
            t.record.wrap_up_seconds = self.s.dist.queues[self.queue].wrap_up_s
            self.s.feed(q.CallEnded(call_id=t.call_id, agent_id=agent))
            with contextlib.suppress(AriError):
                await ignore_gone(self.client.hangup(t.call_id))
            return
        reason = "busy" if cause in _BUSY_CAUSES else "no_answer" if cause in _NO_ANSWER_CAUSES else "failed"
        self.s.feed(q.RingFailed(call_id=t.call_id, agent_id=agent, reason=reason))

    def _is_callers_end(self, event: ari.ChannelDestroyed | ari.StasisEnd | p.CallerHungUp) -> bool:
        return isinstance(event, p.CallerHungUp) or event.channel.id == self.task.call_id

    def _caller_ended(self, event: ari.ChannelDestroyed | ari.StasisEnd | p.CallerHungUp) -> None:
        """The caller hung up: this queue phase is over, and the record says why."""
        t = self.task
        t.gone = True
        self.finished = True
        if isinstance(event, ari.ChannelDestroyed):
            t.record.hangup_cause = event.cause_txt or str(event.cause)

    async def _caller_gone(self, event: ari.ChannelDestroyed | ari.StasisEnd | p.CallerHungUp) -> None:
        t = self.task
        self._caller_ended(event)
        if self.connected:
            t.record.hangup_by = "caller"
            # The operator's wrap-up after this call: a fixed timer of the queue.
            t.record.wrap_up_seconds = self.s.dist.queues[self.queue].wrap_up_s
            self.s.feed(q.CallEnded(call_id=t.call_id, agent_id=t.record.agent_id or ""))
        else:
            t.record.disposition = "abandoned"
            self.s.feed(q.CallerLeft(call_id=t.call_id, reason="abandoned"))
        await self._drop_leg()

    async def _drop_leg(self) -> None:
        leg = self.leg_id
        self._forget_leg()
        if leg is not None:
            with contextlib.suppress(AriError):
                await ignore_gone(self.client.hangup(leg))

    async def _announce(self, cmd: q.Announce) -> None:
        if self.connected or self.announcement is not None:
            return
        t = self.task
        media = self.s.ctx.routing().position_media(cmd.position, cmd.expected_wait_s)
        if not media:
            return
        await self._hold_music(False)
        self.announcement = f"{t.call_id}-ann{self.legs}-{cmd.position}-{int(self.s.now())}"
        if not await ignore_gone(self.client.play(t.call_id, self.announcement, media)):
            self.announcement = None

    async def _exit(self, action: str) -> None:
        t = self.task
        self.finished = True
        await self._drop_leg()
        await self._hold_music(False)
        t.record.disposition = "callback_requested" if action == "callback" else "abandoned"
        t.record.hangup_by = "engine"
        if t.record.queued_at is not None:  # the wait ends here, not after the goodbye prompt
            t.record.wait_seconds = round((self.s.ctx.wall() - t.record.queued_at).total_seconds(), 3)
        t.log.info("queue_exit", action=action)
        cfg = self.s.ctx.routing().queue_prompts
        prompt = cfg.callback if action == "callback" else cfg.goodbye
        t.hangup_requested = True
        await self._say_then_hang_up(self.s.ctx.routing().media(prompt))

    async def _say_then_hang_up(self, media: str) -> None:
        t = self.task
        await t.say(f"{t.call_id}-bye", [media])
        if not t.gone:
            with contextlib.suppress(AriError):
                await ignore_gone(self.client.hangup(t.call_id))

    async def _hold_music(self, on: bool) -> None:
        if on == self.moh or self.task.gone:
            return
        self.moh = on
        call = self.client.start_moh if on else self.client.stop_moh
        with contextlib.suppress(AriError):
            await ignore_gone(call(self.task.call_id))

    async def release(self) -> None:
        """Teardown: leave the queue if still in it, drop a ringing leg, destroy the bridge."""
        t = self.task
        if not self.finished:
            self.finished = True
            if self.connected:
                self.s.feed(q.CallEnded(call_id=t.call_id, agent_id=t.record.agent_id or ""))
            else:
                self.s.feed(q.CallerLeft(call_id=t.call_id, reason="abandoned"))
        await self._drop_leg()
        if self.bridged:
            self.bridged = False
            with contextlib.suppress(AriError):
                await ignore_gone(self.client.destroy_bridge(self.bridge_id))


def build_distributor(cfg: RoutingConfig) -> q.Distributor:
    """The distributor for a routing file; a topic without a queue of its own gets one with defaults."""
    specs: dict[str, q.QueueSpec] = {}
    for name, queue in cfg.queues.items():
        specs[name] = q.QueueSpec(
            name=name,
            topic=queue.topic,
            priority=queue.priority,
            wrap_up_s=queue.wrap_up_s,
            ring_timeout_s=queue.ring_timeout_s,
            max_wait_s=queue.max_wait_s,
            max_wait_action=queue.max_wait_action,
            announce_every_s=queue.announce_every_s,
            relax=tuple((step.after_s, step.min_level) for step in queue.relax),
            general_after_s=queue.general_after_s,
            missed_rings_to_pause=queue.missed_rings_to_pause,
        )
    covered = {s.topic for s in specs.values()}
    for topic in cfg.topics:
        if topic.code not in covered and topic.code not in specs:
            specs[topic.code] = q.QueueSpec(name=topic.code, topic=topic.code)
    agents = [AgentSpec(o.id, o.endpoint, dict(o.skills), o.line) for o in cfg.operators]
    return q.Distributor(specs, agents)
