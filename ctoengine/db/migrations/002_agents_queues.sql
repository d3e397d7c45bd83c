-- Every agent state change, and every queue event: the raw material for SLA reports.
CREATE TABLE agent_events (
    id          bigserial PRIMARY KEY,
    agent_id    text NOT NULL,
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    reason      text,
    at          timestamptz NOT NULL,
    instance    text NOT NULL
);
CREATE INDEX agent_events_agent_at ON agent_events (agent_id, at);

CREATE TABLE queue_events (
    id          bigserial PRIMARY KEY,
    call_id     text NOT NULL,
    queue       text NOT NULL,
    kind        text NOT NULL CHECK (kind IN
        ('enter', 'ring', 'ring_no_answer', 'answer', 'abandon', 'transfer', 'exit', 'overflow', 'restore')),
    agent_id    text,
    wait_s      numeric(10, 3),
    at          timestamptz NOT NULL,
    instance    text NOT NULL
);
CREATE INDEX queue_events_queue_at ON queue_events (queue, at);
CREATE INDEX queue_events_call ON queue_events (call_id);

-- What must survive an engine restart: logged-in agents and waiting callers.
CREATE TABLE engine_state (
    instance    text NOT NULL,
    key         text NOT NULL,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance, key)
);
