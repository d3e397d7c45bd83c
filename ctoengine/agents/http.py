"""Agent and queue routes of the HTTP API: login, logout, pause, unpause, and the live views."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ctoengine.agents.states import InvalidAgentTransition
from ctoengine.api.http import json_body
from ctoengine.api.openapi import error_responses
from ctoengine.errors import BadRequest, Conflict, NotFound

ACTIONS = ("login", "logout", "pause", "unpause")


class AgentRoutes:
    def __init__(self, service: Any, pause_reasons: Any) -> None:
        self.service = service
        self._pause_reasons = pause_reasons

    def register(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/agents", self.list_agents)
        app.router.add_get("/api/v1/agents/{agent}", self.get_agent)
        app.router.add_get("/api/v1/queues", self.list_queues)
        app.router.add_post("/api/v1/calls/{call_id}/transfer", self.transfer)
        for action in ACTIONS:
            app.router.add_post(f"/api/v1/agents/{{agent}}/{action}", self.make_action(action))

    def make_action(self, action: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            agent = request.match_info["agent"]
            body = await json_body(request)
            self._known(agent)
            if action == "pause":
                reason = body.get("reason")
                reasons = list(self._pause_reasons())
                if not isinstance(reason, str) or reason not in reasons:
                    raise BadRequest(
                        "pause needs a reason from the configured list",
                        error_id="bad_pause_reason",
                        allowed=reasons,
                    )
            try:
                self.service.agent_action(agent, action, body.get("reason"))
            except InvalidAgentTransition as e:
                raise Conflict(str(e), error_id="invalid_agent_state") from None
            return web.json_response(self.service.agent_view(agent))

        return handler

    def _known(self, agent: str) -> None:
        if not self.service.has_agent(agent):
            raise NotFound(f"no operator {agent!r} in the routing file", error_id="unknown_agent")

    async def list_agents(self, _: web.Request) -> web.Response:
        return web.json_response(self.service.agents_view())

    async def get_agent(self, request: web.Request) -> web.Response:
        agent = request.match_info["agent"]
        self._known(agent)
        return web.json_response(self.service.agent_view(agent))

    async def transfer(self, request: web.Request) -> web.Response:
        call_id = request.match_info["call_id"]
        body = await json_body(request)
        queue, agent = body.get("queue"), body.get("agent")
        if (queue is None) == (agent is None):
            raise BadRequest("give exactly one of 'queue' or 'agent'")
        if queue is not None and (not isinstance(queue, str) or queue not in self.service.dist.queues):
            raise NotFound(f"no queue {queue!r}", error_id="unknown_queue")
        if agent is not None:
            self._known(str(agent))
        refusal = await self.service.transfer(call_id, queue, agent)
        if refusal is not None:
            raise Conflict(f"call {call_id!r} cannot be transferred: {refusal}", error_id="not_connected")
        return web.json_response({"ok": True, "call_id": call_id, "queue": queue, "agent": agent})

    async def list_queues(self, _: web.Request) -> web.Response:
        return web.json_response(self.service.queues_view())


def openapi_paths() -> dict[str, Any]:
    agent_param = [{"name": "agent", "in": "path", "required": True, "schema": {"type": "string"}}]
    sec: list[dict[str, list[str]]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/api/v1/agents": {
            "get": {
                "summary": "Every operator with its state (supervisor, admin)",
                "security": sec,
                "responses": {"200": {"description": "agents"}, **error_responses(401, 403)},
            }
        },
        "/api/v1/agents/{agent}": {
            "get": {
                "summary": "One operator (an operator user: only its own agent)",
                "security": sec,
                "parameters": agent_param,
                "responses": {"200": {"description": "agent"}, **error_responses(401, 403, 404)},
            }
        },
        "/api/v1/queues": {
            "get": {
                "summary": "Every queue: waiting, longest and expected wait, agents by state (supervisor)",
                "security": sec,
                "responses": {"200": {"description": "queues"}, **error_responses(401, 403)},
            }
        },
    }
    paths["/api/v1/calls/{call_id}/transfer"] = {
        "post": {
            "summary": (
                "Blind transfer of a connected call to a queue or an operator (the wait is kept);"
                " an operator user only its own call"
            ),
            "security": sec,
            "parameters": [{"name": "call_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"queue": {"type": "string"}, "agent": {"type": "string"}},
                        }
                    }
                }
            },
            "responses": {
                "200": {"description": "transferred"},
                **error_responses(400, 401, 403, 404, 409, 413),
            },
        }
    }
    for action in ACTIONS:
        body: dict[str, Any] = {"type": "object"}
        if action == "pause":
            body = {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}
        paths[f"/api/v1/agents/{{agent}}/{action}"] = {
            "post": {
                "summary": f"{action.capitalize()} an operator (an operator user: only its own agent)",
                "security": sec,
                "parameters": agent_param,
                "requestBody": {"content": {"application/json": {"schema": body}}},
                "responses": {
                    "200": {"description": "the agent after the change"},
                    **error_responses(400, 401, 403, 404, 409, 413),
                },
            }
        }
    return paths
