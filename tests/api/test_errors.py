"""Error answers: always JSON ``{error, message, details}`` with a 4xx status, never a traceback."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientResponse

from ctoengine.api.http import MAX_BODY
from tests.api.conftest import Api, bearer

ADMIN = bearer("cto_admin")


async def error(r: ClientResponse, status: int, error_id: str) -> dict[str, Any]:
    assert r.content_type == "application/json"
    body: dict[str, Any] = await r.json()
    assert (r.status, body["error"]) == (status, error_id), body
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in str(body)
    return body


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b'{"reason": ', "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b'["break"]', "must be a JSON object"),
        (b'"break"', "must be a JSON object"),
    ],
)
async def test_a_body_that_is_not_a_json_object_is_400(api: Api, raw: bytes, says: str) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    r = await api.client.post("/api/v1/agents/op1/pause", data=raw, headers=headers)
    body = await error(r, 400, "bad_request")
    assert says in body["message"]


@pytest.mark.parametrize(
    ("path", "sent", "field", "kind"),
    [
        ("/api/v1/emergency", {"enabled": "yes", "by": "duty"}, "enabled", "bool_type"),
        ("/api/v1/emergency", {"enabled": True}, "by", "missing"),
        ("/api/v1/emergency", {"enabled": True, "by": "   "}, "by", "string_too_short"),
        ("/api/v1/emergency", {"by": "duty"}, "enabled", "missing"),
        ("/api/v1/agents/op1/pause", {}, "reason", "missing"),
        ("/api/v1/agents/op1/pause", {"reason": 5}, "reason", "string_type"),
        ("/api/v1/agents/op1/pause", {"reason": "break", "resaon": "x"}, "resaon", "extra_forbidden"),
        ("/api/v1/calls/c-op1/transfer", {"queue": "social", "agent": "op2"}, "", "value_error"),
        ("/api/v1/calls/c-op1/transfer", {}, "", "value_error"),
        (
            "/api/v1/users",
            {"name": "a b", "role": "admin", "password": "long-enough-1"},
            "name",
            "string_pattern_mismatch",
        ),
        ("/api/v1/users", {"name": "ann", "role": "root", "password": "long-enough-1"}, "role", "enum"),
        (
            "/api/v1/users",
            {"name": "ann", "role": "admin", "password": "short"},
            "password",
            "string_too_short",
        ),
        ("/api/v1/tokens", {"name": "op1"}, "password", "missing"),
        ("/api/v1/tokens", {"name": "", "password": "x"}, "name", "string_too_short"),
    ],
)
async def test_an_invalid_field_is_400_with_its_path(
    api: Api, path: str, sent: dict[str, Any], field: str, kind: str
) -> None:
    r = await api.client.post(path, json=sent, headers=ADMIN)
    body = await error(r, 400, "bad_request")
    assert body["details"]["in"] == "body"
    assert {"path": field, "type": kind} in [
        {"path": f["path"], "type": f["type"]} for f in body["details"]["fields"]
    ]
    assert body["message"].startswith("invalid request body: ")


async def test_a_password_never_comes_back_in_a_validation_error(api: Api) -> None:
    secret = "hunter2-is-my-password"
    r = await api.client.post(
        "/api/v1/users", json={"name": "a b", "role": "x", "password": secret}, headers=ADMIN
    )
    assert secret not in await r.text()


async def test_an_invalid_query_parameter_is_400_with_its_name(api: Api) -> None:
    for limit in ("0", "1001", "ten", "-1"):
        r = await api.client.get(f"/api/v1/audit?limit={limit}", headers=ADMIN)
        body = await error(r, 400, "bad_request")
        assert body["details"]["in"] == "query"
        assert body["details"]["fields"][0]["path"] == "limit"


async def test_an_unknown_path_is_404_json(api: Api) -> None:
    for path in ("/api/v1/no-such-thing", "/api/v2/agents", "/nowhere"):
        r = await api.client.get(path, headers=ADMIN)
        body = await error(r, 404, "not_found")
        assert path in body["message"]


async def test_an_unknown_path_without_a_token_is_401_not_a_map_of_the_api(api: Api) -> None:
    r = await api.client.get("/api/v1/no-such-thing")
    await error(r, 401, "unauthorized")


async def test_a_wrong_method_is_405_json_with_the_allowed_ones(api: Api) -> None:
    r = await api.client.delete("/api/v1/emergency", headers=ADMIN)
    body = await error(r, 405, "method_not_allowed")
    assert body["details"]["allowed"] == ["GET", "HEAD", "POST"]


async def test_a_body_over_64_kib_is_413(api: Api) -> None:
    big = io.BytesIO(b'{"reason": "' + b"x" * (MAX_BODY + 1) + b'"}')
    r = await api.client.post("/api/v1/agents/op1/pause", data=big, headers=ADMIN)
    body = await error(r, 413, "too_large")
    assert body["details"] == {"limit": MAX_BODY}


async def test_a_chunked_body_over_64_kib_is_413_too(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: aiohttp's own limit answers
        yield b'{"reason": "'
        for _ in range(20):
            yield b"x" * 4096
        yield b'"}'

    r = await api.client.post("/api/v1/agents/op1/pause", data=chunks(), headers=ADMIN)
    await error(r, 413, "too_large")


async def test_domain_errors_keep_their_ids(api: Api) -> None:
    r = await api.client.post("/api/v1/agents/op99/login", headers=ADMIN)
    await error(r, 404, "unknown_agent")
    r = await api.client.post("/api/v1/agents/op2/login", headers=ADMIN)  # op2 is available already
    await error(r, 409, "invalid_agent_state")
    r = await api.client.post("/api/v1/agents/op1/pause", json={"reason": "nap"}, headers=ADMIN)
    body = await error(r, 400, "bad_pause_reason")
    assert "lunch" in body["details"]["allowed"]
    r = await api.client.post("/api/v1/calls/c-op1/transfer", json={"queue": "nope"}, headers=ADMIN)
    await error(r, 404, "unknown_queue")
    r = await api.client.post("/api/v1/calls/c-op1/transfer", json={"agent": "op99"}, headers=ADMIN)
    await error(r, 404, "unknown_agent")
    r = await api.client.post("/api/v1/calls/gone/transfer", json={"queue": "social"}, headers=ADMIN)
    await error(r, 409, "not_connected")
    r = await api.client.post(
        "/api/v1/users",
        json={"name": "op1", "role": "operator", "agent": "op1", "password": "long-enough-1"},
        headers=ADMIN,
    )
    await error(r, 409, "user_exists")
    r = await api.client.post(
        "/api/v1/users", json={"name": "ann", "role": "operator", "password": "long-enough-1"}, headers=ADMIN
    )
    await error(r, 400, "bad_user")
    r = await api.client.post(
        "/api/v1/users",
        json={"name": "ann", "role": "operator", "agent": "op99", "password": "long-enough-1"},
        headers=ADMIN,
    )
    await error(r, 400, "unknown_agent")


async def test_an_invalid_routing_file_is_422_with_its_lines(api: Api) -> None:
    api.host.errors = ["routing.yaml:12:7: queue 'pasport' does not exist"]
    r = await api.client.post("/api/v1/config/reload", headers=ADMIN)
    body = await error(r, 422, "invalid_config")
    assert body["details"]["errors"] == api.host.errors


async def test_login_failures_are_401_then_429_with_retry_after(api: Api) -> None:
    for _ in range(10):
        r = await api.client.post("/api/v1/tokens", json={"name": "op1", "password": "wrong-password"})
        await error(r, 401, "login_failed")
    r = await api.client.post("/api/v1/tokens", json={"name": "op1", "password": "wrong-password"})
    await error(r, 429, "too_many_requests")
    assert int(r.headers["Retry-After"]) > 0


async def test_a_database_that_is_down_is_503_and_says_nothing_changed(api: Api) -> None:
    api.store.down = True
    r = await api.client.post("/api/v1/tokens", json={"name": "op1", "password": "whatever"})
    await error(r, 503, "database_unavailable")
    r = await api.client.get("/api/v1/users", headers=bearer("boot-token"))
    await error(r, 503, "database_unavailable")


async def test_an_answer_that_breaks_its_model_is_500_json_not_a_traceback(api: Api) -> None:
    api.queues.states["op1"] = "dancing"  # not an AgentState
    r = await api.client.get("/api/v1/agents/op1", headers=ADMIN)
    await error(r, 500, "internal_error")


@pytest.mark.parametrize("raw", [b"not json {", b"[1, 2]", b'{"a": "\xff\xfe"}', b"[" * 5000 + b"]" * 5000])
async def test_a_route_without_a_body_model_still_refuses_garbage(api: Api, raw: bytes) -> None:
    headers = {**ADMIN, "Content-Type": "application/json"}
    r = await api.client.post("/api/v1/agents/op1/login", data=raw, headers=headers)
    await error(r, 400, "bad_request")
    assert api.queues.states["op1"] == "logged_out"  # nothing happened
