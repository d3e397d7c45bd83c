"""The federation status a centre publishes to its peers (``GET /api/v1/federation/status``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ctoengine.api.schemas import Answer, DateTimeText


class TopicStatus(Answer):
    queue: str
    agents_available: int
    agents_staffed: int = Field(description="Logged in and reachable: any state but logged_out, unavailable")
    waiting: int
    expected_wait_s: float | None = Field(description="Expected wait of a new caller; null: unknown")


class FederationStatus(Answer):
    centre: str | None = Field(description="This centre's federation id")
    level: Literal["federal", "regional", "municipal"]
    accepts_overflow: bool = Field(description="Peers may send callers here now")
    at: DateTimeText
    topics: dict[str, TopicStatus] = Field(description="By topic")
