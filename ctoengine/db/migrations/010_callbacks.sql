-- Callbacks (issue 15, docs/callbacks.md): the promise "we will call you back within
-- 24 hours", kept. One row per request; de-duplicated per number and topic while open.
-- number and number_key are personal data: the retention job sets them to NULL
-- (records/retention.py) together with the callers' numbers in calls.
CREATE TABLE callbacks (
    id              text PRIMARY KEY,            -- cb-<call id of the request>
    centre          text NOT NULL,
    number          text,                        -- as received: what the trunk dials
    number_key      text,                        -- E.164, the de-duplication key
    topic           text NOT NULL,
    queue           text NOT NULL,
    requested_at    timestamptz NOT NULL,
    due_by          timestamptz NOT NULL,        -- requested_at + callback.due_within_h
    status          text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'dialing', 'done', 'failed', 'expired')),
    attempts        integer NOT NULL DEFAULT 0,  -- attempts on the citizen's phone
    next_attempt_at timestamptz NOT NULL,
    last_result     text,                        -- schedule.Result of the last attempt
    origin_call_id  text NOT NULL,               -- the inbound call that asked for it
    call_ids        text[] NOT NULL DEFAULT '{}',-- the attempts' call ids (rows of calls)
    instance        text,                        -- the engine dialling it (status dialing)
    done_at         timestamptz,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX callbacks_open_once ON callbacks (number_key, topic)
    WHERE status IN ('pending', 'dialing');
CREATE INDEX callbacks_due ON callbacks (next_attempt_at) WHERE status = 'pending';
CREATE INDEX callbacks_requested_at ON callbacks (requested_at);

-- A callback's call has its own row; the request's inbound row carries the same callback_id.
ALTER TABLE calls
    ADD COLUMN direction text NOT NULL DEFAULT 'inbound' CHECK (direction IN ('inbound', 'callback')),
    ADD COLUMN callback_id text;
CREATE INDEX calls_callback_id ON calls (callback_id) WHERE callback_id IS NOT NULL;

-- The contract's view, extended at its end (existing columns unchanged).
CREATE OR REPLACE VIEW cdr AS
SELECT call_id, caller_number, dialed_number, started_at, queued_at, agent_answered_at,
       ended_at, topic, array_to_string(ivr_path, ' ') AS ivr_path, disposition, agent_id,
       overflow_peer, wait_seconds, talk_seconds, wrap_up_seconds, ringing_at, ivr_ended_at,
       queue, hangup_cause, hangup_by, federation_id, survey_score, centre, instance,
       direction, callback_id
FROM calls;
