"""The OpenAPI document: valid, and the same routes as the application serves, both ways."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from openapi_spec_validator import validate

from ctoengine.users.policy import rule_for
from tests.api.conftest import Api

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


async def spec_of(api: Api) -> dict[str, Any]:
    r = await api.client.get("/api/v1/openapi.json")  # public: no token
    assert r.status == 200
    doc: dict[str, Any] = await r.json()
    return doc


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


async def test_the_document_validates(api: Api) -> None:
    spec = await spec_of(api)
    validate(spec)  # openapi-spec-validator: raises on the first error
    assert spec["openapi"] == "3.1.0"


async def test_every_served_route_is_described_and_every_description_is_served(api: Api) -> None:
    spec = await spec_of(api)
    served = {
        (r.method, r.resource.canonical)
        for r in api.http.app.router.routes()
        if r.resource is not None and r.method != "HEAD"  # aiohttp's implicit HEAD of each GET
    }
    described = {(method, path) for method, path, _ in operations(spec)}
    assert served == described
    assert any(path.startswith("/api/") for _, path in served)


async def test_operation_ids_are_unique_and_every_operation_is_documented(api: Api) -> None:
    spec = await spec_of(api)
    ids = [op["operationId"] for _, _, op in operations(spec)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][A-Za-z]+", i) for i in ids), ids
    tags = {t["name"] for t in spec["tags"]}
    for method, path, op in operations(spec):
        assert op["summary"], (method, path)
        assert set(op["tags"]) <= tags
        declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
        assert declared == set(re.findall(r"\{(\w+)\}", path)), (method, path)
        assert any(s.startswith("2") for s in op["responses"]), (method, path)


async def test_security_and_roles_follow_the_policy_table(api: Api) -> None:
    spec = await spec_of(api)
    for method, path, op in operations(spec):
        if not path.startswith("/api/") or path in ("/api/v1/openapi.json", "/api/v1/docs"):
            assert op["security"] == [], path
            continue
        rule = rule_for(method, path)
        if path.startswith("/api/v1/federation/"):
            assert op["security"] == [{"peerToken": []}]
        elif rule.public:
            assert op["security"] == []
        else:
            assert op["security"] == [{"bearer": []}]
            assert set(op["x-roles"]) == {r.value for r in rule.roles}
            assert {"401", "403"} <= set(op["responses"])


async def test_bodies_and_answers_are_the_models(api: Api) -> None:
    spec = await spec_of(api)
    schemas = spec["components"]["schemas"]
    pause = spec["paths"]["/api/v1/agents/{agent}/pause"]["post"]
    assert pause["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PauseBody"
    }
    assert schemas["PauseBody"]["required"] == ["reason"]
    assert schemas["PauseBody"]["additionalProperties"] is False
    assert pause["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AgentView"
    }
    assert {"400", "404", "409", "413"} <= set(pause["responses"])
    assert schemas["AgentList"]["type"] == "array"
    assert set(schemas["Error"]["required"]) == {"error", "message"}
    audit = spec["paths"]["/api/v1/audit"]["get"]
    (limit,) = audit["parameters"]
    assert (limit["in"], limit["schema"]["maximum"]) == ("query", 1000)
    assert "201" in spec["paths"]["/api/v1/users"]["post"]["responses"]


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.ids: set[str] = set()
        self.links: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if (a.get("href") or "").startswith("#"):
            self.links.add(str(a["href"])[1:])


async def test_the_docs_page_shows_every_operation_without_scripts(api: Api) -> None:
    r = await api.client.get("/api/v1/docs")  # public: no token
    assert r.status == 200
    assert r.content_type == "text/html"
    html = await r.text()
    page = _Page()
    page.feed(html)
    assert "script" not in page.tags
    assert "http://" not in html and "https://" not in html  # nothing from outside: closed networks
    spec = await spec_of(api)
    for _, _, op in operations(spec):
        assert f"op-{op['operationId']}" in page.ids
    assert page.links <= page.ids  # every in-page link lands
    assert "Операторы" in html and "Схемы данных" in html
