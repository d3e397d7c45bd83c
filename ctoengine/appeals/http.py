"""Appeal routes of the HTTP API: register an appeal on a call, move a complaint on, and a
supervisor's search of a caller's history (policy: call.appeal, appeal.status, history.lookup)."""

from __future__ import annotations

from aiohttp import web

from ctoengine.api.http import PRINCIPAL
from ctoengine.api.routes import Routes
from ctoengine.appeals.history import History
from ctoengine.appeals.schemas import (
    AppealBody,
    AppealView,
    ComplaintBody,
    HistoryList,
    HistoryQuery,
)
from ctoengine.appeals.service import Appeals
from ctoengine.errors import NotFound, Unauthorized
from ctoengine.users.policy import Principal


def _who() -> Principal:
    who = PRINCIPAL.get()
    if who is None:  # the middleware authenticates every route here first
        raise Unauthorized("no principal")
    return who


class AppealRoutes:
    def __init__(self, appeals: Appeals, history: History) -> None:
        self.appeals = appeals
        self.history = history

    def register(self, routes: Routes) -> None:
        add = routes.add
        # fmt: off
        add("POST", "/api/v1/calls/{call_id}/appeal", self.register_appeal, op="registerAppeal",
            tag="appeals", summary="Register an appeal (topic, sub-topic, outcome) on a call",
            input=AppealBody, output=AppealView, status=201, errors=(404, 422))
        add("PATCH", "/api/v1/appeals/{appeal_id}", self.complaint_status, op="setComplaintStatus",
            tag="appeals", summary="Move a complaint on in its registry (supervisor)", input=ComplaintBody,
            output=AppealView, errors=(404, 409))
        add("GET", "/api/v1/history", self.search_history, op="callerHistory", tag="appeals",
            summary="A caller's calls and appeals of the last days (supervisor; audited)",
            input=HistoryQuery, output=HistoryList)
        # fmt: on

    async def register_appeal(self, request: web.Request, body: AppealBody) -> AppealView:
        """An operator on his own call only (connected, rung, or in its wrap-up); a supervisor on
        any call. 422 ``bad_appeal`` when the sub-topic is not the topic's in the routing file;
        404 ``unknown_call``. A complaint starts ``new`` in the registry."""
        row = await self.appeals.register(
            _who(), request.match_info["call_id"], body.topic, body.subtopic, body.outcome, body.note
        )
        return AppealView.model_validate(row)

    async def complaint_status(self, request: web.Request, body: ComplaintBody) -> AppealView:
        """409 ``not_a_complaint`` for an appeal with another outcome; 404 ``unknown_appeal``."""
        raw = request.match_info["appeal_id"]
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound(f"Нет обращения {raw[:40]!r}.", error_id="unknown_appeal")
        return AppealView.model_validate(await self.appeals.set_status(_who(), int(raw), body.status))

    async def search_history(self, request: web.Request, query: HistoryQuery) -> HistoryList:
        """Personal data: every search writes an ``audit_log`` row (``history.lookup``, the number
        masked)."""
        rows = await self.history.lookup(_who(), request.remote, query.number, days=query.days, via="api")
        return HistoryList.model_validate(rows)
