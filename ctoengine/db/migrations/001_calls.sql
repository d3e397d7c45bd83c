-- One row per call, written by the engine's record writer (idempotent on call_id).
CREATE TABLE calls (
    call_id           text PRIMARY KEY,
    federation_id     text,
    centre            text NOT NULL,
    instance          text NOT NULL,
    caller_number     text,
    dialed_number     text,
    started_at        timestamptz NOT NULL,
    ivr_ended_at      timestamptz,
    queued_at         timestamptz,
    ringing_at        timestamptz,
    agent_answered_at timestamptz,
    ended_at          timestamptz NOT NULL,
    topic             text,
    queue             text,
    ivr_path          text[] NOT NULL DEFAULT '{}',
    disposition       text NOT NULL CHECK (disposition IN
        ('self_served', 'answered', 'abandoned', 'overflowed', 'callback_requested', 'closed', 'failed')),
    agent_id          text,
    overflow_peer     text,
    wait_seconds      numeric(10, 3),
    talk_seconds      numeric(10, 3),
    wrap_up_seconds   numeric(10, 3),
    hangup_cause      text,
    hangup_by         text CHECK (hangup_by IN ('caller', 'agent', 'engine', 'peer')),
    survey_score      smallint,
    self_service      jsonb,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX calls_started_at ON calls (started_at);
CREATE INDEX calls_topic_started ON calls (topic, started_at);

-- The stable reporting view of the demo profile's contract: extend, don't rename.
CREATE VIEW cdr AS
SELECT call_id, caller_number, dialed_number, started_at, queued_at, agent_answered_at,
       ended_at, topic, array_to_string(ivr_path, ' ') AS ivr_path, disposition, agent_id,
       overflow_peer, wait_seconds, talk_seconds, wrap_up_seconds, ringing_at, ivr_ended_at,
       queue, hangup_cause, hangup_by, federation_id, survey_score, centre, instance
FROM calls;
