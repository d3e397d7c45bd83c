"""The admin API's emergency switch: it overrides the routing file's
``emergency.enabled`` until switched again, and is stored per instance (the
``engine_state`` row ``emergency``) so that a restart does not revert it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Protocol

import asyncpg

from ctoengine.config import RoutingConfig
from ctoengine.db.pool import DB_ERRORS
from ctoengine.errors import DatabaseError, Unavailable
from ctoengine.logs import get_logger

log = get_logger("ctoengine")

EMERGENCY_KEY = "emergency"  # engine_state row of the admin API's switch, per instance
STORE_ERRORS: tuple[type[BaseException], ...] = (DatabaseError, *DB_ERRORS)

EmergencyState = dict[str, str | bool | None]


class PoolGetter(Protocol):
    async def __call__(self) -> asyncpg.Pool: ...


class EmergencySwitch:
    def __init__(self, pool: PoolGetter, instance: str, on_switched: Callable[[], None]) -> None:
        """``on_switched`` re-applies ``with_override`` to the engine's routing."""
        self._pool = pool
        self._instance = instance
        self._on_switched = on_switched
        self._override: bool | None = None
        self._by: dict[str, str] = {}
        self._lock = asyncio.Lock()

    def state(self, routing: RoutingConfig) -> EmergencyState:
        em = routing.emergency
        source = "file" if self._override is None else "api"
        return {
            "enabled": em.enabled,
            "prompt": em.prompt,
            "flow": em.flow,
            "source": source,
            **self._by,
        }

    async def switch(self, enabled: bool | None, who: dict[str, str]) -> None:
        """Store, then apply; when it cannot be stored, raise ``Unavailable`` (503) and change nothing."""
        async with self._lock:  # the stored and the applied switch stay the same
            try:
                async with asyncio.timeout(3.0):
                    await self._store(enabled, who)
            except STORE_ERRORS as e:
                log.error(
                    "emergency_not_stored", enabled=enabled, by=who["by"], error=str(e) or type(e).__name__
                )
                raise Unavailable(
                    "the database is unavailable: emergency mode was NOT switched, since it could not be"
                    " stored; retry, or set emergency.enabled in the routing file and reload",
                    error_id="emergency_not_stored",
                ) from None
            self._override = enabled
            self._by = who if enabled is not None else {}
            self._on_switched()
        log.warning("emergency_switched", enabled=enabled, by=who["by"])

    async def _store(self, enabled: bool | None, who: dict[str, str]) -> None:
        pool = await self._pool()
        if enabled is None:
            await pool.execute(
                "DELETE FROM engine_state WHERE instance = $1 AND key = $2",
                self._instance,
                EMERGENCY_KEY,
            )
            return
        await pool.execute(
            """INSERT INTO engine_state (instance, key, value, updated_at) VALUES ($1, $2, $3::jsonb, now())
               ON CONFLICT (instance, key) DO UPDATE SET value = EXCLUDED.value, updated_at = now()""",
            self._instance,
            EMERGENCY_KEY,
            json.dumps({"enabled": enabled, **who}),
        )

    async def load(self) -> None:
        """The switch stored by the admin API, applied before the first call is served."""
        pool = await self._pool()
        raw = await pool.fetchval(
            "SELECT value FROM engine_state WHERE instance = $1 AND key = $2",
            self._instance,
            EMERGENCY_KEY,
        )
        if not isinstance(raw, str):
            return
        saved = json.loads(raw)
        enabled = saved.get("enabled") if isinstance(saved, dict) else None
        if not isinstance(enabled, bool):
            log.error("emergency_state_unreadable", value=raw[:200])
            return
        self._override = enabled
        self._by = {"by": str(saved.get("by", "")), "at": str(saved.get("at", ""))}
        self._on_switched()
        log.warning("emergency_restored", enabled=enabled, **self._by)

    def with_override(self, cfg: RoutingConfig) -> RoutingConfig:
        """The admin API's emergency switch wins over the file until switched again."""
        if self._override is None:
            return cfg
        em = cfg.emergency.model_copy(update={"enabled": self._override})
        return cfg.model_copy(update={"emergency": em})
