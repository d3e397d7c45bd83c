"""The admin routes: reload the routing file, read and switch emergency mode."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from aiohttp import web

from ctoengine.admin.emergency import EmergencySwitch
from ctoengine.api.http import HttpApi, json_body
from ctoengine.api.openapi import admin_openapi
from ctoengine.config import RoutingConfig
from ctoengine.errors import BadRequest, Unprocessable


class AdminHost(Protocol):
    """The engine, as the admin routes see it."""

    @property
    def routing(self) -> RoutingConfig: ...

    def reload(self) -> list[str]: ...


class AdminRoutes:
    def __init__(
        self,
        host: AdminHost,
        emergency: EmergencySwitch,
        routing_file: Path,
        wall: Callable[[], datetime],
    ) -> None:
        self._host = host
        self._emergency = emergency
        self._routing_file = routing_file
        self._wall = wall

    def register(self, api: HttpApi) -> None:
        app = api.app
        app.router.add_post("/api/v1/config/reload", self._reload)
        app.router.add_get("/api/v1/emergency", self._emergency_get)
        app.router.add_post("/api/v1/emergency", self._emergency_set)
        api.add_paths(admin_openapi())

    async def _reload(self, _: web.Request) -> web.Response:
        errors = self._host.reload()
        if errors:
            raise Unprocessable("the routing file is invalid; the running configuration stays", errors=errors)
        return web.json_response({"ok": True, "file": str(self._routing_file)})

    async def _emergency_get(self, _: web.Request) -> web.Response:
        return web.json_response(self._emergency.state(self._host.routing))

    async def _emergency_set(self, request: web.Request) -> web.Response:
        """Switch emergency mode: stored first, applied only once stored.

        If the database cannot store it the answer is 503 and nothing changes.
        Chosen over "apply in memory and retry": a switch that a restart silently
        reverts is the very fault this fixes, and the operator must know at once
        that it did not take; the routing file (``emergency.enabled`` and a
        reload) still works without the database. ``enabled: null`` drops the
        override: the routing file decides again.
        """
        body = await json_body(request)
        enabled, by = body.get("enabled"), body.get("by")
        if enabled is not None and not isinstance(enabled, bool):
            raise BadRequest("'enabled' must be true or false (or null: the routing file decides)")
        if not isinstance(by, str) or not by.strip():
            raise BadRequest("'by' must name who switches emergency mode")
        who = {"by": by.strip(), "at": self._wall().isoformat()}
        await self._emergency.switch(enabled, who)
        return web.json_response(self._emergency.state(self._host.routing))
