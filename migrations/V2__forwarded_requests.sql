-- request_ids the native worker forwarded to push.ready, so a redelivered or
-- re-sent message is not pushed twice. Written only after the broker confirmed
-- the forward; rows older than the worker's DEDUP_TTL_SECS (24 hours) are
-- ignored and purged.
CREATE TABLE forwarded_requests (
    request_id    TEXT PRIMARY KEY,
    forwarded_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX forwarded_requests_forwarded_at_idx ON forwarded_requests (forwarded_at);
