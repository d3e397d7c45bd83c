"""The wallboard over HTTP: its JSON, the live stream, the audited actions and the static files."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from ctoengine.config import RoutingConfig
from ctoengine.queues import distributor as q
from ctoengine.web.assets import CACHE_FOREVER
from ctoengine.web.sessions import csrf_token
from tests.unit.test_web_auth import login, session_id
from tests.unit.webapp import WebApp


@pytest.fixture
async def web(demo: RoutingConfig) -> AsyncIterator[tuple[WebApp, TestClient]]:
    app = WebApp(demo)
    app.routes.stream.interval = 0.05
    client = TestClient(TestServer(app.http.app))
    await client.start_server()
    try:
        yield app, client
    finally:
        await client.close()


async def _act(client: TestClient, path: str, form: dict[str, str], csrf: str | None) -> tuple[int, Any]:
    headers = {"X-CSRF-Token": csrf} if csrf is not None else {}
    async with client.post(path, data=form, headers=headers) as r:
        return r.status, await r.json()


async def test_the_json_board(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    app.floor.feed(q.CallerQueued("c1", "social", app.clock.mono))
    app.floor.agent_action("op9", "pause", "lunch")
    app.clock.advance(12)
    async with client.get("/ui/wallboard.json") as r:
        board = await r.json()
    social = next(x for x in board["queues"] if x["name"] == "social")
    assert (social["waiting"], social["longest_wait_s"]) == (1, 12)
    assert board["agents"] == [
        {
            "id": "op9",
            "state": "paused",
            "reason": "lunch",
            "in_state_s": 12,
            "call_topic": None,
            "talk_s": None,
            "pending": None,
            "pending_reason": None,
        }
    ]


async def _next_event(stream: aiohttp.StreamReader, name: str) -> str:
    """The data of the next ``name`` event of a Server-Sent Events stream."""
    event, data = "", []
    while True:
        line = (await stream.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data.append(line.removeprefix("data: "))
        elif line == "" and event:
            if event == name:
                return "\n".join(data)
            event, data = "", []


async def test_the_stream_pushes_a_change_within_a_second(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    async with client.get("/ui/events") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(_next_event(r.content, "board"), 2)
        assert 'data-queue="passport" data-waiting="0"' in first
        assert app.routes.stream.viewers == 1
        app.floor.feed(q.CallerQueued("c1", "passport", app.clock.mono))
        app.floor.feed(q.CallerQueued("c2", "passport", app.clock.mono))
        changed = await asyncio.wait_for(_next_event(r.content, "board"), 1)
        assert 'data-queue="passport" data-waiting="2"' in changed
    for _ in range(100):  # the page left: nothing renders any more
        if app.routes.stream.viewers == 0:
            break
        await asyncio.sleep(0.05)


async def test_an_operator_gets_no_stream_and_no_actions(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "op1")
    async with client.get("/ui/events") as r:
        assert r.status == 403
    csrf = csrf_token(session_id(client))
    status, body = await _act(client, "/ui/actions/agent", {"agent": "op2", "action": "logout"}, csrf)
    assert status == 403
    assert "супервизор" in body["message"]
    assert ("op1", "agent.logout", 403) in app.audit.actions()


async def test_pause_and_logout_by_a_supervisor_are_audited(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    csrf = csrf_token(session_id(client))
    form = {"agent": "op3", "action": "pause", "reason": "lunch"}
    status, body = await _act(client, "/ui/actions/agent", form, csrf)
    assert status == 200, body
    assert "op3" in body["message"]
    assert "обед" in body["message"]
    a = app.floor.dist.agents["op3"]
    assert (a.state.value, a.reason) == ("paused", "lunch")
    entry = app.audit.rows[-1]
    assert (entry.user, entry.role, entry.action, entry.target, entry.status) == (
        "supervisor",
        "supervisor",
        "agent.pause",
        "op3",
        200,
    )
    assert entry.details == {"via": "web", "reason": "lunch"}
    form = {"agent": "op3", "action": "logout", "reason": "training"}
    status, body = await _act(client, "/ui/actions/agent", form, csrf)
    assert status == 200, body
    assert app.floor.dist.agents["op3"].state.value == "logged_out"
    assert ("supervisor", "agent.logout", 200) in app.audit.actions()


async def test_agent_action_mistakes_are_russian_4xx(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    csrf = csrf_token(session_id(client))
    status, body = await _act(client, "/ui/actions/agent", {"agent": "op3", "action": "pause"}, None)
    assert (status, body["error"]) == (403, "csrf")
    assert app.audit.actions()[-1][1] == "web.login"  # refused before anything was tried
    status, body = await _act(client, "/ui/actions/agent", {"agent": "op3", "action": "pause"}, csrf)
    assert (status, body["error"]) == (400, "bad_pause_reason")
    assert "lunch" in body["details"]["allowed"]
    form = {"agent": "op3", "action": "pause", "reason": "nap"}
    status, body = await _act(client, "/ui/actions/agent", form, csrf)
    assert status == 400
    form = {"agent": "op99", "action": "pause", "reason": "lunch"}
    status, body = await _act(client, "/ui/actions/agent", form, csrf)
    assert (status, body["error"]) == (404, "unknown_agent")
    assert [s for _, a, s in app.audit.actions() if a.startswith("agent.")] == [400, 400, 404]


async def test_a_pause_during_a_call_is_said_to_come_after_it(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    csrf = csrf_token(session_id(client))
    app.floor.agent_action("op8", "login")
    app.floor.feed(q.CallerQueued("c1", "social", app.clock.mono))
    app.floor.feed(q.RingAnswered("c1", "op8"))
    form = {"agent": "op8", "action": "pause", "reason": "break"}
    status, body = await _act(client, "/ui/actions/agent", form, csrf)
    assert status == 200, body
    assert "после окончания разговора" in body["message"]
    async with client.get("/ui/wallboard.json") as r:
        (op8,) = (await r.json())["agents"]
    assert (op8["state"], op8["pending"], op8["pending_reason"]) == ("on_call", "paused", "break")
    status, body = await _act(client, "/ui/actions/agent", {"agent": "op4", "action": "unpause"}, csrf)
    assert status == 200  # not paused: nothing to do, and the answer says where he is
    assert "не в системе" in body["message"]


async def test_emergency_and_reload_are_for_admins(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    csrf = csrf_token(session_id(client))
    status, _ = await _act(client, "/ui/actions/emergency", {"mode": "on"}, csrf)
    assert status == 403
    status, _ = await _act(client, "/ui/actions/reload", {}, csrf)
    assert status == 403
    assert app.emergency.enabled is None
    assert app.host.reloads == 0
    assert ("supervisor", "emergency.set", 403) in app.audit.actions()
    assert ("supervisor", "config.reload", 403) in app.audit.actions()

    client.session.cookie_jar.clear()
    await login(client, "admin")
    csrf = csrf_token(session_id(client))
    status, body = await _act(client, "/ui/actions/emergency", {"mode": "on"}, csrf)
    assert (status, body["enabled"]) == (200, True)
    assert "включён" in body["message"]
    assert app.emergency.enabled is True
    assert app.emergency.by["by"] == "admin"
    entry = app.audit.rows[-1]
    assert (entry.action, entry.status, entry.details) == (
        "emergency.set",
        200,
        {"via": "web", "enabled": True},
    )
    status, body = await _act(client, "/ui/actions/emergency", {"mode": "file"}, csrf)
    assert (status, app.emergency.enabled) == (200, None)

    status, body = await _act(client, "/ui/actions/reload", {}, csrf)
    assert (status, body["ok"]) == (200, True)
    app.host.reload_errors = ["/etc/cto/routing.yaml:12:5: queues.social.wrap_up_s: must be >= 0"]
    status, body = await _act(client, "/ui/actions/reload", {}, csrf)
    assert status == 422
    assert body["details"]["errors"] == app.host.reload_errors
    assert "прежняя конфигурация" in body["message"]
    assert [s for _, a, s in app.audit.actions() if a == "config.reload"][-2:] == [200, 422]


async def test_the_board_shows_emergency_mode_and_reasons(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "admin")
    app.floor.agent_action("op2", "pause", "training")
    app.host.routing = app.host.routing.model_copy(
        update={"emergency": app.host.routing.emergency.model_copy(update={"enabled": True})}
    )
    async with client.get("/ui/wallboard") as r:
        html = await r.text()
    assert "Включён аварийный режим" in html
    row = re.search(r'data-agent="op2".*?</div>\s*</div>', html, re.S)
    assert row is not None
    assert "Пауза" in row.group(0)
    assert "обучение" in row.group(0)


async def test_static_files_are_versioned_and_cached_for_ever(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    url = app.routes.assets.url("wallboard.js")
    assert re.fullmatch(r"/ui/static/[0-9a-f]{12}/wallboard\.js", url)
    async with client.get(url) as r:
        assert r.status == 200
        assert r.headers["Cache-Control"] == CACHE_FOREVER
        assert r.headers["Content-Type"].startswith("text/javascript")
        assert "EventSource" in await r.text()
    async with client.get("/ui/static/000000000000/wallboard.js") as r:
        assert r.status == 404
        assert r.headers["Cache-Control"] == "no-store"
    await login(client, "supervisor")
    async with client.get("/ui/wallboard") as r:
        assert url in await r.text()


async def test_shutdown_ends_open_streams(demo: RoutingConfig) -> None:
    app = WebApp(demo)
    client = TestClient(TestServer(app.http.app))
    await client.start_server()
    await login(client, "supervisor")
    r = await client.get("/ui/events")
    await asyncio.wait_for(_next_event(r.content, "board"), 2)
    await asyncio.wait_for(client.close(), 5)  # not the server's 60 s grace for open requests
    assert app.routes.stream.closed


async def test_a_stream_whose_session_ends_says_so(
    web: tuple[WebApp, TestClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = web
    monkeypatch.setattr("ctoengine.web.stream.PING_S", 0.05)
    monkeypatch.setattr("ctoengine.web.stream.RECHECK_S", 0.1)
    await login(client, "supervisor")
    async with client.get("/ui/events") as r:
        await asyncio.wait_for(_next_event(r.content, "board"), 2)
        await asyncio.wait_for(_next_event(r.content, "ping"), 2)
        app.clock.advance(600)  # an open page keeps its session: the stream re-checks (and touches) it
        for _ in range(40):
            await asyncio.wait_for(_next_event(r.content, "ping"), 2)
            (row,) = app.sessions.rows.values()
            if row[2] == app.clock.wall:
                break
        else:
            raise AssertionError("the open stream did not keep its session fresh")
        app.sessions.rows.clear()  # logged out elsewhere, or expired
        await asyncio.wait_for(_next_event(r.content, "expired"), 2)
