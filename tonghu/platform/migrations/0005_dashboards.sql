-- Dashboards: server-side sessions and login throttling.

-- The browser holds a random token in a signed cookie; only its SHA-256 is stored, so a copy of this table
-- cannot be replayed as live sessions. Deleting the row (logout, expiry) ends the session at once.
CREATE TABLE dashboard_sessions (
    token_sha256  bytea PRIMARY KEY,
    user_id       integer NOT NULL REFERENCES users ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    remote_addr   text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT ''
);
CREATE INDEX dashboard_sessions_user_idx ON dashboard_sessions (user_id);
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);

-- Failed logins within the throttling window, per user name and per client address. Rows older than the window
-- are deleted as new failures arrive, so the table stays small even under a brute-force attempt.
CREATE TABLE login_failures (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    username     text NOT NULL,
    remote_addr  text NOT NULL
);
CREATE INDEX login_failures_user_idx ON login_failures (username, at);
CREATE INDEX login_failures_addr_idx ON login_failures (remote_addr, at);

-- The audit pages and investigations filter by actor and action.
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at);
CREATE INDEX audit_log_action_idx ON audit_log (action, at);
