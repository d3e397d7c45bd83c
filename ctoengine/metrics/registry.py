"""The engine's metrics, on a registry of its own (no process-global state in tests).

Names follow Prometheus conventions: ratios end in ``_ratio``. The gauges
``ctoengine_service_level`` and ``ctoengine_abandoned_share`` (before issue 19) are
still exported with the same values for one release, as deprecated aliases of
``ctoengine_service_level_ratio`` and ``ctoengine_abandoned_share_ratio``
(CHANGELOG.md). The registry also carries the process collector
(``process_*``: CPU, memory, open files), the platform and GC collectors
(``python_info``, ``python_gc_*``) and ``ctoengine_build_info{version}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)

from ctoengine import __version__
from ctoengine.quality.metrics import QualityMetrics

# Buckets around the 20 s answer target: the SLA is read straight off them.
WAIT_BUCKETS = (1, 2, 5, 10, 15, 20, 25, 30, 45, 60, 120, 300, 600)
FAST_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        # The standard collectors, on our registry as well as the default one (they only read).
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            r.register(collector)
        self.build_info = Info("ctoengine_build", "The running engine's version", registry=r)
        self.build_info.info({"version": __version__})
        self.calls = Counter(
            "ctoengine_calls",
            "Calls ended, by disposition and topic",
            ["disposition", "topic"],
            registry=r,
        )
        self.calls_started = Counter("ctoengine_calls_started", "Calls that entered the engine", registry=r)
        self.active_calls = Gauge("ctoengine_active_calls", "Calls in progress", registry=r)
        self.queue_wait = Histogram(
            "ctoengine_queue_wait_seconds",
            "Wait in queue until answer or abandon",
            ["queue", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.ari_connected = Gauge("ctoengine_ari_connected", "1 when the ARI websocket is up", registry=r)
        self.ari_reconnects = Counter("ctoengine_ari_reconnects", "ARI websocket reconnects", registry=r)
        self.ari_requests = Histogram(
            "ctoengine_ari_request_seconds",
            "ARI REST request latency",
            ["op"],
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.ari_events = Counter("ctoengine_ari_events", "ARI events received", ["type"], registry=r)
        self.event_handling = Histogram(
            "ctoengine_event_dispatch_seconds",
            "Time the websocket reader spends per event",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "ctoengine_event_loop_lag_seconds",
            "Event-loop lag measured every 100 ms",
            buckets=FAST_BUCKETS,
            registry=r,
        )
        self.records_backlog = Gauge(
            "ctoengine_records_backlog",
            "Records not yet in PostgreSQL (queued + spooled)",
            registry=r,
        )
        self.records_written = Counter(
            "ctoengine_records_written", "Records written to PostgreSQL", ["table"], registry=r
        )
        self.records_quarantined = Counter(
            "ctoengine_records_quarantined",
            "Rows PostgreSQL refused (a data or constraint error), kept in quarantine.jsonl",
            ["table"],
            registry=r,
        )
        self.records_spool_torn = Counter(
            "ctoengine_records_spool_torn",
            "Spool lines that did not load (torn by a crash), set aside in spool-torn.jsonl",
            registry=r,
        )
        self.records_lost = Counter(
            "ctoengine_records_lost",
            "Records dropped: the spool could not be written and the memory buffer was full",
            ["table"],
            registry=r,
        )
        self.records_spool_failing = Gauge(
            "ctoengine_records_spool_failing",
            "1 while the record spool cannot be written (disk full?): records wait in memory",
            registry=r,
        )
        self.db_up = Gauge("ctoengine_database_up", "1 when the record writer reaches PostgreSQL", registry=r)
        self.centre_open = Gauge(
            "ctoengine_centre_open", "1 during working hours by the schedule, 0 in night mode", registry=r
        )
        self.config_reloads = Counter(
            "ctoengine_config_reloads", "Routing file reloads", ["result"], registry=r
        )
        self.queue_waiting = Gauge(
            "ctoengine_queue_callers_waiting", "Callers waiting", ["queue"], registry=r
        )
        self.queue_longest_wait = Gauge(
            "ctoengine_queue_longest_wait_seconds", "Longest current wait", ["queue"], registry=r
        )
        self.agents = Gauge(
            "ctoengine_agents", "Agents who can serve the queue, by state", ["queue", "state"], registry=r
        )
        self.service_level = Gauge(
            "ctoengine_service_level_ratio",
            "Answered within 20 s / (offered - short abandons - overflows); NaN with no calls",
            ["queue", "window"],
            registry=r,
        )
        self.abandoned_share = Gauge(
            "ctoengine_abandoned_share_ratio",
            "Abandoned after 5 s or more / (offered - short abandons - overflows)",
            ["queue", "window"],
            registry=r,
        )
        # Deprecated aliases (the names before issue 19), removed in the next release.
        self.service_level_alias = Gauge(
            "ctoengine_service_level",
            "Deprecated: use ctoengine_service_level_ratio (same value)",
            ["queue", "window"],
            registry=r,
        )
        self.abandoned_share_alias = Gauge(
            "ctoengine_abandoned_share",
            "Deprecated: use ctoengine_abandoned_share_ratio (same value)",
            ["queue", "window"],
            registry=r,
        )
        self.agent_state = Gauge(
            "ctoengine_agent_state",
            "1 for the operator's current state, 0 for the states he left (per operator)",
            ["agent", "state"],
            registry=r,
        )
        self.overflows = Counter(
            "ctoengine_overflows", "Calls a peer centre answered for us", ["peer"], registry=r
        )
        self.overflows_received = Counter(
            "ctoengine_overflows_received",
            "Calls peers sent us, by origin and result",
            ["origin", "result"],
            registry=r,
        )
        self.peer_up = Gauge(
            "ctoengine_peer_up", "1 when the peer's status is fresh, 0 when unknown", ["peer"], registry=r
        )
        self.agent_state_changes = Counter(
            "ctoengine_agent_state_changes",
            "Agent state changes",
            ["from_state", "to_state"],
            registry=r,
        )
        self.api_auth_failures = Counter(
            "ctoengine_api_auth_failures",
            "HTTP API requests refused: reason unauthorized (401), forbidden (403), rate_limited (429)",
            ["reason"],
            registry=r,
        )
        self.audit_write_failures = Counter(
            "ctoengine_audit_write_failures",
            "Audit rows that could not be written (the database was unavailable); the call itself went on",
            registry=r,
        )
        self.task_restarts = Counter(
            "ctoengine_task_restarts",
            "Background tasks restarted by the supervisor after a crash, by task",
            ["task"],
            registry=r,
        )
        # --- reliability (issue 13) ---
        self.event_dispatch_errors = Counter(
            "ctoengine_event_dispatch_errors",
            "ARI events whose dispatch failed (logged as event_dispatch_failed), by event type",
            ["type"],
            registry=r,
        )
        self.call_events_dropped = Counter(
            "ctoengine_call_events_dropped",
            "Events a call's full queue dropped (never one that ends the call), by type",
            ["type"],
            registry=r,
        )
        self.watchdog_recoveries = Counter(
            "ctoengine_watchdog_recoveries",
            "Lost events a call's watchdog recovered by asking Asterisk, by event",
            ["event"],
            registry=r,
        )
        self.selfservice_lookups_refused = Counter(
            "ctoengine_selfservice_lookups_refused",
            "Self-service look-ups refused: more than MAX_LOOKUPS in one call (no enumeration)",
            registry=r,
        )
        self.reconciled = Counter(
            "ctoengine_reconciled",
            "What reconciliation after an ARI (re)connect did, by action",
            ["action"],
            registry=r,
        )
        self.ari_app_replaced = Gauge(
            "ctoengine_ari_app_replaced",
            "1 while another engine holds our Stasis application (ApplicationReplaced)",
            registry=r,
        )
        # --- callbacks (issue 15) ---
        self.callbacks_pending = Gauge(
            "ctoengine_callbacks_pending", "Callback requests open (pending or being dialled)", registry=r
        )
        self.callbacks_oldest_pending = Gauge(
            "ctoengine_callbacks_oldest_pending_seconds",
            "Age of the oldest open callback request (0 when none)",
            registry=r,
        )
        self.callbacks_kept = Gauge(
            "ctoengine_callbacks_done_within_due_ratio",
            "Requests of the last 7 days called back in time / those settled or overdue; NaN with none",
            registry=r,
        )
        self.callback_attempts = Counter(
            "ctoengine_callback_attempts",
            "Callback attempts by result (answered, no_answer, busy, failed, hung_up, operator_unavailable)",
            ["result"],
            registry=r,
        )

        self.quality = QualityMetrics(r)  # issue 18: recordings, survey, listening

    def set_sla(self, queue: str, window: str, service_level: float | None, abandoned: float | None) -> None:
        """Both names of each ratio (the ``_ratio`` one and its deprecated alias); NaN when undefined."""
        sl = float("nan") if service_level is None else service_level
        ab = float("nan") if abandoned is None else abandoned
        for gauge, value in (
            (self.service_level, sl),
            (self.service_level_alias, sl),
            (self.abandoned_share, ab),
            (self.abandoned_share_alias, ab),
        ):
            gauge.labels(queue, window).set(value)

    def agent_changed(self, agent: str, from_state: str, to_state: str) -> None:
        self.agent_state_changes.labels(from_state, to_state).inc()
        if from_state != to_state:
            self.agent_state.labels(agent, from_state).set(0)
        self.agent_state.labels(agent, to_state).set(1)


async def measure_loop_lag(
    metrics: Metrics, interval: float = 0.1, beat: Callable[[], None] = lambda: None
) -> None:
    """Sleep ``interval`` repeatedly; how late each wake-up is, is the loop's lag.
    ``beat`` tells the stall watcher (``metrics.stalls``) that the loop is alive."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(interval)
        beat()
        metrics.loop_lag.observe(max(0.0, loop.time() - start - interval))
