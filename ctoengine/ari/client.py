"""A narrow ARI client: the REST calls the engine makes, and the event stream.

``connect`` checks the credentials with one request of our own (aioari did,
until issue 19: it compared the URL's host case-sensitively, cut an IPv6
literal at its first colon, and sent the password as ``?api_key=`` in the URL,
so ``http://[::1]:8088`` or an upper-case host failed as a wrong password;
docs/decisions/007). Every request carries our own ``Authorization: Basic``
header, never credentials in a URL. The REST
calls go straight over one aiohttp session (see ``_rest``) and the events over
our own websocket with a heartbeat (see ``run_events``). Both sessions live as
long as the client: a websocket reconnect replaces the websocket only, so the
requests in flight finish. This class is the seam the
rest of the engine depends on, so aiohttp's and aioari's objects and exceptions
never leak out. Every id is chosen by the engine (channel, bridge, playback) so
commands need not wait for a reply to learn one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from ctoengine.ari.events import AriEvent, BadEvent, parse_event
from ctoengine.errors import AriAuthError, AriError, AriNotFound, AriUnavailable
from ctoengine.logs import get_logger

log = get_logger("ctoengine.ari")

EventSink = Callable[[AriEvent], None]

# A ping after this many seconds without a frame; no pong within half of it closes the
# websocket (aiohttp's heartbeat), so a frozen TCP path is noticed in 15 s at most.
HEARTBEAT_S = 10.0


def normalize_base_url(url: str) -> str:
    """``http://ASTERISK.example:8088/`` -> ``http://asterisk.example:8088``; an IPv6
    literal keeps its brackets (``http://[::1]:8088``). Credentials in the URL are
    refused: they belong in ARI_USER/ARI_PASSWORD, never in a URL that may be logged."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not hold a user or password (use ARI_USER and ARI_PASSWORD)")
    host = parts.hostname  # lower-cased, brackets removed
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a bad port") from None
    netloc = host if port is None else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path.rstrip("/"), "", ""))


def basic_auth(user: str, password: str) -> str:
    """The Authorization header's value (aiohttp 3.14 deprecates its BasicAuth)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


class AriClient:
    """REST + events of one Stasis application."""

    def __init__(self, base_url: str, user: str, password: str, app: str) -> None:
        self.base_url = normalize_base_url(base_url)
        self.app = app
        self._user = user
        self._password = password
        self._connected = False
        self._http: aiohttp.ClientSession | None = None
        self._ws_http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self.heartbeat_s = HEARTBEAT_S
        self.request_seconds: Callable[[str, float], None] = lambda op, s: None

    async def connect(self) -> None:
        """Check that ARI answers and takes our user and password (``GET
        /ari/asterisk/info``); raises AriAuthError/AriUnavailable clearly.

        Reconnecting closes the websocket, never the REST session: requests in flight
        (a caller's prompt, a hang-up) are not aborted by a websocket that dropped."""
        await self.close_events()
        self._connected = True  # _rest requires it; undone below on failure
        try:
            await self._rest("GET", "connect", "asterisk", "info", params={"only": "build"})
        except AriNotFound:
            self._connected = False
            raise AriUnavailable(f"connect: no ARI at {self.base_url} (404 for /ari/asterisk/info)") from None
        except AriError:
            self._connected = False
            raise

    async def close_events(self) -> None:
        """Close the websocket (``run_events`` returns); the REST session stays."""
        ws, self._ws = self._ws, None
        if ws is not None and not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()

    async def close(self) -> None:
        await self.close_events()
        self._connected = False
        for session in (self._http, self._ws_http):
            if session is not None:
                await session.close()
        self._http = self._ws_http = None

    async def run_events(self, sink: EventSink, on_open: Callable[[], None] = lambda: None) -> None:
        """Read the websocket until it closes, handing each parsed event to ``sink``;
        ``on_open`` is called once the websocket is open (the application exists from then).

        The sink must not block: the reader parses and hands over, nothing more
        (Asterisk drops a websocket it cannot write to quickly). A websocket that
        stops answering pings is closed (heartbeat): this returns, and the
        connection reconnects. Raises AriUnavailable/AriAuthError when it cannot open.
        """
        self._require()
        if self._ws_http is None or self._ws_http.closed:
            # A session of its own: the REST session's total timeout must not apply to a
            # websocket that lives for days.
            self._ws_http = aiohttp.ClientSession(
                headers={"Authorization": basic_auth(self._user, self._password)},
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        url = f"{self.base_url}/ari/events"
        params = {"app": self.app, "subscribeAll": "false"}
        try:
            ws = await asyncio.wait_for(
                self._ws_http.ws_connect(url, params=params, heartbeat=self.heartbeat_s, autoping=True),
                timeout=10,
            )
        except aiohttp.WSServerHandshakeError as e:
            if e.status == 401:
                raise AriAuthError("Asterisk refused the ARI user or password (401)", 401) from None
            raise AriUnavailable(f"events websocket: handshake refused (HTTP {e.status})") from None
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise AriUnavailable(f"events websocket: unreachable ({e.__class__.__name__})") from None
        self._ws = ws
        on_open()
        try:
            async for msg in ws:
                if msg.type is not aiohttp.WSMsgType.TEXT:
                    continue
                try:
                    raw = json.loads(msg.data)
                    event = parse_event(raw) if isinstance(raw, dict) else None
                except (ValueError, BadEvent) as e:
                    log.warning("ari_bad_event", error=str(e)[:200])
                    continue
                if event is None:
                    continue
                try:
                    sink(event)
                except Exception as e:  # the sink catches its own; this reader never dies of one
                    log.error("event_dispatch_failed", event_type=event.type, error=type(e).__name__)
            if ws.exception() is not None:
                log.warning("ari_websocket_failed", error=type(ws.exception()).__name__)
        finally:
            if self._ws is ws:
                self._ws = None
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()

    def _require(self) -> None:
        if not self._connected:
            raise AriUnavailable("not connected to ARI")

    async def _rest(
        self,
        method: str,
        op: str,
        *segments: str,
        params: dict[str, str | int] | None = None,
        body: dict[str, Any] | None = None,
    ) -> Any:
        """One ARI request, straight over aiohttp: aioari's swagger layer cost a
        third of the engine's CPU per call in scripts/bench, and it sends a body
        parameter wrapped in its own name (the event filter never took)."""
        self._require()
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                headers={"Authorization": basic_auth(self._user, self._password)},
                timeout=aiohttp.ClientTimeout(total=10),
            )
        url = f"{self.base_url}/ari/" + "/".join(quote(s, safe="") for s in segments)
        started = time.perf_counter()
        try:
            async with self._http.request(method, url, params=params, json=body) as r:
                if r.status < 300:
                    if method != "GET":  # the created object is not needed: read, do not parse
                        await r.read()
                        return None
                    return await r.json()
                text = (await r.text()).strip()
                with contextlib.suppress(ValueError, AttributeError):
                    text = json.loads(text).get("message", text)
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            raise AriUnavailable(f"{op}: Asterisk's ARI is unreachable ({e.__class__.__name__})") from None
        finally:
            self.request_seconds(op, time.perf_counter() - started)
        if r.status == 401:
            raise AriAuthError("Asterisk refused the ARI user or password (401)", r.status)
        if r.status == 404:
            raise AriNotFound(f"{op}: not found ({text})", r.status)
        raise AriError(f"{op}: HTTP {r.status} {text}", r.status)

    # --- the application --------------------------------------------------
    async def filter_events(self, types: list[str]) -> None:
        """Ask Asterisk to send this application only these event types: the
        rest (ChannelVarset, ChannelDialplan, Bridge*, …) would cost a websocket
        write, a parse and a dispatch each, for nothing."""
        body = {"allowed": [{"type": t} for t in types]}
        await self._rest("PUT", "applications.filter", "applications", self.app, "eventFilter", body=body)

    async def subscribe(self, event_source: str) -> None:
        """Also receive events of ``event_source`` (e.g. ``deviceState:PJSIP/op1``) in this application."""
        params: dict[str, str | int] = {"eventSource": event_source}
        await self._rest(
            "POST", "applications.subscribe", "applications", self.app, "subscription", params=params
        )

    # --- channels ---------------------------------------------------------
    async def answer(self, channel_id: str) -> None:
        await self._rest("POST", "channels.answer", "channels", channel_id, "answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._rest("DELETE", "channels.hangup", "channels", channel_id, params={"reason": reason})

    async def play(self, channel_id: str, playback_id: str, media: list[str]) -> None:
        # A list parameter is one comma-separated value (Asterisk keeps only the last of repeated ones).
        params: dict[str, str | int] = {"media": ",".join(media)}
        await self._rest(
            "POST", "channels.playWithId", "channels", channel_id, "play", playback_id, params=params
        )

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        await self._rest(
            "POST", "channels.startMoh", "channels", channel_id, "moh", params={"mohClass": moh_class}
        )

    async def stop_moh(self, channel_id: str) -> None:
        await self._rest("DELETE", "channels.stopMoh", "channels", channel_id, "moh")

    async def originate(
        self,
        channel_id: str,
        endpoint: str,
        app_args: str,
        caller_id: str = "",
        timeout: int = 30,
        variables: dict[str, str] | None = None,
    ) -> None:
        params: dict[str, str | int] = {
            "endpoint": endpoint,
            "app": self.app,
            "appArgs": app_args,
            "timeout": timeout,
        }
        if caller_id:
            params["callerId"] = caller_id
        body = {"variables": variables} if variables else None
        await self._rest("POST", "channels.originate", "channels", channel_id, params=params, body=body)

    async def channel_exists(self, channel_id: str) -> bool:
        try:
            await self._rest("GET", "channels.get", "channels", channel_id)
        except AriNotFound:
            return False
        return True

    async def reload_module(self, name: str) -> None:
        """Asterisk re-reads a module's configuration (the SIP guard's blocked addresses)."""
        await self._rest("PUT", "asterisk.reloadModule", "asterisk", "modules", name)

    async def list_channels(self) -> list[dict[str, Any]]:
        return list(await self._rest("GET", "channels.list", "channels") or [])

    # --- playbacks --------------------------------------------------------
    async def stop_playback(self, playback_id: str) -> None:
        await self._rest("DELETE", "playbacks.stop", "playbacks", playback_id)

    async def playback_exists(self, playback_id: str) -> bool:
        try:
            await self._rest("GET", "playbacks.get", "playbacks", playback_id)
        except AriNotFound:
            return False
        return True

    # --- bridges ----------------------------------------------------------
    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None:
        await self._rest("POST", "bridges.createWithId", "bridges", bridge_id, params={"type": kind})

    async def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        """Both channels in one request, with ids the engine chose."""
        params: dict[str, str | int] = {"channel": ",".join(channel_ids)}
        await self._rest("POST", "bridges.addChannel", "bridges", bridge_id, "addChannel", params=params)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._rest("DELETE", "bridges.destroy", "bridges", bridge_id)

    async def remove_channel(self, bridge_id: str, channel_id: str) -> None:
        params: dict[str, str | int] = {"channel": channel_id}
        await self._rest(
            "POST", "bridges.removeChannel", "bridges", bridge_id, "removeChannel", params=params
        )

    async def record_bridge(self, bridge_id: str, name: str, fmt: str = "wav") -> None:
        """Record the bridge's mix into ``<recording folder>/<name>.<fmt>`` until it is destroyed
        (no beep: the caller was told before queueing; no key ends it)."""
        params: dict[str, str | int] = {
            "name": name,
            "format": fmt,
            "ifExists": "overwrite",
            "beep": "false",
            "terminateOn": "none",
            "maxDurationSeconds": 0,
        }
        await self._rest("POST", "bridges.record", "bridges", bridge_id, "record", params=params)

    # --- snoop (live listening) -------------------------------------------
    async def snoop(self, channel_id: str, snoop_id: str, spy: str, whisper: str, app_args: str) -> None:
        """A snoop channel ``snoop_id`` on ``channel_id`` in our application: ``spy`` what it hears
        of the channel, ``whisper`` where what it is given goes (in, out, both or none)."""
        params: dict[str, str | int] = {"app": self.app, "appArgs": app_args, "spy": spy, "whisper": whisper}
        await self._rest(
            "POST", "channels.snoopWithId", "channels", channel_id, "snoop", snoop_id, params=params
        )

    # --- endpoints, system ------------------------------------------------
    async def list_endpoints(self) -> list[dict[str, Any]]:
        return list(await self._rest("GET", "endpoints.list", "endpoints") or [])


async def ignore_gone(coro: Awaitable[None]) -> bool:
    """Run an ARI command whose target may already be gone; a 404 is a race, not a failure."""
    try:
        await coro
    except AriNotFound:
        return False
    return True
