"""``/api/v1/openapi.json``, generated from the routes' descriptions and their pydantic models.

OpenAPI 3.1: its schemas are JSON Schema 2020-12, which is what pydantic's
``model_json_schema`` writes (3.0 would need ``nullable`` rewrites of every
``anyOf [..., null]``). The models of every route are generated in one pass
(``TypeAdapter.json_schemas``) so two models of one name get distinct names and
each appears once under ``components/schemas``.

Who may call an operation comes from the policy table (``x-roles`` and a line
of the description); the statuses every operation of a kind can answer (401 and
403 with a token, 400 and 413 with a body) are added here, the feature lists
only its own (404 unknown agent, 409 conflict, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from pydantic import TypeAdapter
from pydantic.json_schema import JsonSchemaMode

from ctoengine import __version__
from ctoengine.api.routes import Route
from ctoengine.api.schemas import Error, FieldProblem
from ctoengine.users.policy import Role, rule_for

Access = Literal["none", "peer", "bearer"]  # no token, the federation peers' token, a user's token
REF = "#/components/schemas/{model}"
ERROR_TEXTS = {
    400: "bad request: not JSON, or a field is missing or invalid (details.fields names each)",
    401: "missing, unknown or expired token",
    403: "the token's role may not do this (or an operator acts on another agent or call)",
    404: "not found",
    409: "conflict with the current state",
    413: "the request body is over 64 KiB",
    422: "invalid routing file (details.errors: FILE:LINE:COLUMN lines); the running one stays",
    429: "too many failed logins from this address; retry after Retry-After seconds",
    503: "a dependency (the database) is unavailable; nothing was changed",
}
# Russian headings of the browsable page (ctoengine.api.docs); a tag not here shows its name.
TAGS = {
    "agents": "Операторы",
    "queues": "Очереди",
    "calls": "Звонки",
    "callbacks": "Обратные звонки",
    "users": "Пользователи и вход",
    "audit": "Журнал аудита",
    "admin": "Администрирование",
    "federation": "Федерация центров",
    "service": "Служебное: здоровье, метрики, описание API",
}
SECURITY: dict[Access, list[dict[str, list[str]]]] = {
    "none": [],
    "peer": [{"peerToken": []}],
    "bearer": [{"bearer": []}],
}
AUTO_ERRORS: dict[Access, tuple[int, ...]] = {"none": (), "peer": (401, 503), "bearer": (401, 403, 503)}


def _who(route: Route) -> list[str]:
    rule = rule_for(route.method, route.path)
    return [r.value for r in Role if r in rule.roles]


def _who_line(route: Route) -> str:
    rule = rule_for(route.method, route.path)
    own = {"agent": " (an operator: its own agent only)", "call": " (an operator: its own calls only)"}
    return f"Roles: {', '.join(_who(route))}{own.get(rule.own or '', '')}."


def _schemas(routes: Sequence[Route]) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    inputs: list[tuple[tuple[str, str], JsonSchemaMode, TypeAdapter[Any]]] = [
        (("", "error"), "serialization", TypeAdapter(Error)),
        (("", "field"), "serialization", TypeAdapter(FieldProblem)),
    ]
    for r in routes:
        if r.input is not None:
            inputs.append(((r.op, "in"), "validation", TypeAdapter(r.input)))
        if r.output is not None:
            inputs.append(((r.op, "out"), "serialization", TypeAdapter(r.output)))
    refs, defs = TypeAdapter.json_schemas(inputs, ref_template=REF)
    return {k: v for (k, _), v in refs.items()}, dict(defs.get("$defs", {}))


def _deref(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        found: dict[str, Any] = defs[ref.rsplit("/", 1)[1]]
        return found
    return schema


def _parameters(route: Route, refs: dict[tuple[str, str], Any], defs: dict[str, Any]) -> list[Any]:
    params: list[Any] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in route.path_params
    ]
    if route.input is not None and route.input_in == "query":
        model = _deref(refs[(route.op, "in")], defs)
        required = set(model.get("required", ()))
        for name, prop in model.get("properties", {}).items():
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
            if "description" in prop:
                param["description"] = prop["description"]
            param["schema"] = {k: v for k, v in prop.items() if k not in ("description", "title")}
            params.append(param)
    return params


def _content(route: Route, refs: dict[tuple[str, str], Any]) -> dict[str, Any]:
    if route.output is not None:
        return {route.media: {"schema": refs[(route.op, "out")]}}
    raw = {"type": "object"} if route.media == "application/json" else {"type": "string"}
    return {route.media: {"schema": raw}}


def _errors(codes: Iterable[int]) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": REF.format(model="Error")}}}
    return {str(c): {"description": ERROR_TEXTS.get(c, "error"), "content": content} for c in sorted(codes)}


def _operation(
    route: Route, access: Access, refs: dict[tuple[str, str], Any], defs: dict[str, Any]
) -> dict[str, Any]:
    description = route.description
    if access == "bearer":
        description = f"{description}\n\n{_who_line(route)}".strip()
    op: dict[str, Any] = {
        "operationId": route.op,
        "tags": [route.tag],
        "summary": route.summary,
        "security": SECURITY[access],
    }
    if description:
        op["description"] = description
    if access == "bearer":
        op["x-roles"] = _who(route)
    params = _parameters(route, refs, defs)
    if params:
        op["parameters"] = params
    codes = set(route.errors) | set(AUTO_ERRORS[access])
    if route.input is None and route.input_in == "body":
        codes |= {400, 413}
        op["requestBody"] = {
            "required": False,
            "description": "None needed; a body, if sent, must be a JSON object (its keys are ignored)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    if route.input is not None:
        codes.add(400)
        if route.input_in == "body":
            codes.add(413)
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[(route.op, "in")]}},
            }
    ok = {"description": route.summary, "content": _content(route, refs)}
    responses: dict[str, Any] = {str(route.status): ok}
    for status in route.also:
        responses[str(status)] = {"description": "the same answer when not ok", "content": ok["content"]}
    responses.update({k: v for k, v in _errors(codes - set(route.also)).items()})
    op["responses"] = responses
    return op


def build_spec(routes: Sequence[Route], access_of: Callable[[Route], Access]) -> dict[str, Any]:
    refs, defs = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if route.method == "HEAD":
            continue  # aiohttp's implicit HEAD of a GET: the GET describes it
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(
            route, access_of(route), refs, defs
        )
    used = sorted(dict.fromkeys(r.tag for r in routes), key=lambda t: t == "service")  # the features first
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ctoengine API",
            "version": __version__,
            "description": (
                "The call-handling engine's HTTP API. Every error is JSON {error, message, details}."
                " Get a token with POST /api/v1/tokens and send it as Authorization: Bearer <token>."
            ),
        },
        "tags": [{"name": t, "description": TAGS.get(t, t)} for t in used],
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A user's token from POST /api/v1/tokens, or the bootstrap CTO_API_TOKEN",
                },
                "peerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The federation token this centre gives its peers (federation.token_env)",
                },
            },
            "schemas": defs,
        },
    }
