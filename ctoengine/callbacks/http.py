"""``GET /api/v1/callbacks``: the requests, newest first, for supervisors (policy: callbacks.list)."""

from __future__ import annotations

from typing import Any, Protocol

from aiohttp import web

from ctoengine.api.routes import Routes
from ctoengine.callbacks.schemas import CallbackList, CallbackQuery
from ctoengine.callbacks.service import callbacks_view
from ctoengine.errors import DatabaseError, Unavailable


class CallbackLister(Protocol):
    async def list(self, status: str | None, limit: int) -> list[dict[str, Any]]: ...


class CallbackRoutes:
    def __init__(self, store: CallbackLister) -> None:
        self.store = store

    def register(self, routes: Routes) -> None:
        routes.add(
            "GET", "/api/v1/callbacks", self.list_callbacks, op="listCallbacks", tag="callbacks",
            summary="Callback requests, newest first (supervisor)", input=CallbackQuery, output=CallbackList,
        )  # fmt: skip

    async def list_callbacks(self, _: web.Request, query: CallbackQuery) -> CallbackList:
        try:
            rows = await self.store.list(query.status, query.limit)
        except DatabaseError as e:
            raise Unavailable(f"the callbacks cannot be read now: {e}") from None
        return CallbackList.model_validate([callbacks_view(r) for r in rows])
