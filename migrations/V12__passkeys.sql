-- Passkeys (issue 21): WebAuthn credentials, and the challenges of their
-- ceremonies. Erasing an account removes both by cascade.

-- One row per registered credential. Binary values are base64url text: the
-- components read rows as JSON (component_kit::db), where bytea has no
-- faithful form.
CREATE TABLE passkeys (
    id               UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id          UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The credential ID the authenticator made (at most 1023 bytes).
    credential_id    TEXT NOT NULL UNIQUE,
    -- The COSE_Key exactly as registered (ES256 or EdDSA).
    public_key       TEXT NOT NULL,
    algorithm        INTEGER NOT NULL CHECK (algorithm IN (-7, -8)),
    -- The authenticator's signature counter; 0 for passkeys that keep none.
    sign_count       BIGINT NOT NULL DEFAULT 0 CHECK (sign_count >= 0),
    name             TEXT NOT NULL,
    transports       JSONB NOT NULL DEFAULT '[]',
    aaguid           TEXT NOT NULL,
    backup_eligible  BOOLEAN NOT NULL,
    backed_up        BOOLEAN NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at     TIMESTAMPTZ
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);

-- A ceremony's challenge: single use (taken by DELETE ... RETURNING before
-- the credential is judged), short-lived. A registration's belongs to the
-- signed-in account; a sign-in's names the account whose email the options
-- were asked for (`named`, with `user_id` NULL when no account has it, so
-- that no passkey can answer it), or nobody (usernameless).
CREATE TABLE passkey_challenges (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    purpose     TEXT NOT NULL CHECK (purpose IN ('register', 'login')),
    challenge   TEXT NOT NULL,
    user_id     UUID REFERENCES users (id) ON DELETE CASCADE,
    named       BOOLEAN NOT NULL DEFAULT false,
    expires_at  TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX passkey_challenges_expires_idx ON passkey_challenges (expires_at);

-- A passkey sign-in without user verification is one factor (`hwk`); for
-- an account with TOTP its challenge remembers it.
ALTER TABLE mfa_challenges DROP CONSTRAINT mfa_challenges_first_factor_check;
ALTER TABLE mfa_challenges ADD CONSTRAINT mfa_challenges_first_factor_check
    CHECK (first_factor IN ('pwd', 'email', 'hwk'));
