"""The operator's workplace through the aiohttp test client: the card of his own call (pushed
over SSE), the caller's history looked up once and audited, the appeal, the wrap-up's "ready now"
and bounded "need more time", transfer, and the knowledge base (fakes around a real distributor)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ctoengine.config import RoutingConfig
from ctoengine.queues import distributor as q
from ctoengine.records.model import CallRecord
from ctoengine.web.sessions import SessionPolicy
from tests.unit.test_web_auth import login
from tests.unit.test_web_wallboard import _next_event
from tests.unit.webapp import WebApp

NUMBER = "79161234567"
APPEAL = "/ui/workplace/appeal"
Web = tuple[WebApp, TestClient]


@pytest.fixture
async def web(demo: RoutingConfig) -> AsyncIterator[tuple[WebApp, TestClient]]:
    app = WebApp(demo, SessionPolicy(idle_s=600, max_s=3600))
    await app.kb.load(demo.workplace.kb_dir)
    client = TestClient(TestServer(app.http.app))
    await client.start_server()
    try:
        yield app, client
    finally:
        await client.close()


def csrf_of(html: str) -> str:
    m = re.search(r'<meta name="csrf-token" content="([^"]+)"', html)
    assert m is not None
    return m.group(1)


async def page(client: TestClient) -> tuple[str, str]:
    async with client.get("/ui/workplace") as r:
        assert r.status == 200
        html = await r.text()
    return html, csrf_of(html)


async def post(client: TestClient, path: str, token: str, **form: str) -> tuple[int, dict[str, object]]:
    async with client.post(path, data=form, headers={"X-CSRF-Token": token}) as r:
        return r.status, await r.json()


def ring_op1(app: WebApp, call_id: str = "c1") -> CallRecord:
    """A caller of "passport" who waited 12 s rings op1; his record so far is the queue task's."""
    f, clock = app.floor, app.clock
    f.feed(q.AgentLogin("op1"))
    record = CallRecord(call_id, "ЦТО", "t", clock.wall, caller_number=NUMBER, topic="passport")
    record.ivr_path = ["main:1"]
    record.queued_at = clock.wall
    f.records[call_id] = record
    f.feed(q.CallerQueued(call_id, "passport", f.now()))
    clock.advance(12)
    return record


async def test_the_card_of_a_ringing_call_and_the_history_lookup_is_audited(
    web: tuple[WebApp, TestClient],
) -> None:
    app, client = web
    assert await login(client, "op1") == (303, "/ui/workplace")
    html, _ = await page(client)
    assert 'id="no-call"' in html and 'id="appeal-form"' in html
    ring_op1(app)
    html, _ = await page(client)
    assert app.floor.dist.agents["op1"].state.value == "reserved"
    assert f'id="card-number" class="big">{NUMBER}<' in html
    assert "(passport)" in html and "0:12" in html  # the topic and the wait so far
    assert 'href="/ui/kb/passport/lost"' in html  # the topic's articles
    await asyncio.sleep(0.05)  # the history is looked up in the background, once per call
    html, _ = await page(client)
    assert 'data-testid="earlier-call"' in html
    assert "Утрата или хищение паспорта — Консультация дана" in html
    assert [
        (r.user, r.action, r.target, r.status) for r in app.audit.rows if r.action == "history.lookup"
    ] == [("op1", "history.lookup", "c1", 200)]
    assert app.appeals.looked_up == [(NUMBER, "c1")]


async def test_the_card_is_pushed_over_sse(web: Web) -> None:
    app, client = web
    await login(client, "op1")
    app.floor.feed(q.AgentLogin("op1"))
    async with client.get("/ui/workplace/events") as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        first = await asyncio.wait_for(_next_event(r.content, "board"), 2)
        assert 'id="no-call"' in first
        record = CallRecord("c2", "ЦТО", "t", app.clock.wall, caller_number=NUMBER, topic="passport")
        record.queued_at = app.clock.wall
        app.floor.records["c2"] = record
        app.floor.feed(q.CallerQueued("c2", "passport", app.floor.now()))  # op1 is rung
        pushed = await asyncio.wait_for(_next_event(r.content, "board"), 2)
        assert NUMBER in pushed and 'data-phase="ringing"' in pushed


async def test_appeal_wrap_up_and_transfer(web: Web) -> None:
    app, client = web
    await login(client, "op1")
    record = ring_op1(app)
    f = app.floor
    f.feed(q.RingAnswered("c1", "op1"))
    record.agent_answered_at = app.clock.wall
    _, token = await page(client)
    status, answer = await post(client, "/ui/workplace/transfer", token, to="queue:egrul")
    assert (status, answer["ok"]) == (200, True)
    assert f.transfers == [("c1", "egrul", None)]
    status, _ = await post(client, "/ui/workplace/transfer", token, to="agent:nobody")
    assert status == 404
    appeal = {"call_id": "c1", "topic": "passport", "subtopic": "lost", "outcome": "complaint_registered"}
    status, answer = await post(client, APPEAL, token, **appeal, note="Жалоба на МФЦ")
    assert status == 200, answer
    assert app.appeals.rows[0] | {"created_at": None} == {
        "id": 1, "call_id": "c1", "topic": "passport", "subtopic": "lost", "outcome": "complaint_registered",
        "note": "Жалоба на МФЦ", "agent_id": "op1", "user_name": "op1", "created_at": None,
        "complaint_status": "new", "complaint_updated_at": None, "complaint_updated_by": None,
    }  # fmt: skip
    status, answer = await post(
        client, "/ui/workplace/appeal", token, **{**appeal, "subtopic": "fee"}, note=""
    )
    assert (status, answer["error"]) == (422, "bad_appeal")
    status, answer = await post(client, APPEAL, token, **{**appeal, "call_id": "c-other"})
    assert (status, answer["error"]) == (403, "not_own_call")

    # The call ends: wrap-up (60 s in the demo), extended by 30 s at a time up to 120 s.
    app.clock.advance(20)
    f.feed(q.CallEnded("c1", "op1"))
    html, _ = await page(client)
    assert 'id="wrap-left"' in html and "1:00" in html
    for _ in range(4):
        status, answer = await post(client, "/ui/workplace/wrap", token, action="extend")
        assert status == 200, answer
    status, answer = await post(client, "/ui/workplace/wrap", token, action="extend")
    assert (status, answer["error"]) == (409, "extension_used_up")
    assert f.dist.wraps["op1"].until == f.now() + 60 + 120
    # The appeal may still be registered in the wrap-up; then "ready now".
    status, _ = await post(
        client, "/ui/workplace/appeal", token, **{**appeal, "outcome": "consulted"}, note=""
    )
    assert status == 200
    status, answer = await post(client, "/ui/workplace/wrap", token, action="ready")
    assert status == 200, answer
    assert f.dist.agents["op1"].state.value == "available"
    # After the wrap-up his last call still takes an appeal; another's never.
    status, _ = await post(
        client, "/ui/workplace/appeal", token, **{**appeal, "outcome": "appointment"}, note=""
    )
    assert status == 200
    actions = [
        (r.action, r.status, r.details.get("via")) for r in app.audit.rows if r.action != "history.lookup"
    ]
    assert ("agent.wrap_extend", 409, "web") in actions
    assert [a for a, s, _ in actions if s == 200].count("agent.wrap_extend") == 4
    assert ("agent.wrap_ready", 200, "web") in actions and ("call.transfer", 200, "web") in actions
    assert [s for a, s, _ in actions if a == "call.appeal"] == [200, 422, 403, 200, 200]


async def test_own_state_buttons(web: Web) -> None:
    app, client = web
    await login(client, "op1")
    _, token = await page(client)
    assert (await post(client, "/ui/workplace/state", token, action="ready"))[0] == 200
    assert app.floor.dist.agents["op1"].state.value == "available"
    status, answer = await post(client, "/ui/workplace/state", token, action="pause", reason="nap")
    assert (status, answer["error"]) == (400, "bad_pause_reason")
    assert (await post(client, "/ui/workplace/state", token, action="pause", reason="lunch"))[0] == 200
    assert app.floor.dist.agents["op1"].reason == "lunch"
    assert (await post(client, "/ui/workplace/state", token, action="ready"))[0] == 200
    assert (await post(client, "/ui/workplace/state", token, action="logout"))[0] == 200
    assert app.floor.dist.agents["op1"].state.value == "logged_out"
    assert (await post(client, "/ui/workplace/state", "forged", action="ready"))[0] == 403
    actions = [a for _, a, _ in app.audit.actions()]
    assert actions[-5:] == ["agent.login", "agent.pause", "agent.pause", "agent.unpause", "agent.logout"]


async def test_supervisors_have_no_workplace_but_read_the_knowledge_base(
    web: tuple[WebApp, TestClient],
) -> None:
    _, client = web
    await login(client, "supervisor")
    async with client.get("/ui/workplace") as r:
        assert r.status == 403
    async with client.post("/ui/workplace/state", data={"action": "ready"}) as r:
        assert r.status == 403
    async with client.get("/ui/kb/search", params={"q": "утраты"}) as r:
        html = await r.text()
        assert 'href="/ui/kb/passport/lost"' in html
    async with client.get("/ui/kb/passport/replace-age") as r:
        html = await r.text()
        assert "<strong>замене</strong>" in html and "<h2>Что сказать заявителю</h2>" in html
    async with client.get("/ui/kb/passport/nothing") as r:
        assert r.status == 404
    client.session.cookie_jar.clear()
    async with client.get("/ui/kb/search", params={"q": "паспорт"}) as r:
        assert r.status == 401


def test_the_history_is_in_the_cards_words(demo: RoutingConfig) -> None:
    from zoneinfo import ZoneInfo

    from ctoengine.web.card import earlier

    row = {
        "call_id": "c0", "started_at": "2026-11-22T07:05:00+00:00", "topic": "passport",
        "disposition": "answered", "agent_id": "op2",
        "appeals": [{"topic": "passport", "subtopic": "lost", "outcome": "complaint_registered"}],
    }  # fmt: skip
    titles = {t.code: t.title for t in demo.topics}
    (line,) = earlier([row], titles, demo.workplace.subtopics, ZoneInfo("Europe/Moscow"))
    assert line.when == "22.11 10:05"
    assert line.topic == "Выдача и замена паспорта гражданина РФ"
    assert line.appeals == ["Утрата или хищение паспорта — Зарегистрирована жалоба"]
