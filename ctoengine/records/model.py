"""What is written to PostgreSQL: one row per call, plus agent and queue events."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Literal

Disposition = Literal[
    "self_served", "answered", "abandoned", "overflowed", "callback_requested", "closed", "failed"
]


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return round(max(0.0, (b - a).total_seconds()), 3)


@dataclass
class CallRecord:
    table: ClassVar[str] = "calls"
    conflict: ClassVar[str | None] = "call_id"

    call_id: str
    centre: str
    instance: str
    started_at: datetime
    caller_number: str | None = None
    dialed_number: str | None = None
    federation_id: str | None = None
    ivr_ended_at: datetime | None = None
    queued_at: datetime | None = None
    ringing_at: datetime | None = None
    agent_answered_at: datetime | None = None
    ended_at: datetime | None = None
    topic: str | None = None
    queue: str | None = None
    ivr_path: list[str] = field(default_factory=list)
    disposition: Disposition = "failed"
    agent_id: str | None = None
    overflow_peer: str | None = None
    wait_seconds: float | None = None
    talk_seconds: float | None = None
    wrap_up_seconds: float | None = None
    hangup_cause: str | None = None
    hangup_by: str | None = None
    survey_score: int | None = None
    self_service: dict[str, Any] | None = None
    direction: Literal["inbound", "callback"] = "inbound"
    callback_id: str | None = None  # the request this call made (inbound) or kept (callback)

    def finish(self, ended_at: datetime) -> None:
        """Derive the durations once the call is over."""
        self.ended_at = ended_at
        if self.queued_at is not None and self.wait_seconds is None:  # set already at a queue exit
            self.wait_seconds = _seconds(self.queued_at, self.agent_answered_at or ended_at)
        if self.agent_answered_at is not None and self.talk_seconds is None:
            # Set already when the operator hung up before the caller (the survey follows).
            self.talk_seconds = _seconds(self.agent_answered_at, ended_at)


@dataclass
class AgentEventRecord:
    table: ClassVar[str] = "agent_events"
    conflict: ClassVar[str | None] = None

    agent_id: str
    from_state: str
    to_state: str
    reason: str | None
    at: datetime
    instance: str


@dataclass
class QueueEventRecord:
    table: ClassVar[str] = "queue_events"
    conflict: ClassVar[str | None] = None

    call_id: str
    queue: str
    kind: str
    agent_id: str | None
    wait_s: float | None
    at: datetime
    instance: str


@dataclass
class RecordingRecord:
    """One recording of a connection (issue 18): ``path`` is relative to Asterisk's recording
    folder (``CTO_RECORDING_DIR``); duration and size are read off the finished file."""

    table: ClassVar[str] = "recordings"
    conflict: ClassVar[str | None] = "path"

    call_id: str
    path: str
    started_at: datetime
    ended_at: datetime | None
    duration_seconds: float | None
    size_bytes: int | None
    format: str
    centre: str
    instance: str


Record = CallRecord | AgentEventRecord | QueueEventRecord | RecordingRecord
RECORD_TYPES: dict[
    str, type[CallRecord] | type[AgentEventRecord] | type[QueueEventRecord] | type[RecordingRecord]
] = {t.table: t for t in (CallRecord, AgentEventRecord, QueueEventRecord, RecordingRecord)}


def to_json(record: Record) -> dict[str, Any]:
    row = asdict(record)
    for k, v in row.items():
        if isinstance(v, datetime):
            row[k] = v.isoformat()
    return {"table": record.table, "row": row}


def from_json(data: dict[str, Any]) -> Record:
    cls = RECORD_TYPES[data["table"]]
    row = dict(data["row"])
    for f in fields(cls):
        if isinstance(row.get(f.name), str) and (f.name.endswith("_at") or f.name == "at"):
            row[f.name] = datetime.fromisoformat(row[f.name])
    return cls(**row)
