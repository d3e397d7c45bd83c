"""A TCP proxy that can freeze: the ARI path cut without closing it.

The engine's ARI URL points at the proxy (``CTO_ENGINE_ARI_URL``), the proxy at
Asterisk. ``freeze()`` stops forwarding on every connection open at that moment,
both ways, without closing a socket: no FIN, no RST, the bytes stay in the
kernel's buffers, as when a NAT or a firewall drops a flow. Only a heartbeat
(or an application timeout) can tell. Connections opened after the freeze flow
normally, so an engine that notices and reconnects gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

CHUNK = 65536


@dataclass(eq=False)
class Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.flowing.set()

    @property
    def frozen(self) -> bool:
        return not self.flowing.is_set()

    def abort(self) -> None:
        for w in (self.client, self.upstream):
            w.transport.abort()
        for t in self.tasks:
            t.cancel()


class FreezableProxy:
    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self.listen, self.target = listen, target
        self.links: set[Link] = set()
        self.accepted = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, *self.listen, reuse_address=True)

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self.links):
            link.abort()
        self.links.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    def freeze(self) -> int:
        """Stop forwarding on every open connection; returns how many were frozen."""
        for link in self.links:
            link.flowing.clear()
        return len(self.links)

    def thaw(self) -> None:
        """Forward again on every frozen connection, as if the path came back."""
        for link in self.links:
            link.flowing.set()

    def drop_frozen(self) -> int:
        """Close the frozen connections (the path finally times out); returns how many."""
        frozen = [link for link in self.links if link.frozen]
        for link in frozen:
            link.abort()
            self.links.discard(link)
        return len(frozen)

    @property
    def open_links(self) -> int:
        return len(self.links)

    @property
    def frozen_links(self) -> int:
        return sum(link.frozen for link in self.links)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        link = Link(writer, up_writer)
        self.links.add(link)
        link.tasks = [
            asyncio.create_task(self._pump(reader, up_writer, link)),
            asyncio.create_task(self._pump(up_reader, writer, link)),
        ]
        try:
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self.links.discard(link)

    @staticmethod
    async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: Link) -> None:
        try:
            while True:
                await link.flowing.wait()
                data = await src.read(CHUNK)
                # Frozen while reading: hold what arrived until thawed (or aborted).
                await link.flowing.wait()
                if not data:
                    break
                dst.write(data)
                await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # One side closed: close both, as a plain proxy would.
            for t in link.tasks:
                if t is not asyncio.current_task():
                    t.cancel()
            for w in (link.client, link.upstream):
                with contextlib.suppress(Exception):
                    w.close()
