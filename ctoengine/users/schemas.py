"""The user, token and audit models of the HTTP API (``ctoengine.users.http``)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, RootModel, StringConstraints

from ctoengine.api.schemas import Answer, Body, DateTimeText, Query
from ctoengine.users.policy import Role
from ctoengine.users.secrets import MAX_PASSWORD, MIN_PASSWORD
from ctoengine.users.store import NAME_RE

UserName = Annotated[str, StringConstraints(pattern=NAME_RE.pattern)]


class LoginBody(Body):
    name: Annotated[str, StringConstraints(min_length=1)]
    password: Annotated[str, StringConstraints(min_length=1)]


class IssuedToken(Answer):
    token: str = Field(description="Send it as Authorization: Bearer <token>")
    expires_at: DateTimeText
    role: Role
    agent: str | None = Field(description="The operator this user acts as (role operator)")


class NewUserBody(Body):
    name: UserName = Field(description="1-64 letters, digits, '_', '.', '@' or '-'")
    role: Role
    agent: str | None = Field(default=None, description="The operator id; required for the role operator")
    password: Annotated[str, StringConstraints(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)] = Field(
        description="Stored as an argon2 hash only"
    )


class NewUser(Answer):
    name: str
    role: Role
    agent: str | None


class UserView(Answer):
    name: str
    role: Role
    agent: str | None
    created_at: DateTimeText
    disabled: bool


class UserList(RootModel[list[UserView]]):
    """Every API user, by name."""


class AuditQuery(Query):
    limit: int = Field(default=100, ge=1, le=1000, description="How many rows, newest first")


class AuditRow(Answer):
    id: int
    at: DateTimeText
    user: str = Field(description="A user's name, or bootstrap (CTO_API_TOKEN)")
    role: str | None
    action: str = Field(description="agent.pause, config.reload, login, ...")
    target: str | None = Field(description="An agent, a call id, a user name")
    address: str | None = Field(description="The peer address of the connection")
    status: int = Field(description="The HTTP status answered")
    result: str = Field(description="ok, denied or failed")
    details: dict[str, Any] = Field(description="Method, path and the body's scalars (never a password)")


class AuditLog(RootModel[list[AuditRow]]):
    """Audit rows, newest first."""
