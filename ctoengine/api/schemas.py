"""The base classes of the HTTP API's pydantic models, and the shapes every route shares.

Each feature keeps its own request and response models in its folder
(``ctoengine/<feature>/schemas.py``) on these bases; ``/api/v1/openapi.json`` is
generated from them (``ctoengine.api.openapi``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    """A JSON request body.

    Strict: ``"yes"`` is not a boolean nor ``"5"`` a number (JSON has the real
    types, a client that sends a string means something else). Unknown keys are
    refused, so a misspelt optional field is a 400 rather than silently ignored.
    """

    model_config = ConfigDict(strict=True, extra="forbid")


class Query(BaseModel):
    """Query-string parameters: text by nature, so numbers are parsed from it (not strict);
    unknown parameters are ignored (a cache-buster must not fail a request)."""

    model_config = ConfigDict(extra="ignore")


class Answer(BaseModel):
    """A JSON response body. Built from the services' views; a key the model does not
    know is an error (a 500 and a test failure) rather than a field silently dropped."""

    model_config = ConfigDict(extra="forbid")


DateTimeText = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""An ISO 8601 time as the engine writes it (``datetime.isoformat()``), kept as text so the
wire stays exactly as it was (pydantic would write UTC as ``Z`` instead of ``+00:00``)."""


class FieldProblem(Answer):
    path: str = Field(description="Where: dotted field path in the body or the query ('' is the whole)")
    message: str = Field(description="What is wrong with it")
    type: str = Field(description="pydantic's error type, e.g. missing, bool_type, extra_forbidden")


class Error(Answer):
    """Every error answer of the API (4xx and 5xx): no traceback ever reaches a client."""

    error: str = Field(description="A stable error id: bad_request, unauthorized, forbidden, not_found, ...")
    message: str = Field(description="For a person: what went wrong and what to do")
    details: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Machine-readable particulars, by error: a validation error has 'in' (body or query) and"
            " 'fields' (a list of FieldProblem); too_large has 'limit'; invalid_config has 'errors'"
            " (FILE:LINE:COLUMN lines); bad_pause_reason has 'allowed'"
        ),
    )


class Liveness(Answer):
    ok: bool = Field(description="Always true: the answer itself proves the event loop runs")


class Readiness(Answer):
    ok: bool = Field(description="Every dependency below is up")
    ari: bool = Field(description="The ARI websocket is connected and the Stasis application is ours")
    database: bool = Field(description="PostgreSQL answered within a second")
