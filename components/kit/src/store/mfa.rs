//! The two-factor tables: `mfa_totp` (one factor per user, pending until
//! confirmed), `mfa_recovery_codes` (digests, single use) and
//! `mfa_challenges` (the second step of a sign-in, by digest).

use serde::Deserialize;
use spin_sdk::pg4::ParameterValue;
use user_domain::UserId;
use user_domain::amr::Method;

use super::Id;
use super::sessions::{Ended, end_sessions, ended_summary};
use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::event::Event;

/// A user's factor as stored.
#[derive(Debug, Deserialize)]
pub struct Factor {
    pub secret_sealed: String,
    pub confirmed: bool,
}

pub fn factor(db: &Db, user: UserId) -> Result<Option<Factor>, DbError> {
    db.first(
        Rows::select("SELECT secret_sealed, confirmed_at IS NOT NULL AS confirmed FROM mfa_totp WHERE user_id = $1"),
        &[param::uuid(user)],
    )
}

/// Puts `now` (the same secret sealed under the current key) in place of
/// `was`; a factor changed meanwhile (re-enrolled, turned off) is left alone.
pub fn reseal(db: &Db, user: UserId, was: &str, now: &str) -> Result<bool, DbError> {
    let changed: Vec<Id> = db.rows(
        Rows::select(
            "UPDATE mfa_totp SET secret_sealed = $3 WHERE user_id = $1 AND secret_sealed = $2 RETURNING user_id AS id",
        ),
        &[param::uuid(user), param::text(was), param::text(now)],
    )?;
    Ok(!changed.is_empty())
}

/// Whether the user signs in with a second factor.
pub fn is_confirmed(db: &Db, user: UserId) -> Result<bool, DbError> {
    Ok(factor(db, user)?.is_some_and(|f| f.confirmed))
}

/// Stores a new pending secret, replacing an earlier pending one. Returns
/// false if the user already has a confirmed factor (it stays as it is).
pub fn start_enrolment(db: &Db, user: UserId, secret_sealed: &str, audit: &AuditEvent) -> Result<bool, DbError> {
    let started: Vec<Id> = db.rows(
        Rows::select(
            "INSERT INTO mfa_totp (user_id, secret_sealed) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, created_at = now(), \
                    last_used_step = NULL \
             WHERE mfa_totp.confirmed_at IS NULL \
             RETURNING user_id AS id",
        )
        .audited(audit),
        &[param::uuid(user), param::text(secret_sealed)],
    )?;
    Ok(!started.is_empty())
}

fn digests(recovery_code_hashes: &[String]) -> ParameterValue {
    ParameterValue::ArrayStr(recovery_code_hashes.iter().cloned().map(Some).collect())
}

/// Confirms a pending factor with the step of its first code, stores the
/// recovery codes and ends every other session of the user (whoever holds
/// them signed in without this factor). `None` if there was no pending
/// factor; else what it ended.
pub fn confirm(
    db: &Db,
    user: UserId,
    step: u64,
    recovery_code_hashes: &[String],
    current_session: uuid::Uuid,
    audit: &AuditEvent,
) -> Result<Option<Ended>, DbError> {
    db.first(
        Rows::with(
            concat!(
                "confirmed AS ( \
                     UPDATE mfa_totp SET confirmed_at = now(), last_used_step = $2 \
                     WHERE user_id = $1 AND confirmed_at IS NULL RETURNING user_id \
                 ), cleared AS (DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT user_id FROM confirmed)), \
                 codes AS ( \
                     INSERT INTO mfa_recovery_codes (user_id, code_hash) \
                     SELECT confirmed.user_id, digest FROM confirmed, unnest($3::text[]) AS digest \
                 ), ",
                end_sessions!("s.user_id IN (SELECT user_id FROM confirmed) AND s.id <> $4", "'mfa_enabled'")
            ),
            concat!(
                "SELECT confirmed.user_id, summary.* FROM confirmed, (SELECT ",
                ended_summary!(),
                " FROM ended) summary"
            ),
        )
        .audited(audit),
        &[param::uuid(user), param::int(step as i64), digests(recovery_code_hashes), param::uuid(current_session)],
    )
}

/// Spends the time step of an accepted code. Returns false if a code of this
/// step or a later one was used already (a replay).
pub fn spend_step(db: &Db, user: UserId, step: u64) -> Result<bool, DbError> {
    let spent: Vec<Id> = db.rows(
        Rows::select(
            "UPDATE mfa_totp SET last_used_step = $2 \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_used_step IS NULL OR last_used_step < $2) \
             RETURNING user_id AS id",
        ),
        &[param::uuid(user), param::int(step as i64)],
    )?;
    Ok(!spent.is_empty())
}

/// Spends a recovery code (by digest) and queues the email that says so.
/// Returns false for a code that is unknown or used.
pub fn spend_recovery_code(
    db: &Db,
    user: UserId,
    code_hash: &str,
    notice: &Event,
    audit: &AuditEvent,
) -> Result<bool, DbError> {
    let [queue, payload, priority] = param::event(notice);
    let spent: Vec<Id> = db.rows(
        Rows::with(
            "spent AS ( \
                 UPDATE mfa_recovery_codes SET used_at = now() \
                 WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL RETURNING user_id \
             ), notice AS ( \
                 INSERT INTO outbox (routing_key, payload, priority) SELECT $3, $4, $5 FROM spent LIMIT 1 \
             )",
            "SELECT user_id AS id FROM spent",
        )
        .audited(audit),
        &[param::uuid(user), param::text(code_hash), queue, payload, priority],
    )?;
    Ok(!spent.is_empty())
}

/// Replaces every recovery code of a user with a confirmed factor.
pub fn replace_recovery_codes(
    db: &Db,
    user: UserId,
    recovery_code_hashes: &[String],
    audit: &AuditEvent,
) -> Result<(), DbError> {
    let _: Vec<Id> = db.rows(
        Rows::with(
            "factor AS (SELECT user_id FROM mfa_totp WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
             cleared AS (DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT user_id FROM factor)), \
             codes AS ( \
                 INSERT INTO mfa_recovery_codes (user_id, code_hash) \
                 SELECT factor.user_id, digest FROM factor, unnest($2::text[]) AS digest \
             )",
            "SELECT user_id AS id FROM factor",
        )
        .audited(audit),
        &[param::uuid(user), digests(recovery_code_hashes)],
    )?;
    Ok(())
}

/// Removes the factor and its codes and ends every session of the user.
pub fn disable(db: &Db, user: UserId, audit: &AuditEvent) -> Result<Ended, DbError> {
    let ended: Option<Ended> = db.first(
        Rows::with(
            concat!(
                "factor AS (DELETE FROM mfa_totp WHERE user_id = $1 RETURNING user_id), \
                 codes AS (DELETE FROM mfa_recovery_codes WHERE user_id = $1), \
                 challenges AS (DELETE FROM mfa_challenges WHERE user_id = $1), ",
                end_sessions!("s.user_id IN (SELECT user_id FROM factor)", "'mfa_disabled'")
            ),
            concat!("SELECT factor.user_id, summary.* FROM factor, (SELECT ", ended_summary!(), " FROM ended) summary"),
        )
        .audited(audit),
        &[param::uuid(user)],
    )?;
    Ok(ended.unwrap_or_default())
}

/// A staff reset of a lost factor, as done.
#[derive(Debug, Deserialize)]
pub struct Reset {
    /// Whether there was a factor (pending or confirmed) to remove.
    pub removed: bool,
    #[serde(flatten)]
    pub ended: Ended,
}

/// Removes the user's factor, codes and challenges and, if there was a
/// factor, ends every session of the user and queues `notice` (the email
/// that tells them), in one statement. `None` if there is no such user.
pub fn reset(db: &Db, user: UserId, notice: &Event, audit: &AuditEvent) -> Result<Option<Reset>, DbError> {
    let [queue, payload, priority] = param::event(notice);
    db.first(
        Rows::with(
            concat!(
                "target AS (SELECT id AS user_id FROM users WHERE id = $1), \
                 factor AS (DELETE FROM mfa_totp WHERE user_id IN (SELECT user_id FROM target) RETURNING user_id), \
                 codes AS (DELETE FROM mfa_recovery_codes WHERE user_id IN (SELECT user_id FROM target)), \
                 challenges AS (DELETE FROM mfa_challenges WHERE user_id IN (SELECT user_id FROM target)), \
                 notice AS (INSERT INTO outbox (routing_key, payload, priority) SELECT $2, $3, $4 FROM factor), ",
                end_sessions!("s.user_id IN (SELECT user_id FROM factor)", "'mfa_reset_by_staff'")
            ),
            concat!(
                "SELECT target.user_id, EXISTS (SELECT 1 FROM factor) AS removed, summary.* \
                 FROM target, (SELECT ",
                ended_summary!(),
                " FROM ended) summary"
            ),
        )
        .audited(audit),
        &[param::uuid(user), queue, payload, priority],
    )
}

/// Records a sign-in challenge (by digest) valid for `ttl_secs`, after a
/// first step made with `first_factor` (the password, or an emailed code).
pub fn create_challenge(
    db: &Db,
    user: UserId,
    token_hash: &str,
    ttl_secs: u64,
    first_factor: Method,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO mfa_challenges (token_hash, user_id, expires_at, first_factor) \
         VALUES ($1, $2, now() + $3::bigint * interval '1 second', $4)",
        &[param::text(token_hash), param::uuid(user), param::int(ttl_secs as i64), param::text(first_factor.as_str())],
    )?;
    Ok(())
}

#[derive(Deserialize)]
struct LiveChallenge {
    user_id: UserId,
    first_factor: Method,
}

/// Whose live (unspent, unexpired) challenge this is, and how its first
/// step was made.
pub fn challenge_owner(db: &Db, token_hash: &str) -> Result<Option<(UserId, Method)>, DbError> {
    let owner: Option<LiveChallenge> = db.first(
        Rows::select(
            "SELECT user_id, first_factor FROM mfa_challenges \
             WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > now()",
        ),
        &[param::text(token_hash)],
    )?;
    Ok(owner.map(|o| (o.user_id, o.first_factor)))
}

/// Spends a live challenge; false if it was spent (or expired) meanwhile.
pub fn spend_challenge(db: &Db, token_hash: &str) -> Result<bool, DbError> {
    let spent: Vec<Id> = db.rows(
        Rows::select(
            "UPDATE mfa_challenges SET spent_at = now() \
             WHERE token_hash = $1 AND spent_at IS NULL AND expires_at > now() RETURNING user_id AS id",
        ),
        &[param::text(token_hash)],
    )?;
    Ok(!spent.is_empty())
}
