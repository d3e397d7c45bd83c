"""The routing file: what admins edit to steer the centre. Reference: docs/routing.md.

Every field carries its description; ``extra="forbid"`` turns a typo into an
error with its line instead of a silently ignored key.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DIGITS = frozenset("0123456789*#")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Centre(_M):
    name: str = Field(description="The centre's name, written into every call record")
    level: Literal["federal", "regional", "municipal"] = Field(description="Place in the federation")
    region_code: str = Field(description="Region code, e.g. '70' for Tomsk oblast")
    timezone: str = Field(default="Europe/Moscow", description="IANA time zone of schedules")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}") from None
        return v


class Number(_M):
    did: str = Field(description="The dialled number (DID) as Asterisk sees it, e.g. 88003336060")
    flow: str = Field(description="Entry flow for calls to this number")


class Topic(_M):
    code: str = Field(description="Topic code used in queues, records and reports")
    title: str = Field(description="Human title of the topic")


class Action(_M):
    """Exactly one of the keys: what a digit (or an exhausted menu) does."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"minProperties": 1, "maxProperties": 1}
    )

    queue: str | None = Field(default=None, description="Wait for an operator of this queue")
    menu: str | None = Field(default=None, description="Go to another menu")
    self_service: Literal["application_status"] | None = Field(
        default=None, description="Self-service: the status of an application"
    )
    play: str | None = Field(default=None, description="Play a prompt, then this menu again")
    transfer: str | None = Field(default=None, description="Send to an allowlisted external destination")
    hangup: str | None = Field(default=None, description="Play this goodbye prompt and hang up")

    @model_validator(mode="after")
    def _one(self) -> Action:
        set_ = [k for k, v in self.model_dump().items() if v is not None]
        if len(set_) != 1:
            raise ValueError(
                "an action needs exactly one of: queue, menu, self_service, play, transfer, hangup"
                + (f" (got {', '.join(set_)})" if set_ else "")
            )
        return self

    @property
    def kind(self) -> str:
        return next(k for k, v in self.model_dump().items() if v is not None)

    @property
    def target(self) -> str:
        return str(getattr(self, self.kind))


class Menu(_M):
    prompt: str = Field(description="Prompt listing the options")
    timeout_s: float = Field(default=5.0, gt=0, description="Seconds to wait for a key after the prompt")
    retries: int = Field(default=2, ge=0, description="Times the menu repeats after no or invalid input")
    invalid_prompt: str | None = Field(default=None, description="Played before repeating on a wrong key")
    options: dict[str, Action] = Field(
        description="Key (0-9, * or #) -> action",
        json_schema_extra={"propertyNames": {"pattern": "^[0-9*#]$"}},
    )
    on_exhausted: Action = Field(description="What happens when the retries are used up")

    @field_validator("options")
    @classmethod
    def _digits(cls, v: dict[str, Action]) -> dict[str, Action]:
        for k in v:
            if len(k) != 1 or k not in DIGITS:
                raise ValueError(f"option key {k!r} is not one of 0-9, * or #")
        return v


class Flow(_M):
    greeting: str = Field(description="First prompt of every call of this flow")
    menu: str | None = Field(default=None, description="Menu after the greeting; none = say goodbye")
    goodbye: str | None = Field(default=None, description="Prompt before hanging up when there is no menu")


class Provider(_M):
    type: Literal["postgres", "http"] = Field(default="postgres", description="Where statuses come from")
    url: str | None = Field(default=None, description="For type http: GET url?number=N")
    timeout_s: float = Field(default=3.0, gt=0, description="Seconds before the spoken fallback")

    @model_validator(mode="after")
    def _url(self) -> Provider:
        if self.type == "http" and not self.url:
            raise ValueError("provider of type http needs a url")
        return self


class ApplicationStatus(_M):
    ask_prompt: str = Field(description="'Type the application number and press #'")
    unknown_prompt: str = Field(description="'No application with this number'")
    failed_prompt: str = Field(description="Fallback when the provider does not answer")
    goodbye_prompt: str = Field(description="After the status is spoken; then the call ends")
    status_prompts: dict[Literal["received", "in_progress", "ready", "rejected"], str] = Field(
        description="Prompt per status code"
    )
    max_digits: int = Field(default=12, ge=1, le=32, description="Longest application number")
    timeout_s: float = Field(default=8.0, gt=0, description="Seconds to wait for the next key")
    provider: Provider = Field(default_factory=Provider, description="Status provider")


class SelfService(_M):
    application_status: ApplicationStatus | None = Field(
        default=None, description="Status of an application by its number (menu action self_service)"
    )


class Announcement(_M):
    id: str = Field(description="Identifier, in records and logs")
    prompt: str = Field(description="What is said")
    valid_from: datetime | None = Field(default=None, description="Start (naive = centre time zone)")
    valid_to: datetime | None = Field(default=None, description="End (naive = centre time zone)")
    numbers: list[str] = Field(default_factory=list, description="DIDs it plays on; empty = all")
    priority: int = Field(default=0, description="Higher plays first")
    skippable: bool = Field(default=True, description="A key press may cut it short")
    mode: Literal["every_call", "once"] = Field(
        default="every_call", description="Play on every call, or once per caller number"
    )


class NightMode(_M):
    flow: str = Field(description="Flow used outside working hours and on holidays")


class Schedule(_M):
    weekly: dict[str, list[str]] = Field(
        default_factory=dict, description="Weekday (mon..sun) -> working ranges 'HH:MM-HH:MM'"
    )
    holidays: list[date] = Field(default_factory=list, description="Days the centre is closed")
    night: NightMode | None = Field(default=None, description="Automatic mode outside working hours")
    always_open: bool = Field(default=False, description="24/7: ignore weekly and holidays")

    @field_validator("weekly")
    @classmethod
    def _weekly(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, ranges in v.items():
            if day not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})")
            for r in ranges:
                if not _RANGE.match(r):
                    raise ValueError(f"{day}: {r!r} is not a range like 08:00-20:00")
        return v

    def ranges(self, day: str) -> list[tuple[time, time | None]]:
        out: list[tuple[time, time | None]] = []
        for r in self.weekly.get(day, []):
            m = _RANGE.match(r)
            assert m is not None
            end = None if m.group(3) == "24" else time(int(m.group(3)), int(m.group(4)))
            out.append((time(int(m.group(1)), int(m.group(2))), end))
        return out


class Emergency(_M):
    enabled: bool = Field(default=False, description="Put the announcement in front of every call")
    prompt: str = Field(default="emergency", description="The emergency announcement")
    flow: str | None = Field(default=None, description="Route every call to this flow while enabled")


class Operator(_M):
    id: str = Field(description="Operator id, e.g. op3 (in records and the API)")
    endpoint: str = Field(description="Dial string of the softphone, e.g. PJSIP/op3")
    skills: dict[str, int] = Field(description="Topic -> level 1..10")
    line: Literal["first", "second"] = Field(default="first", description="First or second line")

    @field_validator("skills")
    @classmethod
    def _levels(cls, v: dict[str, int]) -> dict[str, int]:
        for topic, level in v.items():
            if not 1 <= level <= 10:
                raise ValueError(f"skill {topic!r}: level {level} is not within 1..10")
        return v


class RelaxStep(_M):
    after_s: float = Field(ge=0, description="Waiting time after which the step applies")
    min_level: int = Field(ge=1, le=10, description="Lowest skill level accepted from then on")


class Survey(_M):
    """The post-call survey of a queue (docs/quality.md): a 1-5 score by key."""

    prompt: str = Field(default="survey", description="'Rate the conversation from 1 to 5'")
    thanks_prompt: str | None = Field(
        default="survey_thanks", description="Said after a score; none: hang up"
    )
    share: float = Field(default=1.0, ge=0, le=1, description="Share of the queue's callers asked (sampling)")
    answer_s: float = Field(
        default=8.0, gt=0, le=60, description="How long a key is waited for after the prompt"
    )


class Queue(_M):
    topic: str = Field(description="Topic served (skill operators need)")
    priority: int = Field(default=0, description="Weight across queues; higher is served first")
    wrap_up_s: float = Field(default=60.0, ge=0, description="Post-call work after each call")
    ring_timeout_s: float = Field(default=15.0, gt=0, description="Ring an operator this long, then the next")
    max_wait_s: float = Field(default=600.0, gt=0, description="Longest wait before the exit action")
    max_wait_action: Literal["callback", "hangup"] = Field(
        default="callback", description="At max wait: register a callback, or say goodbye"
    )
    announce_every_s: float = Field(default=30.0, ge=0, description="Position/expected wait cadence; 0 = off")
    relax: list[RelaxStep] = Field(default_factory=list, description="Skill relaxation by waiting time")
    general_after_s: float | None = Field(
        default=None, ge=0, description="After this wait any operator with skill 'general' may answer"
    )
    missed_rings_to_pause: int = Field(default=2, ge=1, description="Missed rings before auto-pause")
    recording: bool = Field(
        default=False,
        description="Record every operator conversation of this queue (one mixed WAV per connection);"
        " the caller hears quality.recording_prompt before he joins the queue",
    )
    survey: Survey | None = Field(
        default=None, description="Post-call survey after the operator ends the conversation; none: off"
    )


class QueuePrompts(_M):
    position: str = Field(default="queue_position", description="'Your position in the queue is'")
    expected_wait: str = Field(default="expected_wait", description="'Expected waiting time, minutes'")
    callback: str = Field(default="callback_registered", description="Said at max wait with callback")
    goodbye: str = Field(default="goodbye", description="Said at max wait with hangup")


class ExternalDestination(_M):
    endpoint: str = Field(description="Dial string, e.g. PJSIP/mfc-office@pstn")
    title: str = Field(default="", description="Human name")
    on_failure_queue: str | None = Field(
        default=None,
        description="Queue the caller waits in when the destination is busy, does not answer or fails;"
        " without it the call ends there",
    )
    failure_prompt: str = Field(
        default="transfer_failed", description="Said before that queue: 'could not connect, stay on the line'"
    )


class Peer(_M):
    level: Literal["federal", "regional"] = Field(description="The peer centre's level")
    trunk: str = Field(description="Dial string of the SIP trunk to the peer, e.g. PJSIP/overflow@peer-B")
    status_url: str = Field(description="The peer's GET /api/v1/federation/status")
    token_env: str = Field(description="Environment variable holding the token the peer expects from us")
    priority: int = Field(default=0, description="Preferred among peers with the same expected wait")
    topics: list[str] = Field(default_factory=list, description="Topics it takes from us; empty = all")
    max_concurrent: int = Field(default=10, ge=1, description="Most of our calls at the peer at once")
    max_share: float = Field(default=0.5, gt=0, le=1, description="Share of our queued calls it may take")


class Federation(_M):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="This centre's id in the federation")
    accept_overflow: bool = Field(default=True, description="Whether we take calls from peers")
    token_env: str = Field(
        default="CTO_FEDERATION_TOKEN", description="Environment variable: the token peers must present"
    )
    target_wait_s: float = Field(default=20.0, gt=0, description="Overflow when the wait would exceed this")
    margin_s: float = Field(default=10.0, ge=0, description="A peer must be quicker by at least this")
    poll_every_s: float = Field(default=2.0, gt=0, description="How often peers' status is read")
    stale_after_s: float = Field(default=10.0, gt=0, description="An older status makes a peer unknown")
    answer_timeout_s: float = Field(default=10.0, gt=0, description="A peer that does not answer: back here")
    peers: dict[str, Peer] = Field(default_factory=dict, description="Peer centres by id")


class Records(_M):
    caller_number_retention_days: int = Field(
        default=1095,
        ge=1,
        description="Caller numbers are erased from call records older than this (personal data)",
    )


class Retention(_M):
    recordings_days: int = Field(
        default=90, ge=1, description="Call recordings (files and rows) are deleted when older than this"
    )


class Quality(_M):
    """Quality control (issue 18, docs/quality.md): recording notice and live listening."""

    recording_prompt: str = Field(
        default="recording_notice", description="Said before queueing in a queue that records"
    )
    supervisor_endpoints: list[str] = Field(
        default_factory=list,
        description="Phones a supervisor may be rung on to listen to a call (e.g. PJSIP/sup1);"
        " nothing else is ever dialled for listening",
    )

    @field_validator("supervisor_endpoints")
    @classmethod
    def _endpoints(cls, v: list[str]) -> list[str]:
        for e in v:
            if not re.fullmatch(r"PJSIP/[A-Za-z0-9_.-]{1,64}", e):
                raise ValueError(f"{e!r} is not a PJSIP/<endpoint> dial string (no trunk, no @)")
        return v


class Outbound(_M):
    """The one way out to the public network: only callbacks use it (issue 15)."""

    trunk: str = Field(
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="PJSIP endpoint of the outbound trunk; the citizen is dialled as PJSIP/<number>@<trunk>",
    )
    caller_id: str = Field(
        pattern=r"^\+?[0-9]{3,20}$",
        description="The number the citizen sees: the hotline's, e.g. 88003336060",
    )
    allowed: list[str] = Field(
        min_length=1,
        description="Regular expressions (whole number) of the numbers that may be dialled;"
        " nothing else is ever dialled",
    )
    ring_s: int = Field(default=30, ge=5, le=120, description="How long the citizen's phone rings")

    @field_validator("allowed")
    @classmethod
    def _patterns(cls, v: list[str]) -> list[str]:
        for p in v:
            try:
                re.compile(p)
            except re.error as e:
                raise ValueError(f"{p!r} is not a regular expression: {e}") from None
        return v

    def allows(self, number: str) -> bool:
        return any(re.fullmatch(p, number) for p in self.allowed)


class Callback(_M):
    """The promise "we will call you back within 24 hours", kept (docs/callbacks.md)."""

    offer_after_s: float = Field(
        default=60.0, ge=0, description="Offer a callback when the expected wait is longer than this"
    )
    offer_key: str = Field(default="1", pattern=r"^[0-9*#]$", description="The key that accepts the offer")
    due_within_h: float = Field(default=24.0, gt=0, le=168, description="The promise: called back within")
    inbound_first_s: float = Field(
        default=30.0,
        ge=0,
        description="No callback is dialled while an inbound caller of the topic waits longer than this",
    )
    retry_after_s: float = Field(default=600.0, gt=0, description="After no answer, busy or a failure")
    attempts: int = Field(default=3, ge=1, le=10, description="Attempts to reach the citizen, then failed")
    schedule: Schedule | None = Field(
        default=None, description="Hours callbacks are dialled in (default: the centre's schedule)"
    )
    offer_prompt: str = Field(default="callback_offer", description="'Press 1 and we will call you back'")
    unavailable_prompt: str = Field(
        default="callback_unavailable",
        description="Said instead of the offer to a caller whose number cannot be called back",
    )
    impossible_prompt: str = Field(
        default="callback_impossible",
        description="Said at max wait to a caller whose number cannot be called back; then goodbye",
    )
    intro_prompt: str = Field(default="callback_intro", description="Said to the citizen who answers")
    whisper_prompt: str = Field(default="callback_whisper", description="Said to the operator first")
    whisper_topics: dict[str, str] = Field(
        default_factory=dict, description="Topic -> prompt naming it, said to the operator after the whisper"
    )


SUBTOPIC_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class Workplace(_M):
    """The operators' workplace (docs/workplace.md): the appeals' catalogue, the knowledge
    base and the bounded extension of a wrap-up."""

    subtopics: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="Topic code -> its sub-topics of appeals, code -> title: what the operator picks"
        " when registering an appeal (and what `ctoengine report --by subtopic` counts)",
    )
    kb_dir: Path | None = Field(
        default=None,
        description="Folder of the knowledge base: <topic>/<article>.md with front matter (title,"
        " keywords); relative to this file. None: no knowledge base",
    )
    wrap_up_extend_s: float = Field(
        default=30.0, gt=0, le=600, description="'Need more time' lengthens the wrap-up by this much"
    )
    wrap_up_extend_max_s: float = Field(
        default=120.0, ge=0, le=3600, description="At most this much extra wrap-up per call, in all"
    )

    @field_validator("subtopics")
    @classmethod
    def _codes(cls, v: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for topic, subs in v.items():
            for code, title in subs.items():
                if not SUBTOPIC_RE.match(code):
                    raise ValueError(
                        f"sub-topic {code!r} of {topic!r}: a code is a-z, 0-9 and '_', starting with a letter"
                    )
                if not title.strip():
                    raise ValueError(f"sub-topic {code!r} of {topic!r} needs a title")
        return v


class RoutingConfig(_M):
    """The routing file of one centre (reference: docs/routing.md)."""

    centre: Centre = Field(description="This centre: name, level, region, time zone")
    prompts_dir: Path = Field(description="Folder of prompt files (relative to this file)")
    numbers: list[Number] = Field(description="Dialled numbers (DIDs) and the flow each enters")
    topics: list[Topic] = Field(description="Topics of calls: queues, skills and records use their codes")
    flows: dict[str, Flow] = Field(description="Entry flows by name: greeting, then a menu or goodbye")
    menus: dict[str, Menu] = Field(description="IVR menus by name")
    self_service: SelfService = Field(
        default_factory=SelfService, description="Self-service without operator"
    )
    announcements: list[Announcement] = Field(
        default_factory=list, description="Auto-informer: announcements played before the menu"
    )
    schedule: Schedule = Field(
        default_factory=lambda: Schedule(always_open=True),
        description="Working hours, holidays and night mode (default: always open)",
    )
    emergency: Emergency = Field(default_factory=Emergency, description="Emergency mode (also via the API)")
    operators: list[Operator] = Field(default_factory=list, description="Operators with their skills")
    queues: dict[str, Queue] = Field(default_factory=dict, description="Queues by name")
    pause_reasons: list[str] = Field(
        default_factory=lambda: ["break", "lunch", "training", "no_answer"],
        description="Reasons an operator may pause for; must include no_answer",
    )
    queue_prompts: QueuePrompts = Field(
        default_factory=QueuePrompts, description="Prompts said to waiting callers"
    )
    external_destinations: dict[str, ExternalDestination] = Field(
        default_factory=dict, description="Allowlisted transfer destinations by name"
    )
    records: Records = Field(default_factory=Records, description="Call record retention")
    retention: Retention = Field(default_factory=Retention, description="How long recordings are kept")
    quality: Quality = Field(
        default_factory=Quality, description="Quality control: recording notice, supervisors' phones"
    )
    federation: Federation | None = Field(default=None, description="Overflow to and from peer centres")
    callback: Callback | None = Field(
        default=None, description="Callbacks: the offer while waiting and the dialling (needs outbound)"
    )
    outbound: Outbound | None = Field(default=None, description="The outbound trunk callbacks dial on")
    workplace: Workplace = Field(
        default_factory=Workplace,
        description="The operators' workplace: sub-topics of appeals, knowledge base, wrap-up extension",
    )

    # --- lookups the engine uses ----------------------------------------
    def media(self, prompt: str) -> str:
        """ARI media URI of a prompt name (``asterisk:NAME`` = Asterisk's own sounds)."""
        if prompt.startswith("asterisk:"):
            return "sound:" + prompt.removeprefix("asterisk:")
        return f"sound:{self.prompts_dir / prompt}"

    def flow_for(self, did: str) -> str | None:
        return next((n.flow for n in self.numbers if n.did == did), None)

    def subtopic_title(self, topic: str, subtopic: str) -> str | None:
        return self.workplace.subtopics.get(topic, {}).get(subtopic)

    def queue_for_topic(self, topic: str) -> str:
        if topic in self.queues:
            return topic
        return next((name for name, q in self.queues.items() if q.topic == topic), topic)

    def position_media(self, position: int, expected_wait_s: float | None) -> list[str]:
        qp = self.queue_prompts
        media = [self.media(qp.position), f"number:{position}"]
        if expected_wait_s is not None:
            minutes = max(1, round(expected_wait_s / 60))
            media += [self.media(qp.expected_wait), f"number:{minutes}"]
        return media
