"""The engine process: wires ARI, the dispatcher, the record writer, metrics and HTTP.

Start-up checks each dependency once and fails with one clear line (a wrong ARI
password, an unreachable Asterisk or database, an invalid routing file);
after start-up, losing ARI or the database is survived: the websocket
reconnects, records spool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from typing import Any

import asyncpg
from aiohttp import web

from ctoengine.agents.http import AgentRoutes
from ctoengine.agents.http import openapi_paths as agent_openapi
from ctoengine.api.http import HttpApi, json_body
from ctoengine.api.openapi import admin_openapi
from ctoengine.ari.client import AriClient
from ctoengine.ari.connection import AriConnection
from ctoengine.calls.context import CallContext
from ctoengine.calls.dispatch import Dispatcher
from ctoengine.config import ConfigError, RoutingConfig, is_open, load_routing
from ctoengine.db.pool import create_pool
from ctoengine.errors import AriError, BadRequest, Unprocessable
from ctoengine.federation.service import STATUS_PATH, FederationService
from ctoengine.logs import get_logger
from ctoengine.metrics.registry import Metrics, measure_loop_lag
from ctoengine.queues.service import QueueService, RestoredCall, build_distributor
from ctoengine.records.retention import keep_erasing
from ctoengine.records.writer import RecordWriter
from ctoengine.selfservice.providers import HttpProvider, PostgresProvider, StatusProvider
from ctoengine.settings import Settings

log = get_logger("ctoengine")


class Engine:
    def __init__(self, settings: Settings, routing: RoutingConfig) -> None:
        self.settings = settings
        self.routing = routing
        self.metrics = Metrics()
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
        )
        self._pool: asyncpg.Pool | None = None
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
        self.http = HttpApi(settings.api_token.get_secret_value(), self.metrics, self.health)
        self._stop = asyncio.Event()
        self._restored: dict[str, RestoredCall] = {}
        self._emergency_override: bool | None = None
        self._emergency_by: dict[str, str] = {}
        self._snapshot: dict[str, Any] | None = None
        self._call_changes: dict[str, dict[str, Any] | None] = {}  # call id -> its saved state; None: gone
        self._snapshot_saved = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []

    def _status_provider(self) -> StatusProvider:
        cfg = getattr(getattr(self.routing, "self_service", None), "application_status", None)
        provider = getattr(cfg, "provider", None)
        if provider is not None and getattr(provider, "type", "postgres") == "http":
            return HttpProvider(str(provider.url), float(getattr(provider, "timeout_s", 3.0)))
        return PostgresProvider(self.pool)

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await create_pool(self.settings.database_url.get_secret_value())
        return self._pool

    # --- health -----------------------------------------------------------
    async def health(self) -> dict[str, Any]:
        return {"ari": self.connection.connected, "database": await self._db_answers()}

    async def _db_answers(self) -> bool:
        try:
            pool = await self.pool()
            async with asyncio.timeout(1.0):
                return bool(await pool.fetchval("SELECT 1"))
        except Exception:  # any failure of the probe means "not healthy", not a crash
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None
            return False

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
        self.routing = self._with_override(new)
        self.metrics.config_reloads.labels("ok").inc()
        log.info("config_reloaded", file=str(self.settings.routing_file))
        return []

    # --- queue state that survives a restart ---------------------------------
    def _keep_snapshot(self, snap: dict[str, Any]) -> None:
        self._snapshot = snap
        self._snapshot_saved.set()

    def _keep_call(self, call_id: str, saved: dict[str, Any] | None) -> None:
        # One row per call in a queue, written when it changes, so that the cost does not grow
        # with the number of calls waiting or talking. Every such change also changes the queue
        # snapshot, whose 50 ms debounce wakes the writer: one write carries both.
        self._call_changes[call_id] = saved

    async def _load_snapshot(self) -> dict[str, Any] | None:
        pool = await self.pool()
        rows = await pool.fetch(
            "SELECT key, value FROM engine_state"
            " WHERE instance = $1 AND (key = 'queues' OR key LIKE 'call:%')",
            self.settings.instance,
        )
        values = {r["key"]: json.loads(r["value"]) for r in rows if isinstance(r["value"], str)}
        snap = values.pop("queues", None)
        if not isinstance(snap, dict):
            return None
        snap["calls"] = {key.removeprefix("call:"): value for key, value in values.items()}
        return snap

    async def _save_snapshots(self) -> None:
        """The latest snapshot wins; a failed write is retried with the next change or in a second."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._snapshot_saved.wait()
            self._snapshot_saved.clear()
            snap, self._snapshot = self._snapshot, None
            calls, self._call_changes = self._call_changes, {}
            if snap is None and not calls:
                continue
            try:
                await self._write_state(snap, calls)
            except Exception as e:  # the database may be down: keep the changes for the next try
                log.warning("snapshot_not_saved", error=str(e) or type(e).__name__)
                if self._snapshot is None:
                    self._snapshot = snap
                self._call_changes = {**calls, **self._call_changes}

    async def _write_state(
        self, snap: dict[str, Any] | None, calls: dict[str, dict[str, Any] | None]
    ) -> None:
        keys = [f"call:{k}" for k, v in calls.items() if v is not None]
        values = [json.dumps(v) for v in calls.values() if v is not None]
        if snap is not None:
            keys.append("queues")
            values.append(json.dumps(snap))
        gone = [f"call:{k}" for k, v in calls.items() if v is None]
        pool = await self.pool()
        # One statement, one round trip: this runs up to 20 times a second under load.
        await pool.execute(
            """WITH gone AS (DELETE FROM engine_state WHERE instance = $1 AND key = ANY($4::text[]))
               INSERT INTO engine_state (instance, key, value, updated_at)
               SELECT $1, k, v::jsonb, now() FROM unnest($2::text[], $3::text[]) AS t(k, v)
               ON CONFLICT (instance, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
            self.settings.instance,
            keys,
            values,
            gone,
        )

    # --- admin: reload and emergency ----------------------------------------
    def _register_admin_routes(self) -> None:
        app = self.http.app
        app.router.add_post("/api/v1/config/reload", self._http_reload)
        app.router.add_get("/api/v1/emergency", self._http_emergency_get)
        app.router.add_post("/api/v1/emergency", self._http_emergency_set)
        self.http.add_paths(admin_openapi())

    async def _http_reload(self, _: web.Request) -> web.Response:
        errors = self.reload()
        if errors:
            raise Unprocessable("the routing file is invalid; the running configuration stays", errors=errors)
        return web.json_response({"ok": True, "file": str(self.settings.routing_file)})

    def _emergency_state(self) -> dict[str, Any]:
        em = self.routing.emergency
        return {"enabled": em.enabled, "prompt": em.prompt, "flow": em.flow, **self._emergency_by}

    async def _http_emergency_get(self, _: web.Request) -> web.Response:
        return web.json_response(self._emergency_state())

    async def _http_emergency_set(self, request: web.Request) -> web.Response:
        body = await json_body(request)
        enabled, by = body.get("enabled"), body.get("by")
        if not isinstance(enabled, bool):
            raise BadRequest("'enabled' must be true or false")
        if not isinstance(by, str) or not by.strip():
            raise BadRequest("'by' must name who switches emergency mode")
        self._emergency_override = enabled
        self._emergency_by = {"by": by.strip(), "at": self.ctx.wall().isoformat()}
        self.routing = self._with_override(self.routing)
        log.warning("emergency_switched", enabled=enabled, by=by.strip())
        return web.json_response(self._emergency_state())

    def _with_override(self, cfg: RoutingConfig) -> RoutingConfig:
        """The admin API's emergency switch wins over the file until switched again."""
        if self._emergency_override is None:
            return cfg
        em = cfg.emergency.model_copy(update={"enabled": self._emergency_override})
        return cfg.model_copy(update={"emergency": em})

    # --- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        """Check dependencies once (clear errors), then start serving."""
        await self.pool()  # DatabaseError with one clear line if unreachable
        await self.ari.connect()  # AriAuthError / AriUnavailable
        queues = QueueService(
            self.ctx, self.dispatcher, build_distributor(self.routing), self._keep_snapshot, self._keep_call
        )
        self.ctx.queues = queues
        self.federation = FederationService(queues, lambda: self.routing)
        queues.federation = self.federation
        self.http.app.router.add_get(STATUS_PATH, self.federation.http_status)
        saved = await self._load_snapshot()
        if saved is not None:
            # Which calls are still up decides whether an operator is restored talking on one.
            try:
                live = {str(c.get("id")) for c in await self.ari.list_channels()}
            except AriError as e:
                log.warning("ari_channels_unlisted", error=str(e))
                live = set()
            self._restored = queues.restore(saved, live)
        self.dispatcher.listeners.append(queues.on_ari_event)
        routes = AgentRoutes(queues, lambda: self.routing.pause_reasons)
        routes.register(self.http.app)
        self.http.add_paths(agent_openapi())
        self._register_admin_routes()
        await self.http.start(self.settings.http_host, self.settings.http_port)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        self._tasks = [
            asyncio.create_task(self.writer.run(), name="records"),
            asyncio.create_task(self.connection.run(), name="ari"),
            asyncio.create_task(measure_loop_lag(self.metrics), name="loop-lag"),
            asyncio.create_task(self._gauges(), name="gauges"),
            asyncio.create_task(self._save_snapshots(), name="snapshots"),
            asyncio.create_task(self.federation.run(), name="federation"),
            asyncio.create_task(
                keep_erasing(self.pool, lambda: self.routing.records.caller_number_retention_days),
                name="retention",
            ),
        ]
        log.info("engine_started", **self.settings.redacted())

    async def _gauges(self) -> None:
        while True:
            self.metrics.records_backlog.set(self.writer.backlog)
            self.metrics.db_up.set(1 if self.writer.db_up else 0)
            if self.ctx.queues is not None:
                self.ctx.queues.update_gauges()
            self.metrics.centre_open.set(1 if is_open(self.routing, self.ctx.wall()) else 0)
            await asyncio.sleep(1.0)

    async def run_until_stopped(self) -> None:
        ari_task = self._tasks[1]
        stop = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait({stop, ari_task}, return_when=asyncio.FIRST_COMPLETED)
        if ari_task in done and not ari_task.cancelled():
            stop.cancel()
            ari_task.result()  # re-raises a fatal ARI error (wrong password)

    async def close_quietly(self) -> None:
        """Release what a failed start opened; the caller reports the error."""
        await self.ari.close()
        await self.http.stop()
        if self._pool is not None:
            self._pool.terminate()

    async def stop(self) -> None:
        log.info("engine_stopping")
        await self.dispatcher.shutdown()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await self.ari.close()
        await self.http.stop()
        if self._pool is not None:
            await self._pool.close()


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
