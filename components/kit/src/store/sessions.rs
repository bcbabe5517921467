//! The `refresh_tokens` table: sessions after they start. A login starts a
//! family; each refresh spends its token and issues a child in the same
//! family, so a spent token presented again reveals a copy.

use serde::Deserialize;
use user_domain::UserId;

use crate::audit::AuditEvent;
use crate::db::{Db, DbError, Rows, param};
use crate::sessions::NewRefresh;

/// Whose session a rotated token continued.
#[derive(Debug, Deserialize)]
pub struct Rotated {
    pub user_id: UserId,
    /// The session (family) that goes on.
    pub family_id: uuid::Uuid,
    pub is_staff: bool,
    /// Whether the user has a confirmed second factor.
    pub has_mfa: bool,
}

/// Spends a live refresh token (by digest) of an active user and records
/// `child` in its family. `None`: the token is unknown, spent, revoked or
/// expired, or its user is deactivated.
pub fn rotate(db: &Db, presented_digest: &str, child: &NewRefresh) -> Result<Option<Rotated>, DbError> {
    db.first(
        Rows::with(
            "spent AS ( \
                 UPDATE refresh_tokens t SET spent_at = now() FROM users u \
                 WHERE t.token_hash = $1 AND t.spent_at IS NULL AND t.revoked_at IS NULL \
                   AND t.expires_at > now() AND u.id = t.user_id AND u.is_active \
                 RETURNING t.id, t.user_id, t.family_id, u.is_staff \
             ), child AS ( \
                 INSERT INTO refresh_tokens (user_id, family_id, parent_id, token_hash, expires_at, device, client_address) \
                 SELECT user_id, family_id, id, $2, to_timestamp($3), $4, $5 FROM spent \
             )",
            "SELECT user_id, family_id, is_staff, EXISTS ( \
                 SELECT 1 FROM mfa_totp m WHERE m.user_id = spent.user_id AND m.confirmed_at IS NOT NULL \
             ) AS has_mfa FROM spent",
        ),
        &[
            param::text(presented_digest),
            param::text(child.token.digest.clone()),
            param::epoch_secs(child.expires_at),
            param::opt_text(child.client.device.clone()),
            param::text(child.client.address.clone()),
        ],
    )
}

/// A spent token was presented again: revokes everything descended from
/// that login. Returns whether the token was a spent one (a replay).
pub fn revoke_family_of_spent(db: &Db, presented_digest: &str, audit: &AuditEvent) -> Result<bool, DbError> {
    let families: Vec<serde_json::Value> = db.rows(
        Rows::with(
            "replayed AS (SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1 AND spent_at IS NOT NULL), \
             revoked AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'reuse_detected' \
                 WHERE revoked_at IS NULL AND family_id IN (SELECT family_id FROM replayed) \
             )",
            "SELECT user_id FROM replayed",
        )
        .audited(audit),
        &[param::text(presented_digest)],
    )?;
    Ok(!families.is_empty())
}

#[derive(Deserialize)]
struct LoggedOut {
    revoked: i64,
}

/// How a logout ended.
#[derive(Debug, PartialEq, Eq)]
pub enum LogOut {
    /// This many live tokens were revoked.
    Revoked(u64),
    /// The token was never issued, or `all` was asked with a token that is
    /// spent, revoked or expired.
    Refused,
}

/// Ends the session of a refresh token, or with `all` every session of its
/// user. Ending one session twice is harmless; ending every session needs a
/// live token, so an old stolen token cannot sign its victim out everywhere.
pub fn log_out(db: &Db, presented_digest: &str, all: bool, audit: &AuditEvent) -> Result<LogOut, DbError> {
    let outcome: Option<LoggedOut> = db.first(
        Rows::with(
            "target AS ( \
                 SELECT user_id, family_id, \
                        (spent_at IS NULL AND revoked_at IS NULL AND expires_at > now()) AS live \
                 FROM refresh_tokens WHERE token_hash = $1 \
             ), allowed AS (SELECT * FROM target WHERE live OR NOT $2), \
             revoked AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), \
                        revoked_reason = CASE WHEN $2 THEN 'logout_all' ELSE 'logout' END \
                 WHERE revoked_at IS NULL AND CASE WHEN $2 THEN user_id IN (SELECT user_id FROM allowed) \
                                                   ELSE family_id IN (SELECT family_id FROM allowed) END \
                 RETURNING id \
             )",
            "SELECT user_id, (SELECT count(*) FROM revoked) AS revoked FROM allowed",
        )
        .audited(audit),
        &[param::text(presented_digest), param::boolean(all)],
    )?;
    Ok(match outcome {
        Some(o) => LogOut::Revoked(o.revoked.max(0) as u64),
        None => LogOut::Refused,
    })
}

/// A session as its owner (or staff) sees it: a refresh-token family with a
/// live token, described by its newest token.
#[derive(Debug, Deserialize, serde::Serialize)]
pub struct ActiveSession {
    pub id: uuid::Uuid,
    pub device: Option<String>,
    pub client_address: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: chrono::DateTime<chrono::Utc>,
}

/// The user's sessions that can still be refreshed, most recently used first.
pub fn active(db: &Db, user: UserId) -> Result<Vec<ActiveSession>, DbError> {
    let mut sessions: Vec<ActiveSession> = db.rows(
        Rows::select(
            "SELECT family_id AS id, min(issued_at) AS created_at, max(issued_at) AS last_used_at, \
                    (array_agg(device ORDER BY issued_at DESC))[1] AS device, \
                    (array_agg(client_address ORDER BY issued_at DESC))[1] AS client_address \
             FROM refresh_tokens WHERE user_id = $1 GROUP BY family_id \
             HAVING bool_or(revoked_at IS NULL AND spent_at IS NULL AND expires_at > now())",
        ),
        &[param::uuid(user)],
    )?;
    sessions.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then(a.id.cmp(&b.id)));
    Ok(sessions)
}

#[derive(Deserialize)]
struct Ended {
    ended: i64,
}

/// Ends one of the user's active sessions: its refresh tokens stop working
/// at once. Returns false if the user has no such active session (another
/// user's session included).
pub fn end(db: &Db, user: UserId, session: uuid::Uuid, reason: &str, audit: &AuditEvent) -> Result<bool, DbError> {
    let ended: Option<Ended> = db.first(
        Rows::with(
            "ended AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $3 \
                 WHERE user_id = $1 AND family_id = $2 AND revoked_at IS NULL \
                   AND family_id IN (SELECT family_id FROM refresh_tokens WHERE user_id = $1 AND family_id = $2 \
                                     AND revoked_at IS NULL AND spent_at IS NULL AND expires_at > now()) \
                 RETURNING id \
             )",
            "SELECT $1::uuid AS user_id, count(*) AS ended FROM ended HAVING count(*) > 0",
        )
        .audited(audit),
        &[param::uuid(user), param::uuid(session), param::text(reason)],
    )?;
    Ok(ended.is_some_and(|e| e.ended > 0))
}

/// Ends every session of the user; returns how many tokens were revoked.
pub fn end_all(db: &Db, user: UserId, reason: &str, audit: &AuditEvent) -> Result<u64, DbError> {
    let ended: Option<Ended> = db.first(
        Rows::with(
            "ended AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2 \
                 WHERE user_id = $1 AND revoked_at IS NULL RETURNING id \
             )",
            "SELECT $1::uuid AS user_id, count(*) AS ended FROM ended",
        )
        .audited(audit),
        &[param::uuid(user), param::text(reason)],
    )?;
    Ok(ended.map_or(0, |e| e.ended.max(0) as u64))
}
