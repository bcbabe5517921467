-- The audit trail: who did what to which account, when, from where, with
-- what outcome. Written in the same statement as the change it records, and
-- relayed through the outbox to the audit queue. Append-only: rows are never
-- updated; the worker deletes them after the retention period.
CREATE TABLE audit_events (
    id              BIGSERIAL PRIMARY KEY,
    occurred_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Who acted: a user (themselves or as staff), a service, or nobody known.
    actor_id        UUID,
    actor_kind      TEXT NOT NULL CHECK (actor_kind IN ('user', 'staff', 'service', 'anonymous')),
    -- The account concerned. No foreign key: events outlive erased accounts.
    subject_id      UUID,
    action          TEXT NOT NULL CHECK (char_length(action) BETWEEN 1 AND 64),
    outcome         TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    client_address  TEXT,
    correlation_id  TEXT,
    -- A small object of non-secret facts (changed field names, a reason).
    details         JSONB NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, id DESC);
CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at);

CREATE FUNCTION audit_events_refuse_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only';
END
$$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_update();
