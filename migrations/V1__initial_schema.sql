-- The user service's schema. Applied by `native-worker migrate` (refinery),
-- which records each applied file in refinery_schema_history.

CREATE TABLE user_preferences (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    email       BOOLEAN NOT NULL DEFAULT TRUE,
    push        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id                              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Always stored lower-cased by the service; the unique index below makes
    -- the rule hold even for rows written by hand.
    email                           TEXT NOT NULL CHECK (email = lower(email)),
    name                            TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- Argon2id PHC string, never the password itself.
    password                        TEXT NOT NULL,
    push_token                      TEXT CHECK (char_length(push_token) <= 512),
    preferences_id                  UUID NOT NULL UNIQUE REFERENCES user_preferences (id),
    email_verified                  BOOLEAN NOT NULL DEFAULT FALSE,
    -- SHA-256 of the pending verification token; the token itself only
    -- travels in the verification email.
    email_verification_token        TEXT,
    email_verification_expires_at   TIMESTAMPTZ,
    is_active                       BOOLEAN NOT NULL DEFAULT TRUE,
    is_staff                        BOOLEAN NOT NULL DEFAULT FALSE,
    is_superuser                    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at                      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at                      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_login                      TIMESTAMPTZ
);
CREATE UNIQUE INDEX users_email_key ON users (email);
CREATE INDEX users_created_at_idx ON users (created_at);
CREATE UNIQUE INDEX users_email_verification_token_key ON users (email_verification_token)
    WHERE email_verification_token IS NOT NULL;

-- One row per issued refresh token. A login starts a family; each refresh
-- spends its token and issues a child in the same family, so presenting a
-- spent token reveals theft and revokes the whole family.
CREATE TABLE refresh_tokens (
    id           UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    UUID NOT NULL,
    parent_id    UUID REFERENCES refresh_tokens (id) ON DELETE SET NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    issued_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    spent_at     TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    revoked_reason TEXT
);
CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_expires_idx ON refresh_tokens (expires_at);

-- Idempotency for mutating requests carrying X-Request-ID. A row with a NULL
-- status_code is a request still running.
CREATE TABLE idempotency_keys (
    id            BIGSERIAL PRIMARY KEY,
    request_id    TEXT NOT NULL UNIQUE,
    endpoint      TEXT NOT NULL,
    -- SHA-256 of method, path and body, to tell a replay from a reuse.
    request_hash  TEXT NOT NULL,
    response_data JSONB,
    status_code   INTEGER,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX idempotency_keys_expires_at_idx ON idempotency_keys (expires_at);

-- Events the components cannot publish themselves (no AMQP in Wasm). They are
-- written in the same transaction as the change that causes them and relayed
-- to RabbitMQ by the native worker, in id order.
CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    event_id      UUID NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    -- Exchange ('' is the default exchange) and routing key to publish with.
    exchange      TEXT NOT NULL DEFAULT '',
    routing_key   TEXT NOT NULL,
    payload       JSONB NOT NULL,
    priority      SMALLINT NOT NULL DEFAULT 0 CHECK (priority BETWEEN 0 AND 10),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT,
    published_at  TIMESTAMPTZ
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE published_at IS NULL;
