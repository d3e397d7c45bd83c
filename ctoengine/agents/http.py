"""Agent and queue routes of the HTTP API: login, logout, pause, unpause, transfer, the live views."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Protocol

from aiohttp import web

from ctoengine.agents.schemas import (
    AgentList,
    AgentView,
    PauseBody,
    QueueList,
    TransferBody,
    TransferResult,
)
from ctoengine.agents.states import InvalidAgentTransition
from ctoengine.api.routes import Routes
from ctoengine.errors import BadRequest, Conflict, NotFound


class AgentService(Protocol):
    """The queue service (``ctoengine.queues.service.QueueService``) as these routes use it."""

    def has_agent(self, agent_id: str) -> bool: ...

    def has_queue(self, name: str) -> bool: ...

    def agent_action(self, agent_id: str, action: str, reason: str | None = None) -> None: ...

    def agent_view(self, agent_id: str) -> dict[str, Any]: ...

    def agents_view(self) -> list[dict[str, Any]]: ...

    def queues_view(self) -> list[dict[str, Any]]: ...

    async def transfer(self, call_id: str, queue: str | None, agent: str | None) -> str | None: ...


class AgentRoutes:
    def __init__(self, service: AgentService, pause_reasons: Callable[[], Iterable[str]]) -> None:
        self.service = service
        self._pause_reasons = pause_reasons

    def register(self, routes: Routes) -> None:
        add = routes.add
        # fmt: off
        add("GET", "/api/v1/agents", self.list_agents, op="listAgents", tag="agents",
            summary="Every operator with its state", output=AgentList)
        add("GET", "/api/v1/agents/{agent}", self.get_agent, op="getAgent", tag="agents",
            summary="One operator", output=AgentView, errors=(404,))
        add("POST", "/api/v1/agents/{agent}/login", self.login, op="loginAgent", tag="agents",
            summary="Log an operator in (available)", output=AgentView, errors=(404, 409))
        add("POST", "/api/v1/agents/{agent}/logout", self.logout, op="logoutAgent", tag="agents",
            summary="Log an operator out", output=AgentView, errors=(404, 409))
        add("POST", "/api/v1/agents/{agent}/pause", self.pause, op="pauseAgent", tag="agents",
            summary="Pause an operator with a reason", input=PauseBody, output=AgentView, errors=(404, 409))
        add("POST", "/api/v1/agents/{agent}/unpause", self.unpause, op="unpauseAgent", tag="agents",
            summary="End an operator's pause", output=AgentView, errors=(404, 409))
        add("GET", "/api/v1/queues", self.list_queues, op="listQueues", tag="queues",
            summary="Every queue: waiting, longest and expected wait, agents by state", output=QueueList)
        add("POST", "/api/v1/calls/{call_id}/transfer", self.transfer, op="transferCall", tag="calls",
            summary="Blind transfer of a connected call to a queue or an operator",
            input=TransferBody, output=TransferResult, errors=(404, 409))
        # fmt: on

    def _act(self, request: web.Request, action: str, reason: str | None = None) -> AgentView:
        agent = request.match_info["agent"]
        self._known(agent)
        try:
            self.service.agent_action(agent, action, reason)
        except InvalidAgentTransition as e:
            raise Conflict(str(e), error_id="invalid_agent_state") from None
        return AgentView.model_validate(self.service.agent_view(agent))

    async def login(self, request: web.Request) -> AgentView:
        """From logged out or paused; a paused operator stays paused until unpaused."""
        return self._act(request, "login")

    async def logout(self, request: web.Request) -> AgentView:
        """At once when idle; after its call and wrap-up otherwise (``pending``)."""
        return self._act(request, "logout")

    async def pause(self, request: web.Request, body: PauseBody) -> AgentView:
        """A reason outside the routing file's ``pause_reasons`` is a 400 ``bad_pause_reason``
        whose details list the allowed ones. On a call: paused after the call and wrap-up."""
        self._known(request.match_info["agent"])
        reasons = list(self._pause_reasons())
        if body.reason not in reasons:
            raise BadRequest(
                "pause needs a reason from the configured list", error_id="bad_pause_reason", allowed=reasons
            )
        return self._act(request, "pause", body.reason)

    async def unpause(self, request: web.Request) -> AgentView:
        return self._act(request, "unpause")

    def _known(self, agent: str) -> None:
        if not self.service.has_agent(agent):
            raise NotFound(f"no operator {agent!r} in the routing file", error_id="unknown_agent")

    async def list_agents(self, _: web.Request) -> AgentList:
        return AgentList.model_validate(self.service.agents_view())

    async def get_agent(self, request: web.Request) -> AgentView:
        agent = request.match_info["agent"]
        self._known(agent)
        return AgentView.model_validate(self.service.agent_view(agent))

    async def transfer(self, request: web.Request, body: TransferBody) -> TransferResult:
        """The wait counts on from the first queue entry. 409 ``not_connected`` when the call is
        not connected to an operator; 404 ``unknown_queue`` / ``unknown_agent``."""
        call_id = request.match_info["call_id"]
        queue, agent = body.queue, body.agent
        if queue is not None and not self.service.has_queue(queue):
            raise NotFound(f"no queue {queue!r}", error_id="unknown_queue")
        if agent is not None:
            self._known(agent)
        refusal = await self.service.transfer(call_id, queue, agent)
        if refusal is not None:
            raise Conflict(f"call {call_id!r} cannot be transferred: {refusal}", error_id="not_connected")
        return TransferResult(ok=True, call_id=call_id, queue=queue, agent=agent)

    async def list_queues(self, _: web.Request) -> QueueList:
        return QueueList.model_validate(self.service.queues_view())
