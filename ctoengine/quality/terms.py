"""What the queue phase of one call needs to know of quality control, and the one
recording command it gives. Pure: no I/O, no clock.

The shell (``queues/session.py``) builds ``QualityTerms`` from the routing file
when the caller enters a queue (the survey's sampling draw happens there, so
the machine stays deterministic) and executes ``StartRecording``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ctoengine.quality.survey import SurveyTerms

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, slots=True)
class QualityTerms:
    """``notice``: the media said before queueing (None: this queue does not record).
    ``survey``: None when the queue has no survey or this caller was not drawn."""

    record: bool = False
    notice: str | None = None
    survey: SurveyTerms | None = None


@dataclass(frozen=True, slots=True)
class StartRecording:
    """Record the call's bridge from now until it is destroyed; ``recording_id`` is unique
    per connection (a transferred call is recorded again, in a file of its own)."""

    recording_id: str


def recording_name(recording_id: str, day: datetime) -> str:
    """The recording's name for ARI (and its path under Asterisk's ``recording`` folder,
    without the extension): one folder per day keeps folders small and retention simple.

    >>> recording_name("1732.5-rec1", datetime(2026, 11, 26))
    '2026-11-26/1732.5-rec1'
    """
    safe = _UNSAFE.sub("_", recording_id).lstrip(".") or "recording"
    return f"{day:%Y-%m-%d}/{safe}"
