-- Email one-time codes (issue 21): at most one live code per account, kept
-- as a keyed digest (HMAC under jwt_secret, so a stolen table cannot be
-- tried against the 10^8 possible codes offline). Erasing an account
-- removes its code with it.
CREATE TABLE email_codes (
    user_id          UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    code_hash        TEXT NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL,
    failed_attempts  INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX email_codes_expires_idx ON email_codes (expires_at);

-- A sign-in challenge remembers how its first step was made, so the second
-- step's session is signed in with both (`amr`): the password, or an
-- emailed code.
ALTER TABLE mfa_challenges ADD COLUMN first_factor TEXT NOT NULL DEFAULT 'pwd'
    CHECK (first_factor IN ('pwd', 'email'));

-- A published event keeps no secret: besides the `*_token` variables, the
-- emailed sign-in code (`code`) is cleared once the event went out.
CREATE OR REPLACE FUNCTION outbox_redacted(payload JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(payload -> 'variables') = 'object' THEN jsonb_set(
            payload,
            '{variables}',
            COALESCE(
                (SELECT jsonb_object_agg(key, CASE WHEN key ~* '(^|_)token$' OR key = 'code' THEN 'null'::jsonb
                                                   ELSE value END)
                 FROM jsonb_each(payload -> 'variables')),
                '{}'::jsonb
            )
        )
        ELSE payload
    END
$$;
