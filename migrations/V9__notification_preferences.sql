-- Preferences per category and channel, quiet hours and locale (issue 18),
-- and the messages the worker holds for quiet hours.
--
-- `categories` keeps only what the user set ({name: {email, push}}); a
-- category configured later starts on for everyone, and the answers spell
-- out every configured one (domain::preferences). Existing users keep their
-- two master switches and get the default of everything else.
ALTER TABLE user_preferences
    ADD COLUMN categories  JSONB NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(categories) = 'object'),
    -- {start: "HH:MM", end: "HH:MM", timezone: IANA name}; null: none.
    ADD COLUMN quiet_hours JSONB CHECK (quiet_hours IS NULL OR jsonb_typeof(quiet_hours) = 'object'),
    -- A BCP 47 tag; null: the platform's default.
    ADD COLUMN locale      TEXT CHECK (char_length(locale) BETWEEN 1 AND 35);

-- A push held for the user's quiet hours: the original `push.queue`
-- delivery, kept here (not as a long TTL in RabbitMQ) so that a worker
-- restart loses none and a change of the quiet hours can release it early.
-- The worker publishes it back to `push.queue` at `release_at` (there the
-- preferences of that moment decide again) and deletes the row once the
-- broker confirmed; the forward's dedup by request_id makes it forwarded once.
CREATE TABLE held_messages (
    id          BIGSERIAL PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    request_id  TEXT NOT NULL UNIQUE,
    category    TEXT NOT NULL,
    -- The body as it came, and the AMQP properties worth keeping (priority,
    -- headers such as traceparent) as JSON.
    body        BYTEA NOT NULL,
    properties  JSONB NOT NULL DEFAULT '{}'::jsonb,
    held_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    release_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX held_messages_release_idx ON held_messages (release_at);
CREATE INDEX held_messages_user_idx ON held_messages (user_id);
