-- API users, roles, tokens and the audit log (issue 14, docs in README "Users and roles").
-- Passwords are argon2 hashes (argon2-cffi); a token is stored only as the hex
-- SHA-256 of a 256-bit random value, so a copy of this table lets nobody in.
CREATE TABLE users (
    name          text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9_.@-]{1,64}$'),
    role          text NOT NULL CHECK (role IN ('operator', 'supervisor', 'admin')),
    agent_id      text,                        -- the operator this user acts as (role operator)
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    disabled      boolean NOT NULL DEFAULT false,
    CHECK (role <> 'operator' OR agent_id IS NOT NULL)
);

CREATE TABLE api_tokens (
    token_hash text PRIMARY KEY,               -- hex SHA-256 of the token
    user_name  text NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX api_tokens_expires_at ON api_tokens (expires_at);

-- One row per state-changing API call and per login attempt; never a password.
CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    user_name text NOT NULL,                   -- a user's name, 'bootstrap' (CTO_API_TOKEN)
    role      text,
    action    text NOT NULL,                   -- 'agent.pause', 'config.reload', 'login', ...
    target    text,                            -- 'op3', a call id, a user name
    address   text,                            -- the peer address of the connection
    status    integer NOT NULL,                -- the HTTP status answered
    result    text NOT NULL,                   -- 'ok', 'denied' or 'failed'
    details   jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_user ON audit_log (user_name, at);
