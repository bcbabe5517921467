-- The outbox relay's safety rules (issue 7, items 7 and 17).
--
-- Quarantine: a row the relay cannot read or publish as it stands (a payload
-- whose JSONB no JSON reader in the pipeline can carry back, an exchange name
-- AMQP cannot encode) is set aside with the reason in last_error, instead of
-- being claimed again and again. An operator who fixed it releases it with
-- `UPDATE outbox SET quarantined_at = NULL WHERE id = ...`.
ALTER TABLE outbox ADD COLUMN quarantined_at TIMESTAMPTZ;

-- What the relay claims: neither published nor quarantined, in id order.
CREATE INDEX outbox_claimable_idx ON outbox (id) WHERE published_at IS NULL AND quarantined_at IS NULL;
DROP INDEX outbox_pending_idx;

-- The retention purge deletes by age; these keep it from scanning the table.
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX outbox_quarantined_at_idx ON outbox (quarantined_at) WHERE quarantined_at IS NOT NULL;

-- The stored form of a published event: every top-level key of `variables`
-- named `token` or ending in `_token` (any case: `reset_token`,
-- `verification_token`) set to null. The event went out with its secrets; a
-- database reader or a backup must not find working tokens in it afterwards.
-- Everything else stays, for an operator tracing what was sent.
CREATE FUNCTION outbox_redacted(payload JSONB) RETURNS JSONB
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN jsonb_typeof(payload -> 'variables') = 'object' THEN jsonb_set(
            payload,
            '{variables}',
            COALESCE(
                (SELECT jsonb_object_agg(key, CASE WHEN key ~* '(^|_)token$' THEN 'null'::jsonb ELSE value END)
                 FROM jsonb_each(payload -> 'variables')),
                '{}'::jsonb
            )
        )
        ELSE payload
    END
$$;

-- Rows published before this migration lose their secrets now.
UPDATE outbox SET payload = outbox_redacted(payload) WHERE published_at IS NOT NULL;
