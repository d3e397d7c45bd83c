"""Quality routes of the HTTP API (supervisors; policy: ``users/policy.py``):

- ``GET /api/v1/calls/{call_id}/recording``: the call's recording as WAV, with HTTP range
  requests (a browser's player seeks); every read is audited.
- ``POST /api/v1/calls/{call_id}/listen``: ring the supervisor's phone and listen, whisper
  or barge; ``POST .../listen/mode`` switches; ``DELETE .../listen`` ends it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from ctoengine.api.http import PRINCIPAL
from ctoengine.api.routes import Routes
from ctoengine.errors import DatabaseError, NotFound, Unavailable
from ctoengine.quality.files import inside
from ctoengine.quality.listen import Mode
from ctoengine.quality.listener import ListenState
from ctoengine.quality.schemas import ListenBody, ListenModeBody, ListenView


class Recordings(Protocol):
    async def latest(self, call_id: str) -> dict[str, Any] | None: ...


class Listening(Protocol):
    async def start(self, call_id: str, mode: Mode, endpoint: str, user: str) -> ListenState: ...

    async def set_mode(self, call_id: str, mode: Mode, user: str) -> ListenState: ...

    async def stop(self, call_id: str, user: str) -> ListenState: ...


def _user() -> str:
    who = PRINCIPAL.get()
    return who.name if who is not None else "?"


class QualityRoutes:
    def __init__(self, recordings: Recordings, recording_dir: Path | None, listening: Listening) -> None:
        self.recordings = recordings
        self.dir = recording_dir
        self.listening = listening

    def register(self, routes: Routes) -> None:
        add = routes.add
        path = "/api/v1/calls/{call_id}"
        # fmt: off
        add("GET", f"{path}/recording", self.recording, op="getCallRecording", tag="quality",
            summary="The call's recording (WAV; Range requests; supervisor; audited)", output=None,
            media="audio/wav", errors=(404, 503))
        add("POST", f"{path}/listen", self.listen, op="listenToCall", tag="quality",
            summary="Ring the supervisor's phone to listen to, whisper in or barge into a call",
            input=ListenBody, output=ListenView, errors=(404, 409))
        add("POST", f"{path}/listen/mode", self.mode, op="setListenMode", tag="quality",
            summary="Switch a listening session: listen, whisper or barge", input=ListenModeBody,
            output=ListenView, errors=(404,))
        add("DELETE", f"{path}/listen", self.stop, op="stopListening", tag="quality",
            summary="End a listening session (the supervisor's phone is hung up)", output=ListenView,
            errors=(404,))
        # fmt: on

    async def recording(self, request: web.Request) -> web.StreamResponse:
        """The last recording of the call (a transferred call has one per operator), served as a
        file: ``Range: bytes=...`` answers 206 with that part, so a player can seek."""
        call_id = request.match_info["call_id"]
        if self.dir is None:
            raise Unavailable("recordings are not served here (CTO_RECORDING_DIR is not set)")
        try:
            row = await self.recordings.latest(call_id)
        except DatabaseError as e:
            raise Unavailable(f"the recordings cannot be read now: {e}") from None
        if row is None:
            raise NotFound(f"call {call_id!r} has no recording (yet)", error_id="no_recording")
        path = inside(self.dir, str(row["path"]))
        if path is None or not path.is_file():
            raise NotFound(f"the recording of call {call_id!r} is gone", error_id="no_recording")
        headers = {
            "Content-Type": "audio/wav",
            "Content-Disposition": f'inline; filename="{path.name}"',
            "Cache-Control": "private, no-store",
        }
        return web.FileResponse(path, headers=headers)

    async def listen(self, request: web.Request, body: ListenBody) -> ListenView:
        """Rings ``endpoint``; once answered the supervisor is placed by ``mode``. The caller
        never hears a listening or whispering supervisor."""
        state = await self.listening.start(request.match_info["call_id"], body.mode, body.endpoint, _user())
        return ListenView.model_validate(state, from_attributes=True)

    async def mode(self, request: web.Request, body: ListenModeBody) -> ListenView:
        """Applied at once when connected, or when the phone answers."""
        state = await self.listening.set_mode(request.match_info["call_id"], body.mode, _user())
        return ListenView.model_validate(state, from_attributes=True)

    async def stop(self, request: web.Request) -> ListenView:
        state = await self.listening.stop(request.match_info["call_id"], _user())
        return ListenView.model_validate(state, from_attributes=True)
