-- Call recordings (issue 18, docs/quality.md): one row per recorded connection to an
-- operator (a transferred call has one per operator). The file is Asterisk's, under its
-- recording folder; path is relative to it (CTO_RECORDING_DIR). The retention job deletes
-- the file and then the row once started_at is older than retention.recordings_days.
CREATE TABLE recordings (
    id               bigserial PRIMARY KEY,
    call_id          text NOT NULL,
    path             text NOT NULL UNIQUE,       -- e.g. 2026-11-26/<call id>-rec1.wav
    format           text NOT NULL DEFAULT 'wav',
    started_at       timestamptz NOT NULL,
    ended_at         timestamptz,
    duration_seconds numeric(10, 3),             -- read off the finished file
    size_bytes       bigint,
    centre           text NOT NULL,
    instance         text NOT NULL
);
CREATE INDEX recordings_call_id ON recordings (call_id);
CREATE INDEX recordings_started_at ON recordings (started_at);
