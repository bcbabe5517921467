-- Sessions as rows of their own (issue 16). Until now a session was only
-- implicit: a refresh-token family whose tokens were revoked one by one.
-- Access tokens name their session (`sid`), and a session that ends must
-- end for them too, so "ended" needs one place to be read from: here.
--
-- A refresh token is live while it is unspent, unexpired and its session has
-- not ended; an access token is accepted while its session has not ended
-- (and the account is active). `amr` records how the session was signed in
-- (RFC 8176 values: `pwd`, `otp`, ...), which staff powers may require.
CREATE TABLE sessions (
    id            UUID PRIMARY KEY,
    user_id       UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    amr           TEXT[] NOT NULL CHECK (cardinality(amr) BETWEEN 1 AND 8),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    ended_at      TIMESTAMPTZ,
    -- Why it ended: logout, session_ended, password_changed, mfa_disabled, ...
    ended_reason  TEXT CHECK (char_length(ended_reason) <= 64)
);
CREATE INDEX sessions_user_idx ON sessions (user_id) WHERE ended_at IS NULL;
-- The worker re-announces recently ended sessions to the cache and purges
-- old ones; both read by end time.
CREATE INDEX sessions_ended_at_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;

-- Every existing family becomes a session. Its methods are not known, so
-- it counts as a password sign-in (the weaker claim: staff who must have a
-- second factor sign in again). A family with any revoked token had ended.
INSERT INTO sessions (id, user_id, amr, created_at, ended_at, ended_reason)
SELECT family_id, user_id, ARRAY['pwd'], min(issued_at),
       max(revoked_at),
       (array_agg(revoked_reason ORDER BY revoked_at DESC) FILTER (WHERE revoked_reason IS NOT NULL))[1]
FROM refresh_tokens
GROUP BY family_id, user_id;

ALTER TABLE refresh_tokens RENAME COLUMN family_id TO session_id;
ALTER TABLE refresh_tokens ADD CONSTRAINT refresh_tokens_session_fk
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
ALTER INDEX refresh_tokens_family_idx RENAME TO refresh_tokens_session_idx;
-- Ending is recorded on the session now.
ALTER TABLE refresh_tokens DROP COLUMN revoked_at;
ALTER TABLE refresh_tokens DROP COLUMN revoked_reason;
-- The child this token was rotated into, sealed under a key only the holder
-- of this (parent) token can rebuild (with the server's secret): a client
-- that lost the answer to its refresh and presents the parent again within
-- refresh_reuse_interval_secs gets the same child back instead of having
-- its session revoked. Cleared by the worker once the interval is long past.
ALTER TABLE refresh_tokens ADD COLUMN child_sealed TEXT;
CREATE INDEX refresh_tokens_spent_idx ON refresh_tokens (spent_at) WHERE spent_at IS NOT NULL;

-- Idempotent answers that hand out a session replay only while it lives.
ALTER TABLE idempotency_keys ADD COLUMN session_id UUID;
-- request_hash was an unkeyed SHA-256 of the request, password included: a
-- dump allowed offline guessing. It is keyed now (HMAC-SHA-256 under a key
-- derived from jwt_secret, prefixed `k1:`); the old digests are wiped, and
-- a repeat of such a request (at most 24 hours old) gets 409 instead of a
-- replay, as after a rotation of jwt_secret.
UPDATE idempotency_keys SET request_hash = 'unkeyed:wiped' WHERE request_hash NOT LIKE 'k1:%';

-- The worker purges spent and expired sign-in challenges.
CREATE INDEX mfa_challenges_spent_idx ON mfa_challenges (spent_at) WHERE spent_at IS NOT NULL;
