"""The agent, queue and call-transfer models of the HTTP API (``ctoengine.agents.http``)."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, RootModel, model_validator

from ctoengine.agents.states import AgentState
from ctoengine.api.schemas import Answer, Body


class AgentView(Answer):
    """One operator as the queues see it now."""

    id: str = Field(description="The operator id of the routing file, e.g. op3")
    state: AgentState
    reason: str | None = Field(description="Why in this state: the pause reason, unreachable, ...")
    state_for_s: float = Field(description="Seconds in this state")
    pending: AgentState | None = Field(description="The state it goes to once its call or wrap-up ends")
    skills: dict[str, int] = Field(description="Topic -> level 1..10")
    line: Literal["first", "second"]
    call_id: str | None = Field(description="The call it talks on or is rung for")
    missed_rings: int = Field(description="Rings left unanswered in a row")


class AgentList(RootModel[list[AgentView]]):
    """Every operator of the routing file."""


class QueueView(Answer):
    """One queue now."""

    name: str
    topic: str
    waiting: int = Field(description="Callers waiting now")
    longest_wait_s: float = Field(description="The longest wait now, seconds")
    expected_wait_s: float | None = Field(description="Expected wait of the last caller in line; null: none")
    agents: dict[str, int] = Field(description="Operators with this queue's topic, by state")
    handle_time_s: float = Field(description="Average handling time (talk and wrap-up), seconds")


class QueueList(RootModel[list[QueueView]]):
    """Every queue."""


class PauseBody(Body):
    reason: str = Field(description="One of the routing file's pause_reasons")


class TransferBody(Body):
    """Exactly one of ``queue`` and ``agent``."""

    queue: str | None = Field(default=None, description="Into this queue (the wait is kept)")
    agent: str | None = Field(default=None, description="To this operator, through a queue it serves")

    @model_validator(mode="after")
    def _one(self) -> Self:
        if (self.queue is None) == (self.agent is None):
            raise ValueError("give exactly one of 'queue' or 'agent'")
        return self


class TransferResult(Answer):
    ok: bool
    call_id: str
    queue: str | None
    agent: str | None
