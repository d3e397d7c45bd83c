-- The operators' workplace (issue 17, docs/workplace.md): appeals registered on calls,
-- complaints' registry status, and the knowledge base's search index.

-- One row per appeal: a call may carry several (the citizen asked about two things).
-- The call's own row is written when the call ends, so no foreign key: an appeal is
-- registered while the call is still on (and in the wrap-up after it).
CREATE TABLE call_appeals (
    id                   bigserial PRIMARY KEY,
    call_id              text NOT NULL,
    centre               text NOT NULL,
    topic                text NOT NULL,           -- the routing file's topic code
    subtopic             text NOT NULL,           -- a code of workplace.subtopics[topic]
    outcome              text NOT NULL CHECK (outcome IN (
                             'consulted', 'redirected', 'complaint_registered', 'appointment',
                             'callback_needed')),
    note                 text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    agent_id             text,                    -- the operator of the call (null: by a supervisor)
    user_name            text NOT NULL,           -- who registered it
    created_at           timestamptz NOT NULL DEFAULT now(),
    -- The registry of complaints: only a complaint has a status; supervisors move it on.
    complaint_status     text CHECK (complaint_status IN ('new', 'forwarded', 'answered')),
    complaint_updated_at timestamptz,
    complaint_updated_by text,
    CHECK ((outcome = 'complaint_registered') = (complaint_status IS NOT NULL))
);
CREATE INDEX call_appeals_call ON call_appeals (call_id);
CREATE INDEX call_appeals_created_at ON call_appeals (created_at);
CREATE INDEX call_appeals_complaints ON call_appeals (complaint_status, created_at)
    WHERE complaint_status IS NOT NULL;

-- A caller's earlier calls (the card's history): by number, newest first.
CREATE INDEX calls_caller_started ON calls (caller_number, started_at);

-- For admins and BI tools, as cdr: each appeal with its call (a call still on has no cdr
-- row yet: its columns are null until it ends).
CREATE VIEW appeals AS
SELECT a.id, a.call_id, a.centre, a.topic, a.subtopic, a.outcome, a.note, a.agent_id,
       a.user_name, a.created_at, a.complaint_status, a.complaint_updated_at,
       a.complaint_updated_by,
       c.caller_number, c.started_at, c.disposition, c.wait_seconds, c.talk_seconds,
       c.ivr_path, c.queue, c.direction
FROM call_appeals a
LEFT JOIN cdr c ON c.call_id = a.call_id;

-- The knowledge base (kb/<topic>/*.md) as indexed at start and on every reload: the files
-- are the truth, this table only their search index (Russian word forms).
CREATE TABLE kb_articles (
    id         text PRIMARY KEY,                  -- '<topic>/<name>'
    topic      text NOT NULL,
    title      text NOT NULL,
    keywords   text NOT NULL DEFAULT '',          -- space-separated, as written
    body       text NOT NULL,                     -- Markdown
    indexed_at timestamptz NOT NULL DEFAULT now(),
    tsv        tsvector GENERATED ALWAYS AS (
                   setweight(to_tsvector('russian', title), 'A')
                   || setweight(to_tsvector('russian', keywords), 'B')
                   || setweight(to_tsvector('russian', body), 'C')) STORED
);
CREATE INDEX kb_articles_tsv ON kb_articles USING gin (tsv);
