"""The callback models of the HTTP API (``ctoengine.callbacks.http``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, RootModel

from ctoengine.api.schemas import Answer, DateTimeText, Query

Status = Literal["pending", "dialing", "done", "failed", "expired"]
MAX_LIMIT = 1000


class CallbackQuery(Query):
    status: Status | None = Field(default=None, description="Only requests in this status")
    limit: int = Field(default=200, ge=1, le=MAX_LIMIT, description="At most this many, newest first")


class CallbackView(Answer):
    """One request: the promise "we will call you back within 24 hours" and how it is kept."""

    id: str = Field(description="cb-<call id of the request>")
    number: str | None = Field(description="The citizen's number as received; null once erased by retention")
    topic: str
    queue: str
    status: Status
    attempts: int = Field(description="Attempts on the citizen's phone so far")
    requested_at: DateTimeText
    due_by: DateTimeText = Field(description="The promise: requested_at + 24 h")
    next_attempt_at: DateTimeText
    last_result: str | None = Field(description="How the last attempt ended: answered, no_answer, busy, ...")
    origin_call_id: str = Field(description="The inbound call that asked for it")
    call_ids: list[str] = Field(description="The attempts' calls (rows of cdr)")
    done_at: DateTimeText | None


class CallbackList(RootModel[list[CallbackView]]):
    """Requests, newest first."""
