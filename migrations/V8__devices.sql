-- Devices (issue 18): a user may have many, each with the push token its
-- platform (APNs, FCM, Web Push) gave it. The single `users.push_token` of
-- the seed moves here, as a device of platform `unknown`; from now on the
-- profile's `push_token` is the token of the user's most recently seen
-- active device, and the worker enriches pushes with every active device.
CREATE TABLE devices (
    id              UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- A token belongs to one user: registered by another, it moves to them.
    token           TEXT NOT NULL CHECK (char_length(token) BETWEEN 1 AND 4096),
    platform        TEXT NOT NULL CHECK (platform IN ('ios', 'android', 'web', 'unknown')),
    name            TEXT CHECK (char_length(name) BETWEEN 1 AND 100),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- False once the push service reported the token dead (`device.feedback`):
    -- it is left out of enrichments until the app registers it again.
    active          BOOLEAN NOT NULL DEFAULT true,
    retired_at      TIMESTAMPTZ,
    retired_reason  TEXT CHECK (char_length(retired_reason) <= 200)
);
CREATE UNIQUE INDEX devices_token_key ON devices (token);
CREATE INDEX devices_user_idx ON devices (user_id, last_seen_at DESC);

-- Every token the seed kept becomes a device. A token two users shared
-- (nothing prevented it) goes to the one who set it last.
INSERT INTO devices (user_id, token, platform, last_seen_at)
SELECT DISTINCT ON (push_token) id, push_token, 'unknown', updated_at
FROM users WHERE push_token IS NOT NULL AND push_token <> ''
ORDER BY push_token, updated_at DESC;

-- One truth: the devices.
ALTER TABLE users DROP COLUMN push_token;
