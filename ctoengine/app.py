"""The engine process: wires ARI, the dispatcher, the record writer, metrics and HTTP.

Start-up checks each dependency once and fails with one clear line (a wrong ARI
password, an unreachable Asterisk or database, an invalid routing file);
after start-up, losing ARI or the database is survived: the websocket
reconnects, records spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ctoengine.admin.emergency import EmergencySwitch
from ctoengine.admin.http import AdminRoutes
from ctoengine.agents.http import AgentRoutes
from ctoengine.api.http import HttpApi
from ctoengine.appeals.history import History
from ctoengine.appeals.http import AppealRoutes
from ctoengine.appeals.service import Appeals
from ctoengine.appeals.store import PgAppeals
from ctoengine.ari.client import AriClient
from ctoengine.ari.connection import AriConnection
from ctoengine.callbacks.http import CallbackRoutes
from ctoengine.callbacks.service import CallbackService
from ctoengine.callbacks.store import CallbackStore
from ctoengine.calls.context import CallContext
from ctoengine.calls.dispatch import Dispatcher
from ctoengine.config import ConfigError, RoutingConfig, is_open, load_routing
from ctoengine.db.pool import SharedPool, create_pool
from ctoengine.errors import AriAuthError, AriError
from ctoengine.federation.service import FederationService
from ctoengine.kb.index import PgIndex
from ctoengine.kb.service import KnowledgeBase
from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics, measure_loop_lag
from ctoengine.metrics.stalls import StallWatch
from ctoengine.quality.http import QualityRoutes
from ctoengine.quality.listener import ListenService
from ctoengine.quality.recorder import Recorder
from ctoengine.quality.store import PgRecordings
from ctoengine.queues.service import QueueService, RestoredCall, build_distributor
from ctoengine.records.retention import keep_erasing
from ctoengine.records.writer import RecordWriter
from ctoengine.selfservice.providers import HttpProvider, PostgresProvider, StatusProvider
from ctoengine.settings import Settings
from ctoengine.sipguard.machine import Guard
from ctoengine.sipguard.service import SipGuard
from ctoengine.state.store import EngineStateStore
from ctoengine.supervise import Supervisor
from ctoengine.users.http import UserRoutes
from ctoengine.web import wiring as web

log = get_logger("ctoengine")

# Test-only: the name of one background task that raises once at its first run
# (``CTO_TEST_CRASH_TASK=gauges``), so an end-to-end test can watch the
# supervisor restart and count it. Read from the environment only; never set it
# in production.
TEST_CRASH_ENV = "CTO_TEST_CRASH_TASK"


def _crash_once(name: str, factory: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    crashed = False

    async def run() -> None:
        nonlocal crashed
        if not crashed:
            crashed = True
            raise RuntimeError(f"{TEST_CRASH_ENV}={name}: a crash for tests")
        await factory()

    return run


class Engine:
    def __init__(self, settings: Settings, routing: RoutingConfig) -> None:
        self.settings = settings
        self.routing = routing
        self._file_routing = routing  # as the file says, without the API's emergency override
        self.metrics = Metrics()
        self.stalls = StallWatch(settings.stall_report_s)
        self.ari = AriClient(
            settings.ari_url,
            settings.ari_user,
            settings.ari_password.get_secret_value(),
            settings.ari_app,
        )
        self.ari.request_seconds = lambda op, s: self.metrics.ari_requests.labels(op).observe(s)
        dsn = settings.database_url.get_secret_value()
        self.writer = RecordWriter(
            dsn,
            settings.spool_dir,
            on_written=lambda table, n: self.metrics.records_written.labels(table).inc(n),
            metrics=self.metrics,
        )
        self._db = SharedPool(lambda: create_pool(dsn))
        self.ctx = CallContext(
            ari=self.ari,
            writer=self.writer,
            metrics=self.metrics,
            routing=lambda: self.routing,
            status_provider=self._status_provider(),
            instance=settings.instance,
            pool=self.pool,
        )
        self.dispatcher = Dispatcher(self.ctx)
        self.connection = AriConnection(
            self.ari,
            self.dispatcher.on_event,
            self._on_ari_connected,
            self._on_ari_state,
            on_replaced=lambda replaced: self.metrics.ari_app_replaced.set(1 if replaced else 0),
        )
        self.http = HttpApi(settings.api_token.get_secret_value(), self.metrics, self.health, self.pool)
        self._stop = asyncio.Event()
        self._restored: dict[str, RestoredCall] = {}
        self.emergency = EmergencySwitch(self.pool, settings.instance, self._apply_emergency)
        self.restart_state = EngineStateStore(self.pool, settings.instance)
        self._tasks: list[asyncio.Task[Any]] = []
        self.supervisor = Supervisor(lambda name: self.metrics.task_restarts.labels(name).inc())
        self._ari_task: asyncio.Task[None] | None = None
        self._ari_runs = 0
        self._ari_running = False
        self.callbacks: CallbackService | None = None
        self.kb = KnowledgeBase(PgIndex(self.pool))
        self._kb_reload: asyncio.Task[list[str]] | None = None
        self.recorder: Recorder | None = None
        self.listening: ListenService | None = None

    def _status_provider(self) -> StatusProvider:
        cfg = getattr(getattr(self.routing, "self_service", None), "application_status", None)
        provider = getattr(cfg, "provider", None)
        if provider is not None and getattr(provider, "type", "postgres") == "http":
            return HttpProvider(str(provider.url), float(getattr(provider, "timeout_s", 3.0)))
        return PostgresProvider(self.pool)

    async def pool(self) -> asyncpg.Pool:
        """The shared pool; concurrent first users get the same one (see ``SharedPool``)."""
        return await self._db.get()

    # --- health -----------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        """Readiness: ARI connected and the database answering within a second.

        A slow database answer reports "not ready" without touching the pool
        the calls use (``SharedPool.answers``).
        """
        # Another engine holding our Stasis application is not "ready" either.
        ari = self.connection.connected and self._ari_running and not self.connection.replaced
        return {"ari": ari, "database": await self._db.answers(timeout=1.0)}

    def _on_ari_state(self, up: bool) -> None:
        self.metrics.ari_connected.set(1 if up else 0)
        if not up:
            self.metrics.ari_reconnects.inc()

    async def _on_ari_connected(self) -> None:
        if self.ctx.queues is not None:
            await self.ctx.queues.sync_endpoints()
        await self.dispatcher.resume(self._restored)
        self._restored = {}

    # --- config -----------------------------------------------------------
    def reload(self) -> list[str]:
        """Validate the routing file in full; switch only if it is valid. Returns the errors."""
        try:
            new = load_routing(self.settings.routing_file)
        except ConfigError as e:
            self.metrics.config_reloads.labels("failed").inc()
            lines = [str(i) for i in e.errors]
            for line in lines:
                log.error("config_reload_rejected", error=line)
            return lines
        self._file_routing = new
        self.routing = self.emergency.with_override(new)
        self.metrics.config_reloads.labels("ok").inc()
        # The knowledge base follows the file (its folder may have changed, or its articles).
        with contextlib.suppress(RuntimeError):  # no event loop: nothing serves the articles yet
            self._kb_reload = asyncio.get_running_loop().create_task(self.kb.load(new.workplace.kb_dir))
        log.info("config_reloaded", file=str(self.settings.routing_file))
        return []

    # --- admin: reload and emergency ----------------------------------------
    def _register_admin_routes(self) -> None:
        admin = AdminRoutes(self, self.emergency, self.settings.routing_file, self.ctx.wall)
        admin.register(self.http.routes)

    def _apply_emergency(self) -> None:
        self.routing = self.emergency.with_override(self._file_routing)

    # --- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        """Check dependencies once (clear errors), then start serving."""
        await self.pool()  # DatabaseError with one clear line if unreachable
        await self.emergency.load()  # before any call is served
        await self.ari.connect()  # AriAuthError / AriUnavailable
        queues = QueueService(
            self.ctx,
            self.dispatcher,
            build_distributor(self.routing),
            self.restart_state.keep_snapshot,
            self.restart_state.keep_call,
        )
        self.ctx.queues = queues
        self.federation = FederationService(queues, lambda: self.routing)
        queues.federation = self.federation
        self.federation.register(self.http.routes)
        # Always there: a reload may add the routing file's callback section later.
        callback_store = CallbackStore(self.pool)
        self.callbacks = CallbackService(self.ctx, queues, callback_store)
        queues.callbacks = self.callbacks
        CallbackRoutes(callback_store).register(self.http.routes)
        saved = await self.restart_state.load()
        if saved is not None:
            # Which calls are still up decides whether an operator is restored talking on one.
            try:
                live = {str(c.get("id")) for c in await self.ari.list_channels()}
            except AriError as e:
                log.warning("ari_channels_unlisted", error=str(e))
                live = set()
            self._restored = queues.restore(saved, live)
        self.dispatcher.listeners.append(queues.on_ari_event)
        self._start_quality(queues)
        routes = AgentRoutes(queues, lambda: self.routing.pause_reasons)
        routes.register(self.http.routes)
        # An operator's own call: connected, rung, or the one of his wrap-up (its appeal).
        self.http.access.call_owner = queues.call_owner
        UserRoutes(self.http.access, queues.has_agent).register(self.http.routes)
        self._register_admin_routes()
        appeal_store = PgAppeals(self.pool)
        appeals = Appeals(appeal_store, lambda: self.routing, queues.call_owner)
        history = History(appeal_store, self.http.access.audit, self.ctx.wall)
        AppealRoutes(appeals, history).register(self.http.routes)
        await self.kb.load(self.routing.workplace.kb_dir)
        pages = web.build(
            self.settings, queues, self, self.emergency, self.http.access, self.pool, self.ctx.wall
        )
        pages.register(self.http.app)
        web.workplace(pages, queues, appeals, history, self.kb, self.http.access).register(self.http.app)
        await self.http.start(self.settings.http_host, self.settings.http_port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self.stalls.start()
        # What start-up built (config, models, routes, the distributor) lives as long as the
        # process: out of the collector's reach, a full collection no longer walks it all
        # (full collections were the 10-100 ms tail of the event-loop lag in scripts/bench).
        gc.collect()
        gc.freeze()
        self._start_tasks()
        log.info("engine_started", **self.settings.redacted())

    def _start_quality(self, queues: QueueService) -> None:
        """Issue 18: recordings of operator conversations, live listening, their routes."""
        s = self.settings
        self.recorder = Recorder(
            self.ari, self.writer, self.metrics, s.recording_dir, self.ctx.wall,
            lambda: self.routing.centre.name, s.instance,
        )  # fmt: skip
        queues.recorder = self.recorder
        self.listening = ListenService(
            self.ctx, queues.connected, lambda: self.routing.quality.supervisor_endpoints
        )
        self.dispatcher.listeners += [self.recorder.on_event, self.listening.on_event]
        QualityRoutes(PgRecordings(self.pool), s.recording_dir, self.listening).register(self.http.routes)

    def _start_tasks(self) -> None:
        """Every background task runs supervised: a crash is logged, counted and restarted."""
        federation = self.federation
        tasks: dict[str, Callable[[], Awaitable[None]]] = {
            "records": self.writer.run,
            "ari": self._run_ari,
            "loop-lag": lambda: measure_loop_lag(self.metrics, beat=self.stalls.beat),
            "gauges": self._gauges,
            "snapshots": self.restart_state.save,
            "federation": federation.run,
            "callbacks": self._run_callbacks,
            "retention": lambda: keep_erasing(
                self.pool,
                lambda: self.routing.records.caller_number_retention_days,
                spool_dir=self.settings.spool_dir,
                recordings_days=lambda: self.routing.retention.recordings_days,
                recording_dir=self.settings.recording_dir,
            ),
        }
        guard = self._sip_guard()
        if guard is not None:
            tasks["sipguard"] = guard.run
        crash = os.environ.get(TEST_CRASH_ENV, "")
        for name, factory in tasks.items():
            self.metrics.task_restarts.labels(name)  # shown as 0 from the start
            run = _crash_once(name, factory) if name == crash else factory
            if name == "ari":
                # A wrong password stays fatal (run_until_stopped re-raises it); anything else restarts.
                self._ari_task = self.supervisor.start(name, run, fatal=(AriAuthError,))
                self._tasks.append(self._ari_task)
            elif name == "records":
                self._tasks.append(self.supervisor.start(name, run, on_idle_cancel=self._flush_writer))
            else:
                self._tasks.append(self.supervisor.start(name, run))

    def _sip_guard(self) -> SipGuard | None:
        """Counts SIP auth failures in Asterisk's security log and blocks an address
        that keeps failing; only where that log and the blocked-addresses file are known."""
        s = self.settings
        if s.sip_security_log is None or s.sip_blocked_conf is None:
            return None
        never = frozenset(a.strip() for a in s.sip_never_block.split(",") if a.strip())
        return SipGuard(
            s.sip_security_log,
            s.sip_blocked_conf,
            lambda: self.ari.reload_module("res_pjsip.so"),
            self.metrics.registry,
            Guard(never_block=never),
        )

    async def _run_ari(self) -> None:
        if self._ari_runs:  # restarted after a crash: the client may be half-open, connect afresh
            await self.ari.connect()
        self._ari_runs += 1
        self._ari_running = True
        try:
            await self.connection.run()
        finally:
            self._ari_running = False
            self.connection.mark_down()  # a crash skipped the connection's own "down"

    async def _run_callbacks(self) -> None:
        assert self.callbacks is not None, "start() first"
        await self.callbacks.run()

    async def _flush_writer(self) -> None:
        """The engine stops while the writer waits to be restarted after a crash.

        Records handed to it meanwhile would be left in memory: one short run,
        cancelled at once, gets them written or spooled by the writer's own
        flush-on-cancel.
        """
        if not self.writer.backlog:
            return
        run = asyncio.create_task(self.writer.run(), name="records-flush")
        await asyncio.sleep(0)  # let it enter its try/finally before cancelling it
        run.cancel()
        try:
            await run
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("records_flush_failed")

    async def _gauges(self) -> None:
        while True:
            self.metrics.records_backlog.set(self.writer.backlog)
            self.metrics.db_up.set(1 if self.writer.db_up else 0)
            if self.ctx.queues is not None:
                self.ctx.queues.update_gauges()
            self.metrics.centre_open.set(1 if is_open(self.routing, self.ctx.wall()) else 0)
            if self.recorder is not None:
                self.recorder.update_gauges()
            await asyncio.sleep(1.0)

    async def run_until_stopped(self) -> None:
        ari_task = self._ari_task
        assert ari_task is not None, "start() first"
        stop = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({stop, ari_task}, return_when=asyncio.FIRST_COMPLETED)
        if ari_task in done and not ari_task.cancelled():
            stop.cancel()
            ari_task.result()  # re-raises a fatal ARI error (wrong password)

    async def close_quietly(self) -> None:
        """Release what a failed start opened; the caller reports the error."""
        await self.ari.close()
        await self.http.stop()
        self._db.terminate()

    async def stop(self) -> None:
        log.info("engine_stopping")
        self.stalls.stop()
        await self.dispatcher.shutdown()
        if self.callbacks is not None:  # attempts in progress end; their requests stay "dialing"
            await self.callbacks.close()
        if self.listening is not None:
            await self.listening.close()
        if self.recorder is not None:
            await self.recorder.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.ari.close()
        await self.http.stop()
        await self._db.close()


async def serve(settings: Settings) -> None:
    routing = load_routing(settings.routing_file)
    engine = Engine(settings, routing)
    try:
        await engine.start()
    except BaseException:
        await engine.close_quietly()
        raise
    try:
        await engine.run_until_stopped()
    finally:
        await engine.stop()
