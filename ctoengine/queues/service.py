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
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from ctoengine.agents.states import AgentSpec, AgentState, AgentStateChanged
from ctoengine.ari import events as ari
from ctoengine.ari.client import ignore_gone
from ctoengine.calls import protocol as p
from ctoengine.calls import wire
from ctoengine.calls.context import CallContext
from ctoengine.calls.timers import Timers
from ctoengine.config.routing import RoutingConfig
from ctoengine.errors import AriError
from ctoengine.federation.service import FederationService
from ctoengine.logs import get_logger
from ctoengine.metrics.sla import RollingSla
from ctoengine.queues import distributor as q
from ctoengine.queues.call import Enter, Phase, Reattach, WaitEstimate
from ctoengine.queues.session import QueueSession, TransferRequest
from ctoengine.records.model import AgentEventRecord, CallRecord, QueueEventRecord, from_json, to_json

if TYPE_CHECKING:
    from ctoengine.calls.dispatch import Dispatcher, Owner
    from ctoengine.calls.task import CallTask
    from ctoengine.quality.recorder import Recorder


class CallbackRequests(Protocol):
    """Where a caller's accepted (or automatic) callback is registered: ``callbacks/service.py``."""

    async def request(self, number: str | None, topic: str, queue: str, call_id: str) -> str | None: ...


log = get_logger("ctoengine.queues")

TRANSFER_ANSWER_S = 5.0


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


# The snapshot covers every operator and caller: built at most four times a second under load
# (it was the engine's largest cost at 20 calls/s when built every 50 ms). A restart within
# this window may miss the last quarter second of changes (logins, pauses, queue order and the
# calls' saved states, which ride on the same write); reconciliation finishes those calls.
PERSIST_AFTER_S = 0.25


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
        self._published: dict[str, AgentState] = {}  # each operator's state as the gauges show it
        self._by_endpoint: dict[str, str] = {}
        self.callbacks: CallbackRequests | None = None  # set by the engine when callbacks are configured
        # Callback attempts by their call id: the distributor's CancelRing for a reserved operator.
        self.outbound: dict[str, Owner] = {}
        self.recorder: Recorder | None = None  # set by the engine: recordings of operator conversations

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
            self.ctx.metrics.agent_changed(cmd.agent_id, cmd.from_state, cmd.to_state)
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
            task: Owner | None = self.calls.get(call_id) if call_id else None
            if task is None and call_id:
                task = self.outbound.get(call_id)
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
            self._persist_handle = self.loop.call_later(PERSIST_AFTER_S, self._do_persist)

    def _do_persist(self) -> None:
        self._persist_handle = None
        # Waits are stored as "seconds ago" at a wall time: monotonic clocks do not survive a restart.
        self._persist({"wall": self.ctx.wall().isoformat(), "state": self.dist.snapshot(self.now())})

    def save_call(self, task: CallTask, leg: str | None = None) -> None:
        """Store the call's record so far, and its leg once connected: a restarted engine finishes
        the same row. Called when they change (queue entry, connection, transfer)."""
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

    async def transfer(self, call_id: str, queue: str | None, agent: str | None) -> str | None:
        """Blind transfer of a call connected to an operator: None when done, else why it was not."""
        task = self.calls.get(call_id)
        if task is None:
            return "the call is not in a queue (not started, in the menu, or over)"
        if queue is None and agent is not None:
            # To an operator: through a queue he serves, so that his wrap-up and state rules hold.
            skills = self.dist.agents[agent].spec.skills
            queue = next((n for n, s in self.dist.queues.items() if s.topic in skills), None)
        req = TransferRequest(queue, agent, self.loop.create_future())
        task.deliver(req)
        try:
            return await asyncio.wait_for(req.done, TRANSFER_ANSWER_S)
        except TimeoutError:
            # Every phase answers; this is a call whose task is stuck (its queue full, say).
            log.error("transfer_unanswered", call_id=call_id)
            return f"the call did not answer within {TRANSFER_ANSWER_S:g} s"

    # --- agents (API and softphone feature codes) ---------------------------
    def has_agent(self, agent_id: str) -> bool:
        return agent_id in self.dist.agents

    def has_queue(self, name: str) -> bool:
        return name in self.dist.queues

    def agent_on_call(self, call_id: str) -> str | None:
        """The operator connected to (or being rung for) ``call_id``; None if none."""
        return next((a.id for a in self.dist.agents.values() if a.call_id == call_id), None)

    def connected(self, call_id: str) -> tuple[str, str] | None:
        """(the operator's leg, the call's bridge) while ``call_id`` talks to one of our operators."""
        task = self.calls.get(call_id)
        session = task.queue_session if task is not None else None
        if session is None or session.m.phase is not Phase.TALKING or session.m.leg is None:
            return None
        return session.m.leg, session.bridge_id

    def agent_for_endpoint(self, endpoint: str) -> str | None:
        # Asked for every device-state event: a map, checked against the live operators
        # and rebuilt when it no longer matches them (a reload changes them).
        agent = self._by_endpoint.get(endpoint)
        found = self.dist.agents.get(agent) if agent is not None else None
        if found is None or found.spec.endpoint != endpoint:
            self._by_endpoint = {a.spec.endpoint: a.id for a in self.dist.agents.values()}
            agent = self._by_endpoint.get(endpoint)
        return agent

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

    def call_owner(self, call_id: str) -> str | None:
        """The operator whose call it is now: connected, rung, or in the wrap-up after it (the
        workplace's appeal is registered then too)."""
        owner = self.agent_on_call(call_id)
        if owner is None:
            owner = next((a for a, w in self.dist.wraps.items() if w.call_id == call_id), None)
        return owner

    def call_record(self, call_id: str) -> CallRecord | None:
        """The record so far of a call in a queue phase (the workplace's call card)."""
        task = self.calls.get(call_id)
        return task.record if task is not None else None

    def wrap_up(self, agent_id: str, action: str, seconds: float = 0.0) -> None:
        """The workplace's "ready now" (``ready``) and "need more time" (``extend``); raises
        InvalidAgentTransition outside a wrap-up."""
        event = q.WrapUpDone(agent_id) if action == "ready" else q.WrapUpExtend(agent_id, seconds)
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
        # Each operator's state gauge, after a restart too (not only on a change), but only
        # where it differs from what is shown: all of them every second blocked the loop
        # for some 10 ms with 300 operators (scripts/bench, py-spy).
        for a in self.dist.agents.values():
            if self._published.get(a.id) is a.state:
                continue
            for state in AgentState:
                m.agent_state.labels(a.id, state.value).set(1 if a.state is state else 0)
            self._published[a.id] = a.state
        for (queue, window), counts in self.sla.figures(self.ctx.wall()).items():
            m.set_sla(queue, window, counts.service_level, counts.abandoned_share)

    # --- callbacks (issue 15) ---------------------------------------------------
    def offer_callbacks(self) -> None:
        """Every second: each waiting caller still to be offered a callback gets his expected wait."""
        waits: dict[str, float | None] | None = None
        for call_id, task in self.calls.items():
            session = task.queue_session
            if session is None or not session.m.wants_estimate:
                continue
            if waits is None:  # one pass over all callers, only when someone needs it
                waits = self.dist.expected_waits(self.now())
            if call_id in waits:
                task.deliver(WaitEstimate(waits[call_id]))

    def reserve(self, call_id: str, agent_id: str, queue: str) -> bool:
        """Take an available operator for a callback; False when he is not available any more."""
        self.feed(q.Reserve(call_id, agent_id, queue))
        a = self.dist.agents.get(agent_id)
        return a is not None and a.state is AgentState.RESERVED and a.call_id == call_id

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

    def agents_on_call(self) -> dict[str, str]:
        """Operator id -> the call he is talking on: what reconciliation checks after a reconnect."""
        return {
            a.id: a.call_id
            for a in self.dist.agents.values()
            if a.state is AgentState.ON_CALL and a.call_id is not None
        }

    def release_agent(self, agent_id: str, call_id: str) -> None:
        """An operator on a call that nobody owns any more (its end was lost): wrap-up, then free."""
        self.feed(q.CallEnded(call_id=call_id, agent_id=agent_id))

    async def vanished(self, call_id: str, restored: RestoredCall) -> None:
        """A call of the snapshot that ended while no engine ran: write its row (it must not be
        missing), hang up the operator or peer left alone in the bridge and free the operator.
        When it ended is not known: the row says so."""
        if restored.leg is not None:
            with contextlib.suppress(AriError):
                await ignore_gone(self.ctx.ari.hangup(restored.leg))
            with contextlib.suppress(AriError):
                await ignore_gone(self.ctx.ari.destroy_bridge(wire.queue_bridge(call_id)))
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
        """Wait for an operator, ring, bridge; returns when the call's queue phase is over."""
        session = QueueSession(self, task, self.queue_for(topic))
        self.calls[task.call_id] = task
        try:
            await session.run(Enter(entered_at))
        finally:
            self._call_over(task)

    async def serve_reattached(self, task: CallTask, restored: RestoredCall) -> None:
        """Follow a call that was connected when the last engine stopped until it ends."""
        assert restored.leg is not None
        queue = task.record.queue if task.record.queue in self.dist.queues else self.queue_for(restored.topic)
        session = QueueSession(self, task, queue)
        self.calls[task.call_id] = task
        task.record.queue = queue
        entered_at = None
        if task.record.queued_at is not None:  # a transfer back to a queue keeps the first entry time
            entered_at = self.now() - (self.ctx.wall() - task.record.queued_at).total_seconds()
        task.log.info("call_reattached", agent=restored.agent, peer=restored.peer)
        self.dispatcher.adopt(restored.leg, task)
        try:
            # Asked only after adopting the leg, so that its end cannot slip between the two.
            leg_up = await self.ctx.ari.channel_exists(restored.leg)
            await session.run(Reattach(restored.leg, restored.agent, restored.peer, leg_up, entered_at))
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
        if task.queue_session is not None:
            await task.queue_session.release()


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
            wrap_up_extend_max_s=cfg.workplace.wrap_up_extend_max_s,
        )
    covered = {s.topic for s in specs.values()}
    for topic in cfg.topics:
        if topic.code not in covered and topic.code not in specs:
            specs[topic.code] = q.QueueSpec(
                name=topic.code, topic=topic.code, wrap_up_extend_max_s=cfg.workplace.wrap_up_extend_max_s
            )
    agents = [AgentSpec(o.id, o.endpoint, dict(o.skills), o.line) for o in cfg.operators]
    return q.Distributor(specs, agents)
