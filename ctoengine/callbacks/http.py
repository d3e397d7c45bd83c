"""``GET /api/v1/callbacks``: the requests, newest first, for supervisors (policy: callbacks.list)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ctoengine.api.openapi import error_responses
from ctoengine.callbacks.schedule import OPEN
from ctoengine.callbacks.service import callbacks_view
from ctoengine.callbacks.store import CallbackStore
from ctoengine.errors import BadRequest, DatabaseError, Unavailable

STATUSES = ("pending", "dialing", "done", "failed", "expired")
MAX_LIMIT = 1000


class CallbackRoutes:
    def __init__(self, store: CallbackStore) -> None:
        self.store = store

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/callbacks", self.list_callbacks)

    async def list_callbacks(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}", error_id="bad_status")
        try:
            limit = int(request.query.get("limit", "200"))
        except ValueError:
            raise BadRequest("limit must be a whole number", error_id="bad_limit") from None
        if not 1 <= limit <= MAX_LIMIT:
            raise BadRequest(f"limit must be within 1..{MAX_LIMIT}", error_id="bad_limit")
        try:
            rows = await self.store.list(status, limit)
        except DatabaseError as e:
            raise Unavailable(f"the callbacks cannot be read now: {e}") from None
        return web.json_response([callbacks_view(r) for r in rows])


def openapi_paths() -> dict[str, Any]:
    return {
        "/api/v1/callbacks": {
            "get": {
                "summary": "Callback requests, newest first: number, topic, status, attempts (supervisor)",
                "security": [{"bearer": []}],
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(STATUSES)}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                ],
                "responses": {
                    "200": {"description": f"requests; open ones are {' and '.join(sorted(OPEN))}"},
                    **error_responses(400, 401, 403, 503),
                },
            }
        }
    }
