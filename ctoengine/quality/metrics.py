"""The quality-control metrics (issue 18), on the engine's registry (``Metrics.quality``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

SCORE_BUCKETS = (1, 2, 3, 4, 5)


class QualityMetrics:
    def __init__(self, r: CollectorRegistry) -> None:
        self.recordings_started = Counter(
            "ctoengine_recordings_started", "Operator conversations whose recording started", registry=r
        )
        self.recording_failures = Counter(
            "ctoengine_recording_failures",
            "Recordings that failed (stage start: ARI refused, the call went on unrecorded;"
            " file: the finished file could not be read; asterisk: RecordingFailed)",
            ["stage"],
            registry=r,
        )
        self.recordings_disk_free_ratio = Gauge(
            "ctoengine_recordings_disk_free_ratio",
            "Free share of the file system holding CTO_RECORDING_DIR (NaN when not set)",
            registry=r,
        )
        self.recordings_disk_free_bytes = Gauge(
            "ctoengine_recordings_disk_free_bytes",
            "Free bytes of the file system holding CTO_RECORDING_DIR (NaN when not set)",
            registry=r,
        )
        self.survey_score = Histogram(
            "ctoengine_survey_score",
            "Post-call survey scores (1-5) by queue and operator: _sum / _count is the average",
            ["queue", "agent"],
            buckets=SCORE_BUCKETS,
            registry=r,
        )
        self.surveys = Counter(
            "ctoengine_surveys",
            "Post-call surveys offered, by queue and outcome (scored, no_score)",
            ["queue", "outcome"],
            registry=r,
        )
        self.listen_sessions = Counter(
            "ctoengine_listen_sessions",
            "Live listening sessions a supervisor started, by the first mode",
            ["mode"],
            registry=r,
        )
