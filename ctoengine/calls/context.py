"""What every call task shares: the services of the shell, passed in, never global."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from ctoengine.ari.client import AriClient
from ctoengine.metrics.registry import Metrics
from ctoengine.records.writer import RecordWriter
from ctoengine.selfservice.providers import StatusProvider

if TYPE_CHECKING:
    from ctoengine.config.routing import RoutingConfig


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class CallContext:
    ari: AriClient
    writer: RecordWriter
    metrics: Metrics
    routing: Callable[[], RoutingConfig]
    status_provider: StatusProvider
    instance: str
    # Injected so that schedules (night mode) can be tested without waiting.
    wall: Callable[[], datetime] = utc_now
    queues: Any = None  # ctoengine.queues.service.QueueService once started
    # The database pool, for the few lookups a call makes on its way (None in tests of the core).
    pool: Callable[[], Awaitable[asyncpg.Pool]] | None = None
    # Route a channel the call originated (its events) to the call's task, and stop.
    adopt: Callable[[str, Any], None] = lambda channel_id, owner: None
    release: Callable[[str], None] = lambda channel_id: None
