-- Auto-informer announcements with mode "once": who has heard which (per caller number).
CREATE TABLE announcement_plays (
    caller_number   text NOT NULL,
    announcement_id text NOT NULL,
    heard_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (caller_number, announcement_id)
);
