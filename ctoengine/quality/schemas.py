"""The quality routes' models of the HTTP API (``ctoengine.quality.http``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ctoengine.api.schemas import Answer, Body

ModeField = Literal["listen", "whisper", "barge"]
_MODES = (
    "listen: hear both sides, unheard; whisper: heard by the operator only;"
    " barge: join the call (everybody hears)"
)


class ListenBody(Body):
    mode: ModeField = Field(default="listen", description=_MODES)
    endpoint: str = Field(
        min_length=1,
        max_length=80,
        description="The supervisor's own phone, one of quality.supervisor_endpoints",
    )


class ListenModeBody(Body):
    mode: ModeField = Field(description=_MODES)


class ListenView(Answer):
    """A supervisor's listening session on one call."""

    call_id: str
    session: str = Field(description="The session's id (the supervisor's leg)")
    mode: ModeField = Field(description="The mode asked for last (applied once the phone answers)")
    endpoint: str
    state: Literal["dialing", "connected", "ended"]
