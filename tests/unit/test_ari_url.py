"""The ARI URL at our seam: IPv6 literals and upper-case hosts connect, credentials go
only in a Basic header (never in a URL), a URL with credentials is refused.

A small aiohttp server on ::1 speaks enough ARI for ``connect``, the event filter
and the events websocket."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from ctoengine.ari.client import AriClient, basic_auth, normalize_base_url
from ctoengine.errors import AriAuthError, SettingsError
from ctoengine.settings import load_settings

USER, PASSWORD = "ctoengine", "s3cret:with@odd/chars"


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("http://[::1]:8088", "http://[::1]:8088"),
        ("http://[::1]:8088/", "http://[::1]:8088"),
        ("HTTP://Asterisk.EXAMPLE:8088/", "http://asterisk.example:8088"),
        ("https://[2001:DB8::7]/asterisk/", "https://[2001:db8::7]/asterisk"),
        ("http://127.0.0.1:8088", "http://127.0.0.1:8088"),
    ],
)
def test_base_url_is_normalised(given: str, normal: str) -> None:
    assert normalize_base_url(given) == normal


def test_credentials_in_the_url_are_refused_and_not_echoed() -> None:
    env = {
        "ARI_URL": "http://ctoengine:hunter2@[::1]:8088",
        "ARI_PASSWORD": "x",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1/db",
        "CTO_API_TOKEN": "t",
    }
    with pytest.raises(SettingsError, match="ARI_URL: must not hold a user or password") as e:
        load_settings(env)
    assert "hunter2" not in str(e.value)


def test_settings_keep_the_ipv6_url() -> None:
    env = {
        "ARI_URL": "http://[::1]:8088/",
        "ARI_PASSWORD": "x",
        "DATABASE_URL": "postgresql://u:p@127.0.0.1/db",
        "CTO_API_TOKEN": "t",
    }
    assert load_settings(env).ari_url == "http://[::1]:8088"


class FakeAri:
    """Enough of ARI: /ari/asterisk/info, the event filter, the events websocket."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # method, path, query string
        self.filter: Any = None

    def _authorised(self, request: web.Request) -> bool:
        self.requests.append((request.method, request.path, request.query_string))
        return request.headers.get("Authorization") == basic_auth(USER, PASSWORD)

    async def info(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        return web.json_response({"build": {"os": "Linux"}})

    async def event_filter(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        self.filter = await request.json()
        return web.json_response({})

    async def events(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(
            json.dumps({"type": "PlaybackFinished", "playback": {"id": "p1", "target_uri": "channel:c1"}})
        )
        async for msg in ws:
            if msg.type is WSMsgType.CLOSE:
                break
        return ws

    def app(self) -> web.Application:
        a = web.Application()
        a.router.add_get("/ari/asterisk/info", self.info)
        a.router.add_put("/ari/applications/{app}/eventFilter", self.event_filter)
        a.router.add_get("/ari/events", self.events)
        return a


@pytest.fixture
async def fake_ari() -> AsyncIterator[tuple[FakeAri, int]]:
    fake = FakeAri()
    runner = web.AppRunner(fake.app())
    await runner.setup()
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.bind(("::1", 0))
    port = sock.getsockname()[1]
    site = web.SockSite(runner, sock)
    await site.start()
    try:
        yield fake, port
    finally:
        await runner.cleanup()


async def test_connects_to_an_ipv6_literal_with_a_basic_header(fake_ari: tuple[FakeAri, int]) -> None:
    fake, port = fake_ari
    client = AriClient(f"http://[::1]:{port}/", USER, PASSWORD, "ctoengine")
    try:
        await client.connect()
        await client.filter_events(["StasisStart"])
        assert fake.filter == {"allowed": [{"type": "StasisStart"}]}
        got: list[Any] = []
        reader = asyncio.create_task(client.run_events(got.append))
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.02)
        assert got, "no event over the websocket"
        await client.close_events()
        await asyncio.wait_for(reader, 5)
    finally:
        await client.close()
    assert fake.requests
    for _method, _path, query in fake.requests:
        assert "api_key" not in query
        assert PASSWORD not in query


async def test_an_upper_case_host_connects(fake_ari: tuple[FakeAri, int]) -> None:
    _, port = fake_ari
    client = AriClient(f"HTTP://[::1]:{port}", USER, PASSWORD, "ctoengine")
    try:
        await client.connect()
    finally:
        await client.close()


async def test_a_wrong_password_is_an_auth_error(fake_ari: tuple[FakeAri, int]) -> None:
    _, port = fake_ari
    client = AriClient(f"http://[::1]:{port}", USER, "wrong", "ctoengine")
    try:
        with pytest.raises(AriAuthError):
            await client.connect()
    finally:
        await client.close()
