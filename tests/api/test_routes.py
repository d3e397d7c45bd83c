"""One happy path per route, with the answer's exact shape (what the e2e tests and the
clients read). ``test_every_route_has_a_happy_path`` keeps this list complete."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ctoengine.users.policy import Role
from tests.api.conftest import PEER_TOKEN, RECORDING_BYTES, ROUTING_FILE, Api, bearer
from tests.api.fakes import PASSWORD, T0

ADMIN = bearer("cto_admin")
SUP = bearer("cto_sup")
OP1_VIEW = {
    "id": "op1",
    "state": "logged_out",
    "reason": None,
    "state_for_s": 1.5,
    "pending": None,
    "skills": {"social": 5},
    "line": "first",
    "call_id": "c-op1",
    "missed_rings": 0,
}
SOURCE = Path(__file__).read_text(encoding="utf-8")  # which operations it calls: the last test


async def call(api: Api, op: str, method: str, path: str, status: int = 200, **kw: Any) -> Any:
    """``op`` names the operation this call is the happy path of (read by the last test)."""
    assert api.http.routes.all and any(r.op == op for r in api.http.routes.all), op
    r = await api.client.request(method, path, **{"headers": ADMIN, **kw})
    assert r.status == status, await r.text()
    if r.content_type.startswith("audio/"):
        return await r.read()
    return await r.json() if r.content_type == "application/json" else await r.text()


async def test_service_routes(api: Api) -> None:
    assert await call(api, "livez", "GET", "/livez") == {"ok": True}
    assert await call(api, "readyz", "GET", "/readyz") == {"ok": True, "ari": True, "database": True}
    assert await call(api, "healthz", "GET", "/healthz") == {"ok": True, "ari": True, "database": True}
    assert "ctoengine_" in await call(api, "metrics", "GET", "/metrics")
    assert (await call(api, "openapi", "GET", "/api/v1/openapi.json"))["openapi"] == "3.1.0"
    assert "<h1>" in await call(api, "docs", "GET", "/api/v1/docs")


async def test_readiness_is_503_with_the_same_shape_when_a_dependency_is_down(api: Api) -> None:
    async def down() -> dict[str, Any]:
        return {"ari": True, "database": False}

    api.http._health = down
    r = await api.client.get("/readyz")
    assert (r.status, await r.json()) == (503, {"ok": False, "ari": True, "database": False})


async def test_agent_routes(api: Api) -> None:
    agents = await call(api, "listAgents", "GET", "/api/v1/agents")
    assert [a["id"] for a in agents] == ["op1", "op2"]
    assert agents[0] == OP1_VIEW
    assert await call(api, "getAgent", "GET", "/api/v1/agents/op1") == OP1_VIEW
    assert (await call(api, "loginAgent", "POST", "/api/v1/agents/op1/login"))["state"] == "available"
    body = await call(api, "pauseAgent", "POST", "/api/v1/agents/op1/pause", json={"reason": "lunch"})
    assert (body["state"], body["reason"]) == ("paused", "lunch")
    body = await call(api, "unpauseAgent", "POST", "/api/v1/agents/op1/unpause", json={})
    assert (body["state"], body["reason"]) == ("available", None)
    assert (await call(api, "logoutAgent", "POST", "/api/v1/agents/op1/logout"))["state"] == "logged_out"


async def test_queues(api: Api) -> None:
    queues = await call(api, "listQueues", "GET", "/api/v1/queues")
    assert queues[0] == {
        "name": "social",
        "topic": "social",
        "waiting": 0,
        "longest_wait_s": 0.0,
        "expected_wait_s": None,
        "agents": {"available": 1, "logged_out": 1},
        "handle_time_s": 120.0,
    }


async def test_transfer(api: Api) -> None:
    body = await call(api, "transferCall", "POST", "/api/v1/calls/c-op1/transfer", json={"agent": "op2"})
    assert body == {"ok": True, "call_id": "c-op1", "queue": None, "agent": "op2"}
    assert api.queues.transfers == [("c-op1", None, "op2")]


async def test_admin_routes(api: Api) -> None:
    body = await call(api, "reloadConfig", "POST", "/api/v1/config/reload")
    assert body == {"ok": True, "file": str(ROUTING_FILE)}
    state = await call(api, "getEmergency", "GET", "/api/v1/emergency")
    assert state == {
        "enabled": False,
        "prompt": "emergency",
        "flow": None,
        "source": "file",
        "by": None,
        "at": None,
    }
    sent = {"enabled": True, "by": "  duty officer "}
    state = await call(api, "setEmergency", "POST", "/api/v1/emergency", json=sent)
    assert state == {
        "enabled": True,
        "prompt": "emergency",
        "flow": None,
        "source": "api",
        "by": "duty officer",
        "at": T0.isoformat(),
    }
    state = await call(api, "setEmergency", "POST", "/api/v1/emergency", json={"enabled": None, "by": "duty"})
    assert (state["source"], state["enabled"]) == ("file", False)


async def test_user_routes(api: Api) -> None:
    token = await call(
        api, "login", "POST", "/api/v1/tokens", json={"name": "op1", "password": PASSWORD}, headers={}
    )
    assert token == {
        "token": "cto_issued_for_op1",
        "expires_at": "2026-11-22T21:00:00+00:00",
        "role": "operator",
        "agent": "op1",
    }
    sent = {"name": "ann", "role": "supervisor", "password": "long-enough-1"}
    created = await call(api, "addUser", "POST", "/api/v1/users", status=201, json=sent)
    assert created == {"name": "ann", "role": "supervisor", "agent": None}
    assert api.store.users["ann"].role is Role.SUPERVISOR
    assert api.store.users["ann"].password_hash.startswith("$argon2")
    users = await call(api, "listUsers", "GET", "/api/v1/users")
    assert [u["name"] for u in users] == ["op1", "ann"]
    assert all("password" not in str(u) for u in users)
    rows = await call(api, "readAudit", "GET", "/api/v1/audit?limit=1")
    assert len(rows) == 1
    assert {k: rows[0][k] for k in ("user", "role", "action", "target", "status", "result")} == {
        "user": "admin",
        "role": "admin",
        "action": "users.add",
        "target": "ann",
        "status": 201,
        "result": "ok",
    }
    assert "password" not in str(rows[0]["details"])


async def test_federation_status(api: Api) -> None:
    doc = await call(api, "federationStatus", "GET", "/api/v1/federation/status", headers=bearer(PEER_TOKEN))
    assert doc["centre"] == "A"
    assert doc["topics"]["social"]["agents_staffed"] == 2


async def test_callbacks(api: Api) -> None:
    listed = await call(api, "listCallbacks", "GET", "/api/v1/callbacks?status=done&limit=5")
    assert [(x["id"], x["status"], x["call_ids"]) for x in listed] == [("cb-c1", "done", ["c2"])]
    assert listed[0]["due_by"].startswith("2026-")
    assert await call(api, "listCallbacks", "GET", "/api/v1/callbacks?status=pending") == []
    r = await api.client.get("/api/v1/callbacks?status=lost", headers=ADMIN)
    assert r.status == 400 and (await r.json())["details"]["fields"][0]["path"] == "status"


async def test_appeals(api: Api) -> None:
    body = {"topic": "passport", "subtopic": "lost", "outcome": "complaint_registered", "note": "Долго ждал"}
    r = await api.client.post("/api/v1/calls/c-op1/appeal", json=body, headers=bearer("cto_op1"))
    assert r.status == 201, await r.text()
    appeal = await r.json()
    assert appeal == {
        "id": 1,
        "call_id": "c-op1",
        "topic": "passport",
        "subtopic": "lost",
        "outcome": "complaint_registered",
        "note": "Долго ждал",
        "agent_id": "op1",
        "user_name": "op1",
        "created_at": T0.isoformat(),
        "complaint_status": "new",
        "complaint_updated_at": None,
        "complaint_updated_by": None,
    }
    # A supervisor on a call that is over (it has a record); the admin below is staff too.
    done = await call(api, "registerAppeal", "POST", "/api/v1/calls/c-done/appeal", 201,
                      json={**body, "outcome": "consulted", "note": ""})  # fmt: skip
    assert (done["agent_id"], done["complaint_status"]) == (None, None)
    moved = await call(api, "setComplaintStatus", "PATCH", "/api/v1/appeals/1", json={"status": "forwarded"})
    assert (moved["complaint_status"], moved["complaint_updated_by"]) == ("forwarded", "admin")
    r = await api.client.patch("/api/v1/appeals/2", json={"status": "answered"}, headers=ADMIN)
    assert (r.status, (await r.json())["error"]) == (409, "not_a_complaint")
    r = await api.client.patch("/api/v1/appeals/99", json={"status": "answered"}, headers=ADMIN)
    assert r.status == 404
    r = await api.client.post("/api/v1/calls/c-op1/appeal", json={**body, "subtopic": "fee"}, headers=ADMIN)
    assert (r.status, (await r.json())["error"]) == (422, "bad_appeal")  # egrul's, not passport's
    r = await api.client.post("/api/v1/calls/c-op2/appeal", json=body, headers=bearer("cto_op1"))
    assert r.status == 403  # op2's call
    r = await api.client.post("/api/v1/calls/c-gone/appeal", json=body, headers=ADMIN)
    assert (r.status, (await r.json())["error"]) == (404, "unknown_call")
    r = await api.client.patch("/api/v1/appeals/1", json={"status": "new"}, headers=bearer("cto_op1"))
    assert r.status == 403
    appeal, status = "call.appeal", "appeal.status"
    assert [e.action for e in api.store.audited] == [
        appeal,
        appeal,
        status,
        status,
        status,
        appeal,
        appeal,
        appeal,
        status,
    ]
    # The note is free text about a citizen: never copied into the audit.
    assert not [e for e in api.store.audited if "Долго ждал" in str(e.details)]


async def test_caller_history_is_audited(api: Api) -> None:
    found = await call(api, "callerHistory", "GET", "/api/v1/history?number=79161234567")
    assert found == [
        {
            "call_id": "c-done",
            "started_at": T0.isoformat(),
            "topic": "passport",
            "disposition": "answered",
            "agent_id": "op1",
            "appeals": [{"topic": "passport", "subtopic": "lost", "outcome": "consulted"}],
        }
    ]
    (entry,) = api.store.audited
    assert (entry.user, entry.action, entry.target, entry.status) == (
        "admin",
        "history.lookup",
        "+7 9** *** **67",
        200,
    )
    assert entry.details == {"via": "api", "number": "+7 9** *** **67", "days": 30, "found": 1}
    assert "79161234567" not in str(entry)
    r = await api.client.get("/api/v1/history?number=79161234567", headers=bearer("cto_op1"))
    assert r.status == 403  # operators see the history of their own call on the card only
    r = await api.client.get("/api/v1/history?number=abc", headers=ADMIN)
    assert r.status == 400
    assert len(api.store.audited) == 1


async def test_recording_is_served_with_ranges_and_audited(api: Api) -> None:
    body = await call(api, "getCallRecording", "GET", "/api/v1/calls/c-op1/recording", headers=SUP)
    assert body == RECORDING_BYTES
    r = await api.client.get("/api/v1/calls/c-op1/recording", headers={**SUP, "Range": "bytes=4-13"})
    assert r.status == 206
    assert r.headers["Content-Range"] == f"bytes 4-13/{len(RECORDING_BYTES)}"
    assert r.headers["Content-Type"] == "audio/wav"
    assert await r.read() == RECORDING_BYTES[4:14]
    audited = [(e.user, e.action, e.target, e.status) for e in api.store.audited]
    # Audited as the handler answered (200): the 206 of a range is decided as the file is sent.
    assert audited[-2:] == [("supervisor", "call.recording", "c-op1", 200)] * 2


async def test_recording_refused_to_an_operator_even_of_its_own_call(api: Api) -> None:
    for headers in (bearer("cto_op1"), {**bearer("cto_op1"), "Range": "bytes=0-9"}):
        r = await api.client.get("/api/v1/calls/c-op1/recording", headers=headers)
        assert r.status == 403, await r.text()
    assert [(e.user, e.action, e.status) for e in api.store.audited] == [("op1", "call.recording", 403)] * 2
    r = await api.client.get("/api/v1/calls/c-other/recording", headers=SUP)
    assert (r.status, (await r.json())["error"]) == (404, "no_recording")


async def test_listening(api: Api) -> None:
    sent = {"mode": "listen", "endpoint": "PJSIP/sup1"}
    body = await call(api, "listenToCall", "POST", "/api/v1/calls/c-op1/listen", json=sent, headers=SUP)
    assert body == {
        "call_id": "c-op1",
        "session": "sup-c-op1-0001",
        "mode": "listen",
        "endpoint": "PJSIP/sup1",
        "state": "dialing",
    }
    body = await call(
        api, "setListenMode", "POST", "/api/v1/calls/c-op1/listen/mode", json={"mode": "whisper"}, headers=SUP
    )
    assert (body["mode"], body["state"]) == ("whisper", "connected")
    body = await call(api, "stopListening", "DELETE", "/api/v1/calls/c-op1/listen", headers=SUP)
    assert body["state"] == "ended"
    assert api.listening.asked == [
        ("start", "c-op1", "listen", "PJSIP/sup1", "supervisor"),
        ("mode", "c-op1", "whisper", "supervisor"),
        ("stop", "c-op1", "supervisor"),
    ]
    assert [e.action for e in api.store.audited] == ["call.listen", "call.listen_mode", "call.listen_stop"]


async def test_listening_refused_to_operators_and_to_unknown_phones(api: Api) -> None:
    sent = {"mode": "barge", "endpoint": "PJSIP/sup1"}
    r = await api.client.post("/api/v1/calls/c-op1/listen", json=sent, headers=bearer("cto_op1"))
    assert r.status == 403
    r = await api.client.post(
        "/api/v1/calls/c-op1/listen/mode", json={"mode": "barge"}, headers=bearer("cto_op1")
    )
    assert r.status == 403
    r = await api.client.post(
        "/api/v1/calls/c-op1/listen", json={"mode": "listen", "endpoint": "PJSIP/7999@pstn-out"}, headers=SUP
    )
    assert (r.status, (await r.json())["error"]) == (400, "unknown_endpoint")
    r = await api.client.post("/api/v1/calls/c-op1/listen/mode", json={"mode": "shout"}, headers=SUP)
    assert r.status == 400
    assert api.listening.asked == []


async def test_every_route_has_a_happy_path(api: Api) -> None:
    covered = set(re.findall(r'call\(\s*api,\s*"(\w+)"', SOURCE))
    assert {r.op for r in api.http.routes.all} - covered == set()
