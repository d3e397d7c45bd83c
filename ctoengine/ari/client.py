"""A narrow ARI client: the REST calls the engine makes, and the event stream.

aioari does the transport (swagger-described REST, the websocket); this class
is the seam the rest of the engine depends on, so aioari's objects and
exceptions never leak out. Every id is chosen by the engine (channel, bridge,
playback) so commands need not wait for a reply to learn one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aioari
import aiohttp
from aiohttp import web_exceptions

from ctoengine.ari.events import AriEvent, BadEvent, parse_event
from ctoengine.errors import AriAuthError, AriError, AriNotFound, AriUnavailable
from ctoengine.logs import get_logger

log = get_logger("ctoengine.ari")

EventSink = Callable[[AriEvent], None]


def _translate(e: BaseException, what: str) -> AriError:
    if isinstance(e, web_exceptions.HTTPException):
        status = e.status_code
        text = (e.text or "").strip()
        with contextlib.suppress(ValueError, AttributeError):
            text = json.loads(text).get("message", text)
        if status == 401:
            return AriAuthError("Asterisk refused the ARI user or password (401)", status)
        if status == 404:
            return AriNotFound(f"{what}: not found ({text})", status)
        return AriError(f"{what}: HTTP {status} {text}", status)
    if isinstance(e, aiohttp.ClientError | OSError | asyncio.TimeoutError):
        return AriUnavailable(f"{what}: Asterisk's ARI is unreachable ({e.__class__.__name__})")
    return AriError(f"{what}: {e.__class__.__name__}: {e}")


class AriClient:
    """REST + events of one Stasis application."""

    def __init__(self, base_url: str, user: str, password: str, app: str) -> None:
        self.base_url = base_url
        self.app = app
        self._user = user
        self._password = password
        self._client: Any = None
        self.request_seconds: Callable[[str, float], None] = lambda op, s: None

    async def connect(self) -> None:
        """Load the API description; raises AriAuthError/AriUnavailable clearly."""
        await self.close()
        try:
            self._client = await asyncio.wait_for(
                aioari.connect(self.base_url + "/", self._user, self._password), timeout=10
            )
        except Exception as e:  # aioari/aiohttp raise many kinds: translate all
            raise _translate(e, "connect") from None

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception as e:  # closing a broken client must not raise
                log.debug("ari_close_failed", error=str(e))

    async def run_events(self, sink: EventSink) -> None:
        """Read the websocket until it closes, handing each parsed event to ``sink``.

        The sink must not block: the reader parses and hands over, nothing more
        (Asterisk drops a websocket it cannot write to quickly).
        """
        client = self._require()

        def on_raw(raw: dict[str, Any]) -> None:
            try:
                event = parse_event(raw)
            except BadEvent as e:
                log.warning("ari_bad_event", error=str(e))
                return
            sink(event)

        client.event_listeners.clear()
        client.on_event("*", on_raw)
        try:
            await client.run(apps=self.app)
        except Exception as e:
            raise _translate(e, "events websocket") from None

    def _require(self) -> Any:
        if self._client is None:
            raise AriUnavailable("not connected to ARI")
        return self._client

    async def _call(self, repo: str, op: str, **kwargs: Any) -> Any:
        client = self._require()
        started = time.perf_counter()
        try:
            result = await getattr(getattr(client, repo), op)(**kwargs)
        except Exception as e:
            raise _translate(e, f"{repo}.{op}") from None
        finally:
            self.request_seconds(f"{repo}.{op}", time.perf_counter() - started)
        return getattr(result, "json", result)

    # --- channels ---------------------------------------------------------
    async def answer(self, channel_id: str) -> None:
        await self._call("channels", "answer", channelId=channel_id)

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self._call("channels", "hangup", channelId=channel_id, reason=reason)

    async def play(self, channel_id: str, playback_id: str, media: list[str]) -> None:
        await self._call("channels", "playWithId", channelId=channel_id, playbackId=playback_id, media=media)

    async def start_moh(self, channel_id: str, moh_class: str = "default") -> None:
        await self._call("channels", "startMoh", channelId=channel_id, mohClass=moh_class)

    async def stop_moh(self, channel_id: str) -> None:
        await self._call("channels", "stopMoh", channelId=channel_id)

    async def originate(
        self,
        channel_id: str,
        endpoint: str,
        app_args: str,
        caller_id: str = "",
        timeout: int = 30,
        variables: dict[str, str] | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {
            "endpoint": endpoint,
            "app": self.app,
            "appArgs": app_args,
            "channelId": channel_id,
            "timeout": timeout,
        }
        if caller_id:
            kwargs["callerId"] = caller_id
        if variables:
            kwargs["variables"] = {"variables": variables}
        await self._call("channels", "originate", **kwargs)

    async def list_channels(self) -> list[dict[str, Any]]:
        result = await self._call("channels", "list")
        return [c if isinstance(c, dict) else c.json for c in (result or [])]

    # --- playbacks --------------------------------------------------------
    async def stop_playback(self, playback_id: str) -> None:
        await self._call("playbacks", "stop", playbackId=playback_id)

    # --- bridges ----------------------------------------------------------
    async def create_bridge(self, bridge_id: str, kind: str = "mixing") -> None:
        await self._call("bridges", "createWithId", bridgeId=bridge_id, type=kind)

    async def add_channels(self, bridge_id: str, channel_ids: list[str]) -> None:
        await self._call("bridges", "addChannel", bridgeId=bridge_id, channel=channel_ids)

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self._call("bridges", "destroy", bridgeId=bridge_id)

    # --- endpoints, system ------------------------------------------------
    async def list_endpoints(self) -> list[dict[str, Any]]:
        result = await self._call("endpoints", "list")
        return [e if isinstance(e, dict) else e.json for e in (result or [])]

    async def subscribe(self, event_source: str) -> None:
        """Also receive events of ``event_source`` (e.g. ``deviceState:PJSIP/op1``) in this application."""
        await self._call("applications", "subscribe", applicationName=self.app, eventSource=event_source)


async def ignore_gone(coro: Awaitable[None]) -> bool:
    """Run an ARI command whose target may already be gone; a 404 is a race, not a failure."""
    try:
        await coro
    except AriNotFound:
        return False
    return True
