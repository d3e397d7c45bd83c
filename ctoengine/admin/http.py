"""The admin routes: reload the routing file, read and switch emergency mode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from aiohttp import web

from ctoengine.admin.emergency import EmergencyState as EmergencyView
from ctoengine.admin.schemas import EmergencyState, EmergencySwitchBody, Reloaded
from ctoengine.api.routes import Routes
from ctoengine.config import RoutingConfig
from ctoengine.errors import Unprocessable


class AdminHost(Protocol):
    """The engine, as the admin routes see it."""

    @property
    def routing(self) -> RoutingConfig: ...

    def reload(self) -> list[str]: ...


class Emergency(Protocol):
    """The emergency switch (``ctoengine.admin.emergency.EmergencySwitch``) as the routes use it."""

    def state(self, routing: RoutingConfig) -> EmergencyView: ...

    async def switch(self, enabled: bool | None, who: dict[str, str]) -> None: ...


class AdminRoutes:
    def __init__(
        self,
        host: AdminHost,
        emergency: Emergency,
        routing_file: Path,
        wall: Callable[[], datetime],
    ) -> None:
        self._host = host
        self._emergency = emergency
        self._routing_file = routing_file
        self._wall = wall

    def register(self, routes: Routes) -> None:
        add = routes.add
        # fmt: off
        add("POST", "/api/v1/config/reload", self._reload, op="reloadConfig", tag="admin",
            summary="Validate the routing file in full and switch to it", output=Reloaded, errors=(422,))
        add("GET", "/api/v1/emergency", self._emergency_get, op="getEmergency", tag="admin",
            summary="Emergency mode: on or off, who decides it, who switched it and when",
            output=EmergencyState)
        add("POST", "/api/v1/emergency", self._emergency_set, op="setEmergency", tag="admin",
            summary="Switch emergency mode (stored: it survives a restart)",
            input=EmergencySwitchBody, output=EmergencyState)
        # fmt: on

    async def _reload(self, _: web.Request) -> Reloaded:
        """Invalid: 422 with every error as FILE:LINE:COLUMN, and the running configuration stays."""
        errors = self._host.reload()
        if errors:
            raise Unprocessable("the routing file is invalid; the running configuration stays", errors=errors)
        return Reloaded(ok=True, file=str(self._routing_file))

    async def _emergency_get(self, _: web.Request) -> EmergencyState:
        return EmergencyState.model_validate(self._emergency.state(self._host.routing))

    async def _emergency_set(self, _: web.Request, body: EmergencySwitchBody) -> EmergencyState:
        """Switch emergency mode: stored first, applied only once stored.

        If the database cannot store it the answer is 503 and nothing changes.
        Chosen over "apply in memory and retry": a switch that a restart silently
        reverts is the very fault this fixes, and the operator must know at once
        that it did not take; the routing file (``emergency.enabled`` and a
        reload) still works without the database. ``enabled: null`` drops the
        override: the routing file decides again.
        """
        who = {"by": body.by, "at": self._wall().isoformat()}
        await self._emergency.switch(body.enabled, who)
        return EmergencyState.model_validate(self._emergency.state(self._host.routing))
