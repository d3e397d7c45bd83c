"""What the web pages need of the engine, as Protocols (the engine's objects fit them;
unit tests pass fakes around a real ``Distributor``)."""

from __future__ import annotations

from typing import Protocol

from ctoengine.admin.emergency import EmergencyState
from ctoengine.config import RoutingConfig
from ctoengine.metrics.sla import RollingSla
from ctoengine.queues.distributor import Distributor
from ctoengine.records.model import CallRecord
from ctoengine.users.store import AuditEntry


class Floor(Protocol):
    """The queue service (``ctoengine.queues.service.QueueService``): its distributor, its
    rolling service level, its clock, and the operators' actions."""

    @property
    def dist(self) -> Distributor: ...

    @property
    def sla(self) -> RollingSla: ...

    def now(self) -> float: ...

    def has_agent(self, agent_id: str) -> bool: ...

    def agent_action(self, agent_id: str, action: str, reason: str | None = None) -> None: ...


class Host(Protocol):
    """The engine: its live routing and the reload of the routing file (as the admin API)."""

    @property
    def routing(self) -> RoutingConfig: ...

    def reload(self) -> list[str]: ...


class Emergency(Protocol):
    """``ctoengine.admin.emergency.EmergencySwitch``."""

    def state(self, routing: RoutingConfig) -> EmergencyState: ...

    async def switch(self, enabled: bool | None, who: dict[str, str]) -> None: ...


class Auditor(Protocol):
    """``ctoengine.api.http.Access.audit``: one ``audit_log`` row; never raises."""

    async def audit(self, entry: AuditEntry) -> None: ...


class Desk(Protocol):
    """The queue service as the operators' workplace uses it (``QueueService``)."""

    @property
    def dist(self) -> Distributor: ...

    def now(self) -> float: ...

    def has_queue(self, name: str) -> bool: ...

    def agent_action(self, agent_id: str, action: str, reason: str | None = None) -> None: ...

    def call_record(self, call_id: str) -> CallRecord | None: ...

    def wrap_up(self, agent_id: str, action: str, seconds: float = 0.0) -> None: ...

    async def transfer(self, call_id: str, queue: str | None, agent: str | None) -> str | None: ...
