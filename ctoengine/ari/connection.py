"""Keeps the ARI connection up: connect, read events, reconnect with backoff.

After every (re)connect ``on_connected`` runs, so the engine can reconcile what
it owns with what Asterisk has (events sent while the websocket was down are
lost): see ``calls/reconcile.py``.

A second engine that registers the same Stasis application takes it over
(``ApplicationReplaced``): this one logs it once, says so (``replaced``, the
gauge ``ctoengine_ari_app_replaced``, read by the readiness check) and retries
only every ``REPLACED_RETRY_S``, logging each attempt, so that two engines do
not take the application from each other in a tight loop.
"""

from __future__ import annotations

import asyncio
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable

from ctoengine.ari.client import AriClient, EventSink
from ctoengine.ari.events import USED_TYPES, ApplicationReplaced, AriEvent
from ctoengine.errors import AriAuthError, AriError, AriNotFound, AriUnavailable
from ctoengine.logs import get_logger

log = get_logger("ctoengine.ari")

REPLACED_RETRY_S = 30.0
OPEN_TIMEOUT_S = 15.0  # the websocket's own connect times out in 10 s
REGISTER_TRIES, REGISTER_RETRY_S = 20, 0.1


class AriConnection:
    def __init__(
        self,
        client: AriClient,
        sink: EventSink,
        on_connected: Callable[[], Awaitable[None]],
        on_state: Callable[[bool], None],
        backoff: tuple[float, float] = (0.2, 5.0),
        on_replaced: Callable[[bool], None] = lambda replaced: None,
        replaced_retry_s: float = REPLACED_RETRY_S,
    ) -> None:
        self.client = client
        self._sink = sink
        self._on_connected = on_connected
        self._on_state = on_state
        self._on_replaced = on_replaced
        self._backoff = backoff
        self._replaced_retry_s = replaced_retry_s
        self.connected = False
        self.reconnects = 0
        # True from an ApplicationReplaced until this engine holds the application again.
        self.replaced = False
        self._replaced_logged = False

    def _set(self, up: bool) -> None:
        if up != self.connected:
            self.connected = up
            self._on_state(up)

    def mark_down(self) -> None:
        """The task running ``run`` ended abnormally: ARI is down until it runs again."""
        self._set(False)

    def _set_replaced(self, replaced: bool) -> None:
        if replaced != self.replaced:
            self.replaced = replaced
            self._on_replaced(replaced)

    def _on_event(self, event: AriEvent) -> None:
        if isinstance(event, ApplicationReplaced):
            if not self._replaced_logged:
                log.error(
                    "ari_application_replaced",
                    app=self.client.app,
                    hint="another engine registered the same Stasis application",
                )
                self._replaced_logged = True
            self._set_replaced(True)
            # Its events go to the other engine now: let go of the websocket and retry slowly.
            asyncio.get_running_loop().create_task(self.client.close_events())
            return
        self._sink(event)

    @staticmethod
    async def _until_open(reader: asyncio.Task[None], opened: asyncio.Event) -> None:
        """Until the websocket is open. A fixed pause here once let the event filter and the
        device-state subscriptions go out before Asterisk knew the application (on a loaded
        box): every event then arrived unfiltered and operators' phones went unwatched."""
        waiter = asyncio.ensure_future(opened.wait())
        try:
            done, _ = await asyncio.wait(
                {reader, waiter}, timeout=OPEN_TIMEOUT_S, return_when=FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if reader in done:
            await reader  # raises why it could not open
            raise AriUnavailable("events websocket: closed as soon as it opened")
        if not done:
            reader.cancel()
            raise AriUnavailable(f"events websocket: not open after {OPEN_TIMEOUT_S:g} s")

    @staticmethod
    async def _registered(step: Callable[[], Awaitable[None]]) -> None:
        """``step``, retried briefly while Asterisk answers "Application not found": the
        websocket's upgrade and the application's registration are not one instant."""
        for attempt in range(REGISTER_TRIES):
            try:
                await step()
                return
            except AriNotFound as e:
                if "application" not in str(e).lower() or attempt == REGISTER_TRIES - 1:
                    raise
            await asyncio.sleep(REGISTER_RETRY_S)

    async def run(self) -> None:
        """Run until cancelled; a wrong password stops it (nothing to retry)."""
        delay = self._backoff[0]
        first = True
        while True:
            try:
                if not first:
                    if self.replaced:
                        log.warning("ari_application_retake", app=self.client.app)
                    await self.client.connect()
                first = False
                # The websocket must be open before we list channels, or a
                # StasisStart between the two would be missed.
                opened = asyncio.Event()
                reader = asyncio.create_task(self.client.run_events(self._on_event, opened.set))
                await self._until_open(reader, opened)
                self._set(True)
                log.info("ari_connected", url=self.client.base_url)
                try:
                    await self._registered(lambda: self.client.filter_events(sorted(USED_TYPES)))
                except AriError as e:  # every event still arrives: slower, not wrong
                    log.warning("ari_event_filter_failed", error=str(e))
                delay = self._backoff[0]
                try:
                    await self._on_connected()  # the application is known by now (the filter)
                except AriError as e:
                    log.warning("ari_resume_failed", error=str(e))
                except Exception as e:  # a bug in reconciliation must not stop the engine in a loop
                    log.error("ari_resume_crashed", error=type(e).__name__)
                if not reader.done() and self.replaced:
                    # We hold the application again (until the other engine takes it back).
                    await asyncio.sleep(1.0)
                    if not reader.done():
                        self._set_replaced(False)
                await reader
                log.warning("ari_websocket_closed")
            except AriAuthError:
                self._set(False)
                raise
            except AriError as e:
                log.warning("ari_disconnected", error=str(e), retry_in_s=delay)
            self._set(False)
            self.reconnects += 1
            await asyncio.sleep(self._replaced_retry_s if self.replaced else delay)
            delay = min(delay * 2, self._backoff[1])
