"""The one way a route is added to the HTTP API: described, validated and answered by models.

::

    api.routes.add(
        "POST", "/api/v1/agents/{agent}/pause", self.pause, op="pauseAgent", tag="agents",
        summary="Pause an operator", input=PauseBody, output=AgentView, errors=(404, 409),
    )

adds the aiohttp route and keeps its description; ``/api/v1/openapi.json`` and
``/api/v1/docs`` are generated from the descriptions (``ctoengine.api.openapi``),
so no route is served undescribed. Who may call a route is not said here but in
the policy table (``ctoengine.users.policy``), which the document reads: one
place for each fact.

The handler gets the request and, with ``input``, the validated model: the JSON
body of a POST/PUT/PATCH, the query string of a GET/DELETE. An invalid one is a
400 ``bad_request`` whose details name each field (``FieldProblem``), before the
handler runs. A POST without ``input`` still refuses a body that is not a JSON
object (its keys are ignored): clients send ``{}``, and garbage stays a 400.
The handler returns an ``output`` instance, sent as JSON with
``status``; or an aiohttp response, sent as it is (text, HTML, readiness's 503).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, overload

from aiohttp import web
from pydantic import BaseModel, TypeAdapter, ValidationError

from ctoengine.api.body import json_body
from ctoengine.errors import BadRequest

In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out")
Where = Literal["body", "query"]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
PATH_PARAM = re.compile(r"\{([^}/:]+)(?::[^}]*)?\}")


@dataclass(frozen=True)
class Route:
    """What the OpenAPI document says of one route."""

    method: str
    path: str
    op: str  # the operationId: unique, camelCase
    tag: str
    summary: str
    description: str
    input: type[BaseModel] | None
    output: Any  # a type pydantic can describe (a model, a RootModel), or None: not JSON
    status: int
    errors: tuple[int, ...]  # the feature's own error statuses; auth, 400 and 413 are added by the spec
    also: tuple[int, ...]  # other statuses answered with the output's shape (readiness: 503)
    media: str

    @property
    def input_in(self) -> Where:
        return "body" if self.method in BODY_METHODS else "query"

    @property
    def path_params(self) -> list[str]:
        return PATH_PARAM.findall(self.path)


def field_problems(e: ValidationError) -> list[dict[str, str]]:
    """Each problem with its dotted path; never the input (it may hold a password)."""
    return [
        {"path": ".".join(str(p) for p in err["loc"]), "message": err["msg"], "type": err["type"]}
        for err in e.errors(include_url=False, include_input=False, include_context=False)
    ]


def invalid(e: ValidationError, where: Where) -> BadRequest:
    problems = field_problems(e)
    first = problems[0]
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    what = f"{first['path']}: " if first["path"] else ""
    message = f"invalid request {where}: {what}{first['message']}{more}"
    return BadRequest(message, fields=problems, **{"in": where})


async def read_input(request: web.Request, model: type[In], where: Where) -> In:
    if where == "query":
        try:
            return model.model_validate(dict(request.query))
        except ValidationError as e:
            raise invalid(e, where) from None
    await json_body(request)  # 400 for what is not a JSON object; keeps the body for the audit
    raw = await request.read()  # aiohttp keeps the bytes read once
    try:
        return model.model_validate_json(raw if raw.strip() else b"{}")
    except ValidationError as e:
        raise invalid(e, where) from None


class Routes:
    """The routes of one aiohttp application, each with its description."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.all: list[Route] = []

    @overload
    def add(
        self,
        method: str,
        path: str,
        handler: Callable[[web.Request], Awaitable[Out | web.StreamResponse]],
        *,
        op: str,
        tag: str,
        summary: str,
        output: type[Out],
        status: int = 200,
        errors: Iterable[int] = (),
        also: Iterable[int] = (),
    ) -> Route: ...

    @overload
    def add(
        self,
        method: str,
        path: str,
        handler: Callable[[web.Request, In], Awaitable[Out | web.StreamResponse]],
        *,
        op: str,
        tag: str,
        summary: str,
        input: type[In],
        output: type[Out],
        status: int = 200,
        errors: Iterable[int] = (),
        also: Iterable[int] = (),
    ) -> Route: ...

    @overload
    def add(
        self,
        method: str,
        path: str,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        *,
        op: str,
        tag: str,
        summary: str,
        output: None,
        media: str,
        errors: Iterable[int] = (),
    ) -> Route: ...

    def add(
        self,
        method: str,
        path: str,
        handler: Callable[..., Awaitable[Any]],
        *,
        op: str,
        tag: str,
        summary: str,
        input: type[BaseModel] | None = None,
        output: Any = None,
        status: int = 200,
        errors: Iterable[int] = (),
        also: Iterable[int] = (),
        media: str = "application/json",
    ) -> Route:
        method = method.upper()
        if any(r.op == op for r in self.all):
            raise ValueError(f"operationId {op!r} is used twice")
        doc = inspect.cleandoc(handler.__doc__ or "")
        route = Route(
            method=method,
            path=path,
            op=op,
            tag=tag,
            summary=summary,
            description=doc,
            input=input,
            output=output,
            status=status,
            errors=tuple(sorted(set(errors))),
            also=tuple(also),
            media=media,
        )
        dump = TypeAdapter(output).dump_json if output is not None else None
        model = input

        async def handle(request: web.Request) -> web.StreamResponse:
            if model is None:
                if method in BODY_METHODS:
                    await json_body(request)  # a body, if any, is a JSON object (ignored), as it always was
                result = await handler(request)
            else:
                result = await handler(request, await read_input(request, model, route.input_in))
            if isinstance(result, web.StreamResponse):
                return result
            if dump is None:
                raise TypeError(f"{op}: a route without output answers with an aiohttp response")
            return web.Response(body=dump(result), status=status, content_type="application/json")

        if method == "GET":
            self.app.router.add_get(path, handle)  # with its HEAD, as aiohttp does by default
        else:
            self.app.router.add_route(method, path, handle)
        self.all.append(route)
        return route
