"""The wallboard's live updates: one broadcaster, any number of open pages (Server-Sent Events).

While at least one page is open, one task renders the board every
``interval`` (0.5 s) and keeps the result only when it differs from the last
one; every open page waits on that and is sent the newest version (a slow page
skips versions, it never queues them). The board is rendered once per change
for all pages, not once per page. Nothing runs while no page is open.

Polling rather than a hook in the queue service: the board also changes with
time alone (waits and times in state grow), and 0.5 s keeps a change on the
screen well within the 2 s the issue asks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from aiohttp import web

from ctoengine.logs import get_logger

log = get_logger("ctoengine.web")

INTERVAL_S = 0.5
PING_S = 5.0  # the page says "no connection" after 12 s without a word
RECHECK_S = 30.0  # an open stream re-checks its session this often


class Broadcaster:
    def __init__(self, render: Callable[[], str], interval: float = INTERVAL_S) -> None:
        self._render = render
        self.interval = interval
        self.current: str | None = None
        self.version = 0
        self.viewers = 0
        self.closed = False
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_error = ""

    def _refresh(self) -> None:
        try:
            html = self._render()
        except Exception as e:
            # Once per distinct error, not twice a second.
            if str(e) != self._last_error:
                self._last_error = str(e)
                log.exception("wallboard_render_failed")
            return
        self._last_error = ""
        if html != self.current:
            self.current = html
            self.version += 1
            self._changed.set()
            self._changed = asyncio.Event()

    async def _run(self) -> None:
        while self.viewers > 0 and not self.closed:
            await asyncio.sleep(self.interval)
            self._refresh()

    @contextlib.asynccontextmanager
    async def watching(self) -> AsyncIterator[None]:
        """One open page; the first one starts the rendering, the last one to leave stops it."""
        self.viewers += 1
        if self._task is None or self._task.done():
            self._refresh()  # the board of now, not of when the last page was open
            self._task = asyncio.create_task(self._run(), name="wallboard")
        try:
            yield
        finally:
            self.viewers -= 1

    async def next(self, seen: int, timeout: float) -> tuple[int, str] | None:
        """The newest board once it is newer than version ``seen``; None after ``timeout`` or at close."""
        if self.closed:
            return None
        if self.version != seen and self.current is not None:
            return self.version, self.current
        changed = self._changed
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await changed.wait()
        if self.closed or self.version == seen or self.current is None:
            return None
        return self.version, self.current

    async def close(self) -> None:
        """At shutdown: every open page's stream ends (the server does not wait for them)."""
        self.closed = True
        self._changed.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def sse(event: str, data: str) -> bytes:
    """One Server-Sent Event; a multi-line ``data`` becomes several ``data:`` lines."""
    lines = data.splitlines() or [""]
    return (f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


async def serve_stream(
    request: web.Request, board: Broadcaster, still_allowed: Callable[[], Awaitable[bool]]
) -> web.StreamResponse:
    """One page's stream: ``board`` events when the board changes, ``ping`` every 5 s,
    ``expired`` (and the end) once ``still_allowed`` says no (asked every 30 s)."""
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",  # a proxy in front must not hold the events back
        }
    )
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    checked = loop.time()
    seen = 0
    try:
        await response.write(b"retry: 2000\n\n")
        async with board.watching():
            while not board.closed:
                frame = await board.next(seen, PING_S)
                if frame is not None:
                    seen, html = frame
                    await response.write(sse("board", html))
                elif not board.closed:
                    await response.write(sse("ping", ""))
                if loop.time() - checked >= RECHECK_S:
                    checked = loop.time()
                    if not await still_allowed():
                        await response.write(sse("expired", ""))
                        break
    except ConnectionResetError:
        pass  # the page was closed
    return response
