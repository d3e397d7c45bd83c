"""The admin models of the HTTP API: reload and the emergency switch (``ctoengine.admin.http``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from ctoengine.api.schemas import Answer, Body, DateTimeText


class Reloaded(Answer):
    ok: bool
    file: str = Field(description="The routing file now in force")


class EmergencySwitchBody(Body):
    enabled: bool | None = Field(
        description="true or false: switch it; null: drop the switch, the routing file decides again"
    )
    by: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = Field(
        description="Who switches it (kept with the time)"
    )


class EmergencyState(Answer):
    enabled: bool = Field(description="Emergency mode is on now")
    prompt: str = Field(description="The emergency announcement")
    flow: str | None = Field(description="The flow every call goes to while enabled; null: the usual")
    source: Literal["file", "api"] = Field(description="Who decides: the routing file or the API switch")
    by: str | None = Field(default=None, description="Who switched it through the API (source api)")
    at: DateTimeText | None = Field(default=None, description="When it was switched (source api)")
