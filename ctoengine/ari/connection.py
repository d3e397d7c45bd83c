"""Keeps the ARI connection up: connect, read events, reconnect with backoff.

After every (re)connect ``on_connected`` runs, so the engine can take back the
channels still in its Stasis application (waiting callers survive a restart of
the engine, and of the websocket).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from ctoengine.ari.client import AriClient, EventSink
from ctoengine.ari.events import USED_TYPES
from ctoengine.errors import AriAuthError, AriError
from ctoengine.logs import get_logger

log = get_logger("ctoengine.ari")


class AriConnection:
    def __init__(
        self,
        client: AriClient,
        sink: EventSink,
        on_connected: Callable[[], Awaitable[None]],
        on_state: Callable[[bool], None],
        backoff: tuple[float, float] = (0.2, 5.0),
    ) -> None:
        self.client = client
        self._sink = sink
        self._on_connected = on_connected
        self._on_state = on_state
        self._backoff = backoff
        self.connected = False
        self.reconnects = 0

    def _set(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            self._on_state(up)

    async def run(self) -> None:
        """Run until cancelled; a wrong password stops it (nothing to retry)."""
        delay = self._backoff[0]
        first = True
        while True:
            try:
                if not first:
                    await self.client.connect()
                first = False
                # The websocket must be open before we list channels, or a
                # StasisStart between the two would be missed.
                reader = asyncio.create_task(self.client.run_events(self._sink))
                await asyncio.sleep(0.05)
                if reader.done():
                    await reader
                self._set(True)
                log.info("ari_connected", url=self.client.base_url)
                try:
                    await self.client.filter_events(sorted(USED_TYPES))
                except AriError as e:  # every event still arrives: slower, not wrong
                    log.warning("ari_event_filter_failed", error=str(e))
                delay = self._backoff[0]
                try:
                    await self._on_connected()
                except AriError as e:
                    log.warning("ari_resume_failed", error=str(e))
                await reader
                log.warning("ari_websocket_closed")
            except AriAuthError:
                self._set(False)
                raise
            except AriError as e:
                log.warning("ari_disconnected", error=str(e), retry_in_s=delay)
            self._set(False)
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff[1])
