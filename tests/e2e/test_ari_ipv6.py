"""``ARI_URL=http://[::1]:<port>`` connects to the real Asterisk: a correct password is
not reported as wrong (aioari cut the IPv6 host at its first colon and never sent the
credentials). The stack's Asterisk binds 127.0.0.1 only, so a tiny TCP proxy on [::1]
forwards to it. A Stasis application of its own is used, so the engine's is untouched."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import pytest

from ctoengine.ari.client import AriClient
from ctoengine.errors import AriAuthError
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _proxy_to(host: str, port: int) -> asyncio.Server:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        ur, uw = await asyncio.open_connection(host, port)
        await asyncio.gather(_pipe(r, uw), _pipe(ur, w))

    return await asyncio.start_server(handle, "::1", 0)


async def test_ari_url_with_an_ipv6_literal_connects(stack: Stack) -> None:
    target = urlsplit(stack.exports["ARI_URL"])
    assert target.hostname and target.port
    server = await _proxy_to(target.hostname, target.port)
    port = server.sockets[0].getsockname()[1]
    user, password = stack.exports["ARI_USER"], stack.exports["ARI_PASSWORD"]
    try:
        client = AriClient(f"http://[::1]:{port}", user, password, "ctoengine-ipv6-check")
        try:
            await client.connect()
            events = asyncio.create_task(client.run_events(lambda e: None))
            await asyncio.sleep(0.5)
            assert not events.done(), "the events websocket over [::1] closed at once"
            await client.filter_events(["StasisStart"])  # a REST call over [::1] too
            await client.close_events()
            await asyncio.wait_for(events, 5)
        finally:
            await client.close()
        # Upper-case scheme, and a wrong password still reported as such.
        bad = AriClient(f"HTTP://[::1]:{port}/", user, password + "-wrong", "ctoengine-ipv6-check")
        try:
            with pytest.raises(AriAuthError):
                await bad.connect()
        finally:
            await bad.close()
    finally:
        server.close()
        await server.wait_closed()
