"""The callbacks shell: registers requests, and every second dials what the scheduler says.

The scheduler (``schedule.py``) and one attempt (``attempt.py``) are pure; this
service reads the floor from the queue service, the requests from the store,
reserves the operator in the distributor, claims the request in the database
and starts the attempt (``dialer.py``). It also feeds the waiting callers'
expected waits to their queue machines (the offer), once a second.

A request registered while PostgreSQL is down is kept in memory and written
on the next tick that reaches it: the caller's promise is not lost with the
database (only with the database *and* this engine at once).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ctoengine.callbacks import schedule as sch
from ctoengine.callbacks.numbers import callback_key
from ctoengine.callbacks.store import CallbackStore, NewRequest
from ctoengine.calls import wire
from ctoengine.calls.context import CallContext
from ctoengine.config.plan import schedule_open
from ctoengine.config.routing import RoutingConfig
from ctoengine.errors import DatabaseError
from ctoengine.logs import get_logger
from ctoengine.queues.distributor import Unreserve

if TYPE_CHECKING:
    from ctoengine.queues.service import QueueService

log = get_logger("ctoengine.callbacks")

TICK_S = 1.0
FIGURES_EVERY = 10  # ticks between the gauges' query
EXPIRE_EVERY = 60  # ticks between expiring overdue requests


class CallbackService:
    def __init__(self, ctx: CallContext, queues: QueueService, store: CallbackStore) -> None:
        self.ctx = ctx
        self.queues = queues
        self.store = store
        self.attempts: dict[str, asyncio.Task[None]] = {}  # by request id
        self._unsaved: list[NewRequest] = []
        self._ticks = 0

    @property
    def routing(self) -> RoutingConfig:
        return self.ctx.routing()

    # --- requests -----------------------------------------------------------
    async def request(self, number: str | None, topic: str, queue: str, call_id: str) -> str | None:
        """Register a request (or join the open one of this number and topic); its id.
        None when this caller cannot be called back (the machine never asks for those)."""
        cfg = self.routing
        cb, out = cfg.callback, cfg.outbound
        key = callback_key(number, out.allows) if out is not None else None
        if cb is None or key is None or number is None:
            return None
        now = self.ctx.wall()
        new = NewRequest(
            id=f"cb-{call_id}",
            centre=cfg.centre.name,
            number=number.strip(),
            number_key=key,
            topic=topic,
            queue=queue,
            requested_at=now,
            due_by=now + timedelta(hours=cb.due_within_h),
            origin_call_id=call_id,
        )
        try:
            return await asyncio.wait_for(self.store.add(new), 2.0)
        except (DatabaseError, TimeoutError) as e:
            log.error("callback_kept_in_memory", callback_id=new.id, error=str(e))
            self._unsaved.append(new)
            return new.id

    async def _flush(self) -> None:
        while self._unsaved:
            await self.store.add(self._unsaved[0])
            log.info("callback_written_late", callback_id=self._unsaved.pop(0).id)

    # --- the loop -----------------------------------------------------------
    async def run(self) -> None:
        """For ever, once a second; a database outage only delays the dialling."""
        try:
            await self.store.recover(self.ctx.instance)
        except DatabaseError as e:
            log.warning("callbacks_not_recovered", error=str(e))
        while True:
            self.queues.offer_callbacks()
            try:
                await self.tick()
            except DatabaseError as e:
                log.warning("callbacks_postponed", error=str(e))
            await asyncio.sleep(TICK_S)

    async def tick(self) -> None:
        cfg, now = self.routing, self.ctx.wall()
        cb, out = cfg.callback, cfg.outbound
        self._ticks += 1
        await self._flush()
        if self._ticks % EXPIRE_EVERY == 1:
            expired = await self.store.expire(now)
            if expired:
                log.warning("callbacks_expired", count=expired)
        if self._ticks % FIGURES_EVERY == 1:
            await self._figures(now)
        if cb is None or out is None:
            return
        open_now = schedule_open(cb.schedule or cfg.schedule, ZoneInfo(cfg.centre.timezone), now)
        if not open_now:
            return
        floor = sch.Floor(
            self.queues.dist.free_by_topic(), self.queues.dist.longest_wait_by_topic(self.queues.now())
        )
        if not floor.free:
            return  # nobody free: no query either
        pending = [r for r in await self.store.due(cfg.centre.name, now) if r.id not in self.attempts]
        rules = sch.Rules(cb.inbound_first_s, cb.retry_after_s, cb.attempts)
        by_id = {r.id: r for r in pending}
        for dial in sch.choose(pending, floor, now, open_now, rules):
            await self._start(by_id[dial.request_id], dial.agent_id, cfg)

    async def _start(self, r: sch.Pending, agent_id: str, cfg: RoutingConfig) -> None:
        from ctoengine.callbacks.dialer import Dialer  # the shell of one attempt (ARI)

        # Unique across attempts and restarts (an operator who did not answer is not an attempt).
        call_id = wire.callback_call(r.id, int(self.ctx.wall().timestamp()))
        queue = r.queue if r.queue in self.queues.dist.queues else self.queues.queue_for(r.topic)
        if not self.queues.reserve(call_id, agent_id, queue):
            return
        try:
            number = await self.store.claim(r.id, self.ctx.instance, call_id)
        except DatabaseError:
            self.queues.feed(Unreserve(call_id, agent_id))  # never left reserved for nothing
            raise
        if number is None:  # another engine took it, or it is gone
            self.queues.feed(Unreserve(call_id, agent_id))
            return
        dialer = Dialer(self, r, call_id, agent_id, queue, number, cfg)
        task = asyncio.create_task(dialer.run(), name=f"callback-{call_id}")
        self.attempts[r.id] = task
        task.add_done_callback(lambda _: self.attempts.pop(r.id, None))

    async def settle(self, r: sch.Pending, result: sch.Result) -> None:
        cb = self.routing.callback
        rules = sch.Rules(cb.inbound_first_s, cb.retry_after_s, cb.attempts) if cb else sch.Rules(0, 600, 3)
        now = self.ctx.wall()
        after = sch.after_attempt(r, result, now, rules)
        self.ctx.metrics.callback_attempts.labels(result).inc()
        log.info("callback_attempt", callback_id=r.id, result=result, status=after.status)
        for _ in range(30):  # the outcome must reach the table: retried while the database is away
            try:
                await self.store.settle(r.id, after, result, now)
                return
            except DatabaseError as e:
                log.warning("callback_settle_postponed", callback_id=r.id, error=str(e))
                await asyncio.sleep(2.0)
        log.error("callback_settle_lost", callback_id=r.id)  # a restart sets it pending again

    async def _figures(self, now: datetime) -> None:
        f: dict[str, Any] = await self.store.figures(now, self.routing.centre.name)
        m = self.ctx.metrics
        m.callbacks_pending.set(int(f.get("open") or 0))
        oldest = f.get("oldest")
        m.callbacks_oldest_pending.set((now - oldest).total_seconds() if oldest else 0.0)
        settled = int(f.get("settled") or 0)
        m.callbacks_kept.set(int(f.get("kept") or 0) / settled if settled else float("nan"))

    async def close(self) -> None:
        for task in list(self.attempts.values()):
            task.cancel()
        if self.attempts:
            await asyncio.wait(list(self.attempts.values()), timeout=5)


def callbacks_view(row: dict[str, Any]) -> dict[str, Any]:
    """A request as the API shows it (times as ISO text)."""
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}
