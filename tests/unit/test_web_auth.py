"""Login, logout, expiry, CSRF and the role's landing page through the aiohttp test client
(the engine's HttpApi with its middlewares, sessions in memory)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.web import Response

from ctoengine.config import RoutingConfig
from ctoengine.web.auth import COOKIE, LOGIN_COOKIE
from ctoengine.web.sessions import SessionPolicy, csrf_ok, csrf_token, session_hash
from tests.unit.webapp import PASSWORD, WebApp


@pytest.fixture
async def web(demo: RoutingConfig) -> AsyncIterator[tuple[WebApp, TestClient]]:
    app = WebApp(demo, SessionPolicy(idle_s=600, max_s=3600))
    client = TestClient(TestServer(app.http.app))
    await client.start_server()
    try:
        yield app, client
    finally:
        await client.close()


def form_csrf(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m is not None, html
    return m.group(1)


async def login(client: TestClient, name: str, password: str = PASSWORD) -> tuple[int, str]:
    """The login form, then its POST: the status and where it leads."""
    async with client.get("/ui/login") as r:
        assert r.status == 200
        token = form_csrf(await r.text())
    body = {"name": name, "password": password, "csrf": token}
    async with client.post("/ui/login", data=body, allow_redirects=False) as r:
        return r.status, r.headers.get("Location", "")


def session_id(client: TestClient) -> str:
    jar = {c.key: c.value for c in client.session.cookie_jar}
    return jar[COOKIE]


async def test_unauthenticated_pages_redirect_to_the_login(web: tuple[WebApp, TestClient]) -> None:
    _, client = web
    for path in ("/ui/wallboard", "/ui/workplace", "/ui/", "/wallboard"):
        async with client.get(path, allow_redirects=False) as r:
            assert r.status in (302, 303), path
    async with client.get("/", allow_redirects=False) as r:  # the demo contract: "/" is the login page
        assert r.status == 200 and "Вход" in await r.text()
    async with client.get("/ui/wallboard", allow_redirects=True) as r:
        assert r.url.path == "/ui/login"
        text = await r.text()
        assert "Вход" in text
        assert r.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    for path in ("/ui/events", "/ui/wallboard.json"):
        async with client.get(path) as r:
            assert r.status == 401
            assert (await r.json())["error"] == "no_session"


async def test_roles_land_on_their_pages(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    assert await login(client, "supervisor") == (303, "/ui/wallboard")
    async with client.get("/ui/wallboard") as r:
        assert r.status == 200
        text = await r.text()
        assert "Табло супервизора" in text
        assert 'id="emergency-form"' not in text  # admin only
    client.session.cookie_jar.clear()
    assert await login(client, "admin") == (303, "/ui/wallboard")
    async with client.get("/ui/wallboard") as r:
        assert 'id="emergency-form"' in await r.text()
    client.session.cookie_jar.clear()
    assert await login(client, "op1") == (303, "/ui/workplace")
    async with client.get("/ui/workplace") as r:
        assert "Рабочее место оператора" in await r.text()
    async with client.get("/ui/wallboard") as r:
        assert r.status == 403
        assert "Нет доступа" in await r.text()
    async with client.get("/ui/events") as r:
        assert r.status == 403
    async with client.get("/ui/login", allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (303, "/ui/workplace")
    assert ("op1", "web.login", 200) in app.audit.actions()


async def test_the_session_cookie_is_httponly_strict_and_only_a_hash_is_stored(
    web: tuple[WebApp, TestClient],
) -> None:
    app, client = web
    async with client.get("/ui/login") as r:
        token = form_csrf(await r.text())
    body = {"name": "supervisor", "password": PASSWORD, "csrf": token}
    async with client.post("/ui/login", data=body, allow_redirects=False) as r:
        cookie = r.cookies[COOKIE]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Strict"
        assert cookie["path"] == "/ui"
        assert not cookie["secure"]
    sid = cookie.value
    assert list(app.sessions.rows) == [session_hash(sid)]
    assert sid not in str(app.sessions.rows)


async def test_wrong_password_and_unknown_or_disabled_users(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    for name, password in (("supervisor", "wrong-password-1"), ("nobody", PASSWORD), ("gone", PASSWORD)):
        async with client.get("/ui/login") as r:
            token = form_csrf(await r.text())
        body = {"name": name, "password": password, "csrf": token}
        async with client.post("/ui/login", data=body, allow_redirects=False) as r:
            assert r.status == 401
            text = await r.text()
            assert "Неверное имя пользователя или пароль" in text
            assert COOKIE not in r.cookies
    assert app.sessions.rows == {}
    assert [(u, a, s) for u, a, s in app.audit.actions()] == [
        ("supervisor", "web.login", 401),
        ("nobody", "web.login", 401),
        ("gone", "web.login", 401),
    ]


async def test_the_login_form_needs_its_csrf_cookie(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    body = {"name": "supervisor", "password": PASSWORD, "csrf": "made-up-by-another-site"}
    async with client.post("/ui/login", data=body, allow_redirects=False) as r:
        assert r.status == 400
        assert "Форма входа устарела" in await r.text()
    assert app.sessions.rows == {}
    jar = {c.key for c in client.session.cookie_jar}
    assert LOGIN_COOKIE in jar  # a fresh form to try again with


async def test_too_many_failures_are_refused_for_a_while(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    now = [0.0]
    app.auth._clock = lambda: now[0]
    for _ in range(10):
        app.auth.limiter.failed("127.0.0.1", now[0])
    status, _ = await login(client, "supervisor")
    assert status == 429
    now[0] += 61
    assert await login(client, "supervisor") == (303, "/ui/wallboard")


async def test_logout_needs_the_csrf_token_and_ends_the_session(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    sid = session_id(client)
    async with client.post("/ui/logout", data={"csrf": "nope"}, allow_redirects=False) as r:
        assert r.status == 403
    assert session_hash(sid) in app.sessions.rows
    async with client.post("/ui/logout", data={"csrf": csrf_token(sid)}, allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (303, "/ui/login")
    assert app.sessions.rows == {}
    assert ("supervisor", "web.logout", 200) in app.audit.actions()
    # The old cookie, replayed, is nobody.
    client.session.cookie_jar.update_cookies({COOKIE: sid})
    async with client.get("/ui/wallboard", allow_redirects=False) as r:
        assert r.status == 303


async def test_idle_expiry_and_activity_keeping_the_session(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    for _ in range(3):  # a request every 5 min keeps a 10 min idle limit away
        app.clock.advance(300)
        async with client.get("/ui/wallboard", allow_redirects=False) as r:
            assert r.status == 200
    app.clock.advance(601)
    async with client.get("/ui/wallboard", allow_redirects=False) as r:
        assert (r.status, r.headers["Location"]) == (303, "/ui/login")
    assert app.sessions.rows == {}


async def test_absolute_expiry_whatever_the_activity(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    for _ in range(11):
        app.clock.advance(300)
        async with client.get("/ui/wallboard.json") as r:
            assert r.status == 200
    app.clock.advance(301)  # 3601 s after the login
    async with client.get("/ui/wallboard.json") as r:
        assert r.status == 401


async def test_a_new_login_is_a_new_session(web: tuple[WebApp, TestClient]) -> None:
    app, client = web
    await login(client, "supervisor")
    first = session_id(client)
    client.session.cookie_jar.clear()
    await login(client, "supervisor")  # another browser: another session
    assert session_id(client) != first
    assert len(app.sessions.rows) == 2
    app.clock.advance(timedelta(hours=2).total_seconds())
    client.session.cookie_jar.clear()
    await login(client, "admin")  # the login sweeps sessions that have expired
    assert list(app.sessions.rows) == [session_hash(session_id(client))]


def test_csrf_token_is_bound_to_the_session() -> None:
    assert csrf_ok("session-a", csrf_token("session-a"))
    assert not csrf_ok("session-b", csrf_token("session-a"))
    assert not csrf_ok("session-a", "")
    assert not csrf_ok("session-a", None)
    assert csrf_token("session-a") != session_hash("session-a")


def test_session_settings_from_the_environment() -> None:
    from ctoengine.errors import SettingsError
    from ctoengine.settings import load_settings

    base = {
        "ARI_URL": "http://127.0.0.1:8088",
        "ARI_PASSWORD": "x",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1:5432/cto",
        "CTO_API_TOKEN": "t",
    }
    s = load_settings(base)
    assert (s.web_session_idle_s, s.web_session_max_s, s.web_cookie_secure) == (1800, 43200, False)
    env = {**base, "CTO_WEB_SESSION_IDLE_S": "900", "CTO_WEB_SESSION_MAX_S": "28800"}
    s = load_settings({**env, "CTO_WEB_COOKIE_SECURE": "true"})
    assert (s.web_session_idle_s, s.web_session_max_s, s.web_cookie_secure) == (900, 28800, True)
    with pytest.raises(SettingsError, match="CTO_WEB_SESSION_IDLE_S"):
        load_settings({**base, "CTO_WEB_SESSION_IDLE_S": "5"})


async def test_secure_cookies_when_asked(demo: RoutingConfig) -> None:
    app = WebApp(demo)
    app.auth.secure = True
    client = TestClient(TestServer(app.http.app))
    await client.start_server()
    try:
        async with client.get("/ui/login") as r:
            assert r.cookies[LOGIN_COOKIE]["secure"] is True
    finally:
        await client.close()
    response = Response()
    app.auth.set_session_cookie(response, "sid")
    morsel = response.cookies[COOKIE]
    assert (morsel["secure"], morsel["httponly"], morsel["samesite"]) == (True, True, "Strict")
