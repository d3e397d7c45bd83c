"""The appeal, complaint and caller-history models of the HTTP API (``ctoengine.appeals.http``)."""

from __future__ import annotations

from pydantic import Field, RootModel

from ctoengine.api.schemas import Answer, Body, DateTimeText, Query
from ctoengine.appeals.model import MAX_NOTE, ComplaintStatus, Outcome

CODE = r"^[a-z][a-z0-9_]{0,39}$"


class AppealBody(Body):
    """An appeal on a call; ``topic`` and ``subtopic`` from the routing file's ``workplace.subtopics``."""

    topic: str = Field(pattern=CODE, description="The topic code (usually the call's)")
    subtopic: str = Field(pattern=CODE, description="A sub-topic code of that topic")
    outcome: Outcome = Field(description="How the appeal ended")
    note: str = Field(default="", max_length=MAX_NOTE, description="Free text: what was asked and said")


class ComplaintBody(Body):
    status: ComplaintStatus = Field(description="The complaint's registry status")


class AppealView(Answer):
    """One appeal as stored (row of ``call_appeals``; the ``appeals`` view adds its call)."""

    id: int
    call_id: str
    topic: str
    subtopic: str
    outcome: Outcome
    note: str
    agent_id: str | None = Field(description="The operator of the call; null when none was on it")
    user_name: str = Field(description="Who registered it")
    created_at: DateTimeText
    complaint_status: ComplaintStatus | None = Field(description="A complaint's registry status; else null")
    complaint_updated_at: DateTimeText | None
    complaint_updated_by: str | None


class HistoryQuery(Query):
    number: str = Field(pattern=r"^\+?[0-9]{3,20}$", description="The caller's number as received")
    days: int = Field(default=30, ge=1, le=365, description="Calls of the last this many days")


class HistoryAppeal(Answer):
    topic: str
    subtopic: str
    outcome: Outcome


class HistoryCall(Answer):
    """One earlier call of the number (a row of ``calls``) with its appeals."""

    call_id: str
    started_at: DateTimeText
    topic: str | None
    disposition: str
    agent_id: str | None
    appeals: list[HistoryAppeal]


class HistoryList(RootModel[list[HistoryCall]]):
    """Newest first, at most 20."""
