//! `email_codes`: the one live sign-in code an account may have, by keyed
//! digest (`user_domain::email_code`), with its expiry and wrong tries.
//! Both operations are single statements, so a code is spent once however
//! many requests present it at the same moment.

use serde::Deserialize;
use user_domain::email_code::MAX_FAILED_ATTEMPTS;
use user_domain::{Email, UserId};

use super::Id;
use super::users::notify_active_account;
use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::event::Event;

/// Stores a new code for the active account with this email, replacing its
/// older one, and queues `notice` (its `user_id` and `variables.name` are
/// filled from the account). For an email without an active account the
/// statement changes nothing and answers `None`: the caller does the same
/// work either way.
pub fn issue(
    db: &Db,
    email: &Email,
    code_hash: &str,
    ttl_secs: u64,
    notice: &Event,
    audit: &AuditEvent,
) -> Result<Option<UserId>, DbError> {
    let [queue, payload, priority] = param::event(notice);
    let found: Option<Id> = db.first(
        Rows::with(
            concat!(
                notify_active_account!(),
                ", code AS ( \
                     INSERT INTO email_codes (user_id, code_hash, expires_at) \
                     SELECT id, $5, now() + $6::bigint * interval '1 second' FROM u \
                     ON CONFLICT (user_id) DO UPDATE SET code_hash = EXCLUDED.code_hash, \
                            expires_at = EXCLUDED.expires_at, failed_attempts = 0, created_at = now() \
                 )"
            ),
            "SELECT id FROM u",
        )
        .audited(audit),
        &[param::text(email.as_ref()), queue, payload, priority, param::text(code_hash), param::int(ttl_secs as i64)],
    )?;
    Ok(found.map(|row| row.id))
}

/// What presenting a code for an email came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Spent {
    /// The code was the account's live one: it is gone, and the email is
    /// verified.
    SignedIn(UserId),
    /// The account has a code and this was not it (or it expired, or its
    /// wrong tries were used up): one more wrong try is counted.
    Wrong(UserId),
    /// No account with this email has a code.
    NoCode,
}

#[derive(Deserialize)]
struct Outcome {
    user_id: UserId,
    signed_in: bool,
}

/// Spends the code of the account with this email if `code_hash` is its
/// live code (unexpired, under [`MAX_FAILED_ATTEMPTS`] wrong tries), marking
/// the email verified in the same statement; otherwise counts a wrong try
/// against the account's code. Of concurrent requests with the right code,
/// one deletes the row and the others find none.
pub fn spend(db: &Db, email: &Email, code_hash: &str) -> Result<Spent, DbError> {
    let outcome: Option<Outcome> = db.first(
        Rows::with(
            "u AS (SELECT id FROM users WHERE email = $1), \
             hit AS ( \
                 DELETE FROM email_codes c USING u \
                 WHERE c.user_id = u.id AND c.code_hash = $2 AND c.expires_at > now() AND c.failed_attempts < $3::bigint \
                 RETURNING c.user_id \
             ), \
             verified AS ( \
                 UPDATE users SET email_verified = true, email_verification_token = NULL, \
                        email_verification_expires_at = NULL, updated_at = now() \
                 WHERE id IN (SELECT user_id FROM hit) AND NOT email_verified \
             ), \
             miss AS ( \
                 UPDATE email_codes c SET failed_attempts = c.failed_attempts + 1 FROM u \
                 WHERE c.user_id = u.id AND NOT EXISTS (SELECT 1 FROM hit) \
                 RETURNING c.user_id \
             )",
            "SELECT user_id, true AS signed_in FROM hit UNION ALL SELECT user_id, false FROM miss",
        ),
        &[param::text(email.as_ref()), param::text(code_hash), param::int(MAX_FAILED_ATTEMPTS.into())],
    )?;
    Ok(match outcome {
        Some(Outcome { user_id, signed_in: true }) => Spent::SignedIn(user_id),
        Some(Outcome { user_id, signed_in: false }) => Spent::Wrong(user_id),
        None => Spent::NoCode,
    })
}
