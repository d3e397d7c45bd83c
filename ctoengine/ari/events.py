"""ARI events as pydantic models, parsed once at the boundary.

Only the fields the engine uses are declared; the rest is ignored. An event
type the engine does not know becomes ``UnknownEvent`` instead of an error.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CallerId(_Model):
    name: str = ""
    number: str = ""


class DialplanCep(_Model):
    context: str = ""
    exten: str = ""
    priority: int = 0


class Channel(_Model):
    id: str
    name: str = ""
    state: str = ""
    caller: CallerId = CallerId()
    connected: CallerId = CallerId()
    dialplan: DialplanCep | None = None
    language: str = ""

    @property
    def endpoint(self) -> str:
        """``PJSIP/op3-00000012`` -> ``PJSIP/op3``."""
        return self.name.rsplit("-", 1)[0]


class Playback(_Model):
    id: str
    media_uri: str = ""
    target_uri: str = ""
    state: str = ""

    @property
    def channel_id(self) -> str | None:
        kind, _, ident = self.target_uri.partition(":")
        return ident if kind == "channel" else None


class Bridge(_Model):
    id: str
    channels: list[str] = []


class DeviceState(_Model):
    name: str
    state: str


class Endpoint(_Model):
    technology: str
    resource: str
    state: str = ""
    channel_ids: list[str] = []


class LiveRecording(_Model):
    name: str
    format: str = ""
    state: str = ""
    target_uri: str = ""
    duration: int | None = None  # seconds, when Asterisk says
    cause: str = ""


class _Event(_Model):
    application: str = ""
    timestamp: str = ""


class StasisStart(_Event):
    type: Literal["StasisStart"]
    args: list[str] = []
    channel: Channel
    replace_channel: Channel | None = None


class StasisEnd(_Event):
    type: Literal["StasisEnd"]
    channel: Channel


class ChannelDestroyed(_Event):
    type: Literal["ChannelDestroyed"]
    channel: Channel
    cause: int = 0
    cause_txt: str = ""


class ChannelHangupRequest(_Event):
    type: Literal["ChannelHangupRequest"]
    channel: Channel
    cause: int = 0
    soft: bool = False


class ChannelStateChange(_Event):
    type: Literal["ChannelStateChange"]
    channel: Channel


class ChannelDtmfReceived(_Event):
    type: Literal["ChannelDtmfReceived"]
    channel: Channel
    digit: str
    duration_ms: int = 0


class PlaybackStarted(_Event):
    type: Literal["PlaybackStarted"]
    playback: Playback


class PlaybackFinished(_Event):
    type: Literal["PlaybackFinished"]
    playback: Playback


class ChannelEnteredBridge(_Event):
    type: Literal["ChannelEnteredBridge"]
    bridge: Bridge
    channel: Channel


class ChannelLeftBridge(_Event):
    type: Literal["ChannelLeftBridge"]
    bridge: Bridge
    channel: Channel


class Dial(_Event):
    type: Literal["Dial"]
    peer: Channel
    dialstatus: str = ""


class DeviceStateChanged(_Event):
    type: Literal["DeviceStateChanged"]
    device_state: DeviceState


class EndpointStateChange(_Event):
    type: Literal["EndpointStateChange"]
    endpoint: Endpoint


class ApplicationReplaced(_Event):
    type: Literal["ApplicationReplaced"]


class RecordingFinished(_Event):
    type: Literal["RecordingFinished"]
    recording: LiveRecording


class RecordingFailed(_Event):
    type: Literal["RecordingFailed"]
    recording: LiveRecording


class UnknownEvent(_Event):
    type: str
    raw: dict[str, Any] = Field(default_factory=dict)


KnownEvent = Annotated[
    StasisStart
    | StasisEnd
    | ChannelDestroyed
    | ChannelHangupRequest
    | ChannelStateChange
    | ChannelDtmfReceived
    | PlaybackStarted
    | PlaybackFinished
    | ChannelEnteredBridge
    | ChannelLeftBridge
    | Dial
    | DeviceStateChanged
    | EndpointStateChange
    | ApplicationReplaced
    | RecordingFinished
    | RecordingFailed,
    Field(discriminator="type"),
]
AriEvent = KnownEvent | UnknownEvent

_known: TypeAdapter[KnownEvent] = TypeAdapter(KnownEvent)
KNOWN_TYPES = frozenset(
    t.__name__
    for t in (
        StasisStart,
        StasisEnd,
        ChannelDestroyed,
        ChannelHangupRequest,
        ChannelStateChange,
        ChannelDtmfReceived,
        PlaybackStarted,
        PlaybackFinished,
        ChannelEnteredBridge,
        ChannelLeftBridge,
        Dial,
        DeviceStateChanged,
        EndpointStateChange,
        ApplicationReplaced,
        RecordingFinished,
        RecordingFailed,
    )
)


# The events the engine acts on: the application's event filter asks Asterisk for
# these only (scripts/bench: every other event is a websocket write, a parse and a
# dispatch for nothing). Parsing still knows the others, for a filter that fails.
USED_TYPES = frozenset(
    t.__name__
    for t in (
        StasisStart,
        StasisEnd,
        ChannelDestroyed,
        ChannelDtmfReceived,
        PlaybackFinished,
        DeviceStateChanged,
        ApplicationReplaced,
        RecordingFinished,  # quality/recorder.py: the file is complete
        RecordingFailed,
    )
)


class BadEvent(ValueError):
    """An event of a known type that does not have the fields we rely on."""


def parse_event(raw: dict[str, Any]) -> AriEvent:
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise BadEvent("event without a type")
    if kind not in KNOWN_TYPES:
        return UnknownEvent(type=kind, raw=raw)
    try:
        return _known.validate_python(raw)
    except ValidationError as e:
        raise BadEvent(f"{kind}: {e.error_count()} invalid field(s)") from None


def channel_of(event: AriEvent) -> str | None:
    """The channel an event belongs to: the key that routes it to a call task."""
    if isinstance(event, PlaybackStarted | PlaybackFinished):
        return event.playback.channel_id
    if isinstance(event, Dial):
        return event.peer.id
    channel = getattr(event, "channel", None)
    return channel.id if isinstance(channel, Channel) else None
