-- Two-factor sign-in (TOTP, RFC 6238) with single-use recovery codes.

-- One TOTP factor per user: pending until a first code confirms it.
CREATE TABLE mfa_totp (
    user_id         UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    -- The shared secret, sealed (XChaCha20-Poly1305) under the mfa_key
    -- variable and bound to the user; never stored in clear.
    secret_sealed   TEXT NOT NULL,
    confirmed_at    TIMESTAMPTZ,
    -- The highest time step a code was accepted for: a code of this step or
    -- an earlier one is a replay and is refused.
    last_used_step  BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Ten per user, shown once; only their SHA-256 digests are kept.
CREATE TABLE mfa_recovery_codes (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX mfa_recovery_codes_user_idx ON mfa_recovery_codes (user_id);

-- The second step of a sign-in: a correct password for an account with a
-- confirmed factor yields one of these (by digest) instead of a session.
CREATE TABLE mfa_challenges (
    token_hash  TEXT PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at  TIMESTAMPTZ NOT NULL,
    spent_at    TIMESTAMPTZ
);
CREATE INDEX mfa_challenges_expires_idx ON mfa_challenges (expires_at);
