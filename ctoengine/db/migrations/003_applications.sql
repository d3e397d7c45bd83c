-- Self-service: the default status provider reads this table.
CREATE TABLE applications (
    number      text PRIMARY KEY,
    status      text NOT NULL CHECK (status IN ('received', 'in_progress', 'ready', 'rejected')),
    ready_date  date,
    service     text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
