-- Sessions of the web pages (issue 16, docs/wallboard.md). The browser holds a
-- random id in an HttpOnly cookie; only its hex SHA-256 is stored, so a copy of
-- this table lets nobody in. Expiry (idle and absolute) is decided by the engine
-- from these two times; expired rows are swept at each login.
CREATE TABLE web_sessions (
    id_hash      text PRIMARY KEY,                -- hex SHA-256 of the session id
    user_name    text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL,            -- the login (absolute expiry)
    last_seen_at timestamptz NOT NULL,            -- the last request, to a minute (idle expiry)
    address      text                             -- the peer address of the login
);
CREATE INDEX web_sessions_last_seen_at ON web_sessions (last_seen_at);
CREATE INDEX web_sessions_user ON web_sessions (user_name);
