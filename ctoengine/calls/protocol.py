"""The vocabulary between the pure call logic and the asyncio shell.

Pure machines (IVR, queues, overflow) take *events* and the current time and
return *commands*; they never do I/O or read a clock. The shell turns ARI
events into these events and executes the commands over ARI, PostgreSQL and
timers. Timers are data: a machine asks for ``StartTimer(name, at)`` and the
shell feeds back ``TimerFired(name)`` once ``at`` has passed, unless a
``CancelTimer(name)`` or a newer ``StartTimer`` of that name came first.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- events (into the machines) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Dtmf:
    """The caller pressed a key: one of ``0-9 * # A-D``."""

    digit: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """A playback started by ``Play`` ended (played out or stopped)."""

    playback_id: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer armed by ``StartTimer`` reached its deadline."""

    name: str


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """The caller's channel is gone."""


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The answer of a self-service provider to ``LookupApplication``.

    ``status`` is a status code of the catalogue (``ready``, ``in_progress``, …)
    or ``None`` when the application is unknown; ``failed`` is true when the
    provider did not answer in time or broke (the caller hears a fallback).
    """

    number: str
    status: str | None
    ready_date: str | None = None  # ISO date, spoken when present
    failed: bool = False


Event = Dtmf | PlaybackFinished | TimerFired | CallerHungUp | LookupResult


# --- commands (out of the machines) -------------------------------------------


@dataclass(frozen=True, slots=True)
class Play:
    """Play media to the caller, in order, as one playback.

    ``media`` are ARI media URIs (``sound:/abs/path/name`` without extension,
    ``sound:digits/5``, ``digits:123``, ``number:42``). The id is chosen by the
    machine so it can be stopped without waiting for Asterisk's reply.
    """

    playback_id: str
    media: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StopPlayback:
    playback_id: str


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Arm (or re-arm) the timer ``name`` to fire at monotonic time ``at``."""

    name: str
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    name: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """End the call; ``reason`` is an ARI hangup reason (``normal``, ``busy`` …)."""

    reason: str = "normal"


@dataclass(frozen=True, slots=True)
class Enqueue:
    """Leave the IVR and wait for an operator of queue ``topic``."""

    topic: str


@dataclass(frozen=True, slots=True)
class LookupApplication:
    """Ask the self-service provider for the status of application ``number``."""

    number: str


@dataclass(frozen=True, slots=True)
class TransferExternal:
    """Send the call to an allowlisted external destination (e.g. an MFC office)."""

    destination: str


Command = (
    Play | StopPlayback | StartTimer | CancelTimer | Hangup | Enqueue | LookupApplication | TransferExternal
)
