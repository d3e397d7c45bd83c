"""The post-call survey of one caller as a pure machine (issue 18, docs/quality.md).

When the operator ends the conversation and the caller is still on the line,
the queue machine (``queues/call.py``) hands the caller to a ``Survey``::

    ASKING (prompt playing) ──key 1-5──► THANKING (thanks playing) ──played──► OVER
       │ played                 ▲
       ▼                        │ key 1-5
    WAITING (answer_s) ─────────┘
       │ deadline                       any other key: ignored
       ▼
     OVER (no score)

A key during the prompt counts (callers who know the drill need not wait). The
only timer is ``deadline``; the queue machine arms it. No key or a hang-up leaves
the score empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ctoengine.calls.protocol import Play, StopPlayback

SCORES = frozenset("12345")
# Backstops of a playback whose PlaybackFinished is lost: the caller is never kept.
PROMPT_LIMIT_S = 30.0


@dataclass(frozen=True, slots=True)
class SurveyTerms:
    prompt: str  # media URI
    thanks: str | None  # media URI; None: hang up right after the score
    answer_s: float


@dataclass(frozen=True, slots=True)
class SurveyScore:
    """The caller's score, 1-5: into ``calls.survey_score`` and the metric."""

    score: int


@dataclass(frozen=True, slots=True)
class TalkEnded:
    """The conversation is over (the operator hung up) though the call goes on: the talk
    time ends now, not when the caller leaves the survey."""


class Step(Enum):
    ASKING = "asking"
    WAITING = "waiting"
    THANKING = "thanking"
    OVER = "over"


SurveyCommand = Play | StopPlayback | SurveyScore


class Survey:
    def __init__(self, call_id: str, terms: SurveyTerms) -> None:
        self.terms = terms
        self.step = Step.ASKING
        self.deadline: float | None = None
        self.score: int | None = None
        self._prompt = f"{call_id}-survey"
        self._thanks = f"{call_id}-survey-thanks"

    @property
    def over(self) -> bool:
        return self.step is Step.OVER

    def start(self, now: float) -> list[SurveyCommand]:
        self.deadline = now + PROMPT_LIMIT_S + self.terms.answer_s
        return [Play(self._prompt, (self.terms.prompt,))]

    def played(self, playback_id: str, now: float) -> list[SurveyCommand]:
        if self.step is Step.ASKING and playback_id == self._prompt:
            self.step = Step.WAITING
            self.deadline = now + self.terms.answer_s
        elif self.step is Step.THANKING and playback_id == self._thanks:
            self._end()
        return []

    def key(self, digit: str, now: float) -> list[SurveyCommand]:
        if self.step not in (Step.ASKING, Step.WAITING) or digit not in SCORES:
            return []
        out: list[SurveyCommand] = []
        if self.step is Step.ASKING:
            out.append(StopPlayback(self._prompt))
        self.score = int(digit)
        out.append(SurveyScore(self.score))
        if self.terms.thanks is None:
            self._end()
            return out
        self.step = Step.THANKING
        self.deadline = now + PROMPT_LIMIT_S
        return [*out, Play(self._thanks, (self.terms.thanks,))]

    def expire(self, now: float) -> bool:
        """The deadline passed: the survey is over (True) unless it was moved meanwhile."""
        if self.deadline is not None and now >= self.deadline:
            self._end()
        return self.over

    def _end(self) -> None:
        self.step = Step.OVER
        self.deadline = None
