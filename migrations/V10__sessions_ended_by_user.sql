-- The cached reads' entries carry the user's recently ended sessions
-- (issue 19): every fill asks for one user's sessions that ended within an
-- access token's lifetime. Without this index that is a scan of every
-- user's recently ended sessions (sessions_ended_at_idx).
CREATE INDEX sessions_user_ended_idx ON sessions (user_id, ended_at) WHERE ended_at IS NOT NULL;
