"""Peer centres that do not answer, for the drills: a TCP port that accepts and
never replies (a status URL that hangs), and a fake status page claiming free
operators (so the engine tries a trunk that leads into a black hole)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import UTC, datetime


class SilentServer:
    """Accepts TCP connections and never says a word (nor closes them)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _serve(self, _: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)

    async def __aenter__(self) -> SilentServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
        for w in self._writers:
            w.transport.abort()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)


def status_document(centre: str, topics: list[str]) -> dict[str, object]:
    """A peer's ``GET /api/v1/federation/status`` (docs/federation.md) with every topic free."""
    return {
        "centre": centre,
        "level": "regional",
        "accepts_overflow": True,
        "at": datetime.now(UTC).isoformat(),
        "topics": {
            t: {"queue": t, "agents_available": 5, "agents_staffed": 5, "waiting": 0, "expected_wait_s": 0.0}
            for t in topics
        },
    }


class FakeStatus:
    """Serves a peer's status page claiming free operators, whatever is asked."""

    def __init__(self, port: int, centre: str, topics: list[str]) -> None:
        self.port, self.centre, self.topics = port, centre, topics
        self.requests = 0
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                self.requests += 1
                body = json.dumps(status_document(self.centre, self.topics)).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> FakeStatus:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
