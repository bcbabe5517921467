//! The `sessions` table and its `refresh_tokens`. A session starts at a
//! sign-in (registration, login, a password change) and goes on through each
//! refresh: every refresh spends its token and issues a child in the same
//! session, so a spent token presented again reveals a copy. A session ends
//! once (`ended_at`), for every token of it at once: its refresh tokens stop
//! working, and so do its access tokens (see `crate::auth`).
//!
//! Every statement that ends sessions answers [`Ended`]: which sessions it
//! ended and whose, so the caller can announce them to the cached reads
//! (`crate::revocation::announce`).

use serde::Deserialize;
use user_domain::UserId;
use user_domain::amr::Methods;

use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::session::{ActiveSession, NewRefresh, Session};

/// The `ended` CTE of a statement that ends sessions: the sessions it
/// ended, each with how many of its refresh tokens could still be used.
/// `{where}` selects the sessions (of alias `s`), `{reason}` is the
/// parameter holding the reason.
macro_rules! end_sessions {
    ($where:literal, $reason:literal) => {
        concat!(
            "ended AS ( \
                 UPDATE sessions s SET ended_at = now(), ended_reason = ",
            $reason,
            " WHERE s.ended_at IS NULL AND (",
            $where,
            ") RETURNING s.id, s.user_id, \
                 (SELECT count(*) FROM refresh_tokens r \
                  WHERE r.session_id = s.id AND r.spent_at IS NULL AND r.expires_at > now()) AS live_tokens \
             )"
        )
    };
}
pub(crate) use end_sessions;

/// The one-row summary of [`end_sessions!`], for the statement's answer.
macro_rules! ended_summary {
    () => {
        "coalesce(array_agg(ended.id), '{}') AS sessions, \
         coalesce(array_agg(DISTINCT ended.user_id), '{}') AS users, \
         coalesce(sum(ended.live_tokens), 0)::bigint AS revoked_tokens"
    };
}
pub(crate) use ended_summary;

/// The ids (a `uuid[]`) of the sessions of user `$user` that ended within
/// the last `$secs` seconds (a `float8` parameter): what the cached reads'
/// entries carry (`crate::revocation`).
macro_rules! recently_ended {
    ($user:literal, $secs:literal) => {
        concat!(
            "(SELECT coalesce(array_agg(rs.id), '{}') FROM sessions rs WHERE rs.user_id = ",
            $user,
            " AND rs.ended_at > now() - make_interval(secs => ",
            $secs,
            "))"
        )
    };
}
pub(crate) use recently_ended;

#[derive(Deserialize)]
struct RecentlyEnded {
    ended: Vec<uuid::Uuid>,
}

/// The user's sessions that ended within the last `window_secs`
/// ([`recently_ended!`]).
pub fn ended_within(db: &Db, user: UserId, window_secs: u64) -> Result<Vec<uuid::Uuid>, DbError> {
    let found: Option<RecentlyEnded> = db.first(
        Rows::select(concat!("SELECT ", recently_ended!("$1", "$2"), " AS ended")),
        &[param::uuid(user), param::epoch_secs(window_secs)],
    )?;
    Ok(found.map(|f| f.ended).unwrap_or_default())
}

/// What a statement ended.
#[derive(Debug, Default, Deserialize)]
pub struct Ended {
    pub sessions: Vec<uuid::Uuid>,
    /// Whose sessions they were.
    pub users: Vec<UserId>,
    /// Refresh tokens of those sessions that could still have been used.
    pub revoked_tokens: i64,
}

impl Ended {
    pub fn count(&self) -> u64 {
        self.sessions.len() as u64
    }

    pub fn revoked_tokens(&self) -> u64 {
        self.revoked_tokens.max(0) as u64
    }
}

/// The `INSERT`s of a new session and its first refresh token, as CTEs
/// (`new_session`, `new_refresh`) for a statement that starts one. `from`
/// names a CTE of the statement with one row per user to start it for
/// (none: no session), `user` the SQL of the user's id in it; `params` are
/// the placeholders of [`new_session_params`], in its order. A NULL session
/// id starts none.
macro_rules! start_session {
    (from: $from:literal, user: $user:literal, params: $id:literal, $digest:literal, $expires:literal,
     $device:literal, $address:literal, $amr:literal) => {
        concat!(
            "new_session AS ( \
                 INSERT INTO sessions (id, user_id, amr) SELECT ",
            $id,
            "::uuid, ",
            $user,
            ", ",
            $amr,
            "::text[] \
                 FROM ",
            $from,
            " WHERE ",
            $id,
            "::uuid IS NOT NULL RETURNING id, user_id \
             ), new_refresh AS ( \
                 INSERT INTO refresh_tokens (user_id, session_id, token_hash, expires_at, device, client_address) \
                 SELECT user_id, id, ",
            $digest,
            ", to_timestamp(",
            $expires,
            "), ",
            $device,
            ", ",
            $address,
            " \
                 FROM new_session \
             )"
        )
    };
}
pub(crate) use start_session;

/// The parameters [`start_session!`] reads, in its order: the session's id,
/// its refresh token's digest and expiry, the client's device and address,
/// and how it was signed in. `None` starts no session.
pub fn new_session_params(session: Option<&Session>) -> [spin_sdk::pg4::ParameterValue; 6] {
    use spin_sdk::pg4::ParameterValue::DbNull;
    match session {
        Some(s) => [
            param::uuid(s.id),
            param::text(s.refresh.token.digest.clone()),
            param::epoch_secs(s.refresh.expires_at),
            param::opt_text(s.refresh.client.device.clone()),
            param::text(s.refresh.client.address.clone()),
            methods(&s.amr),
        ],
        None => [DbNull, DbNull, DbNull, DbNull, DbNull, DbNull],
    }
}

/// Methods as a `text[]` parameter.
pub fn methods(amr: &Methods) -> spin_sdk::pg4::ParameterValue {
    spin_sdk::pg4::ParameterValue::ArrayStr(amr.names().into_iter().map(|n| Some(n.to_owned())).collect())
}

/// Whose session a rotated token continued.
#[derive(Debug, Deserialize)]
pub struct Rotated {
    pub user_id: UserId,
    pub session_id: uuid::Uuid,
    pub is_staff: bool,
    pub amr: Vec<String>,
}

/// How a refresh went.
#[derive(Debug)]
pub enum Rotation {
    /// The token was spent and `child` recorded in its session.
    Rotated(Rotated),
    /// The session issued `limit` tokens in the last minute already.
    Throttled,
    /// The token is not live: unknown, spent (possibly by a concurrent
    /// request just now), expired, of an ended session or of a
    /// deactivated user.
    NotLive,
}

#[derive(Deserialize)]
struct RotationRow {
    #[serde(flatten)]
    rotated: Rotated,
    rotated_now: bool,
    throttled: bool,
}

/// Spends a live refresh token (by digest) and records `child` in its
/// session, keeping `child_sealed` (the child token, sealed for the holder
/// of the presented one) for a retry within the reuse interval. A session
/// that issued `per_minute` tokens in the last minute is throttled instead.
pub fn rotate(
    db: &Db,
    presented_digest: &str,
    child: &NewRefresh,
    child_sealed: &str,
    per_minute: u64,
) -> Result<Rotation, DbError> {
    let row: Option<RotationRow> = db.first(
        Rows::with(
            "target AS ( \
                 SELECT t.id, t.user_id, t.session_id, u.is_staff, s.amr FROM refresh_tokens t \
                 JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = t.user_id \
                 WHERE t.token_hash = $1 AND t.spent_at IS NULL AND t.expires_at > now() \
                   AND s.ended_at IS NULL AND u.is_active \
             ), recent AS ( \
                 SELECT count(*) AS issued FROM refresh_tokens r \
                 WHERE r.session_id IN (SELECT session_id FROM target) AND r.issued_at > now() - interval '1 minute' \
             ), spent AS ( \
                 UPDATE refresh_tokens t SET spent_at = now(), child_sealed = $6 FROM target \
                 WHERE t.id = target.id AND t.spent_at IS NULL AND (SELECT issued FROM recent) < $7 \
                 RETURNING t.id, t.user_id, t.session_id \
             ), child AS ( \
                 INSERT INTO refresh_tokens (user_id, session_id, parent_id, token_hash, expires_at, device, client_address) \
                 SELECT user_id, session_id, id, $2, to_timestamp($3), $4, $5 FROM spent \
             )",
            "SELECT user_id, session_id, is_staff, amr, EXISTS (SELECT 1 FROM spent) AS rotated_now, \
                    (SELECT issued FROM recent) >= $7 AS throttled \
             FROM target",
        ),
        &[
            param::text(presented_digest),
            param::text(child.token.digest.clone()),
            param::epoch_secs(child.expires_at),
            param::opt_text(child.client.device.clone()),
            param::text(child.client.address.clone()),
            param::text(child_sealed),
            param::int(per_minute.min(i64::MAX as u64) as i64),
        ],
    )?;
    Ok(match row {
        Some(row) if row.rotated_now => Rotation::Rotated(row.rotated),
        Some(row) if row.throttled => Rotation::Throttled,
        _ => Rotation::NotLive,
    })
}

/// A spent token presented again, as the reuse rule judges it.
#[derive(Debug, Deserialize)]
pub struct Reused {
    pub user_id: UserId,
    pub session_id: uuid::Uuid,
    /// Seconds since it was spent.
    pub spent_secs_ago: f64,
    /// The child it was rotated into, sealed for the holder of the
    /// presented token; `None` if it was not kept.
    pub child_sealed: Option<String>,
    /// Whether that child is still live: unspent, unexpired, its session
    /// not ended, its user active.
    pub child_live: bool,
    pub child_expires_at: Option<f64>,
    pub is_staff: bool,
    pub amr: Vec<String>,
}

/// The spent token with this digest, if it is one.
pub fn reused(db: &Db, presented_digest: &str) -> Result<Option<Reused>, DbError> {
    db.first(
        Rows::select(
            "SELECT t.user_id, t.session_id, extract(epoch FROM now() - t.spent_at)::float8 AS spent_secs_ago, \
                    t.child_sealed, u.is_staff, s.amr, \
                    (c.id IS NOT NULL AND c.spent_at IS NULL AND c.expires_at > now() AND s.ended_at IS NULL \
                     AND u.is_active) AS child_live, \
                    extract(epoch FROM c.expires_at)::float8 AS child_expires_at \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = t.user_id \
             LEFT JOIN refresh_tokens c ON c.parent_id = t.id \
             WHERE t.token_hash = $1 AND t.spent_at IS NOT NULL \
             ORDER BY c.issued_at DESC NULLS LAST LIMIT 1",
        ),
        &[param::text(presented_digest)],
    )
}

/// A spent token was presented again past the reuse interval: ends its
/// session, so neither the thief nor the victim can go on with it.
pub fn end_reused(db: &Db, session: uuid::Uuid, audit: &AuditEvent) -> Result<Ended, DbError> {
    let ended: Option<Ended> = db.first(
        Rows::with(end_sessions!("s.id = $1", "'reuse_detected'"), concat!("SELECT ", ended_summary!(), " FROM ended"))
            .audited(audit),
        &[param::uuid(session)],
    )?;
    Ok(ended.unwrap_or_default())
}

/// How a logout ended.
#[derive(Debug)]
pub enum LogOut {
    Ended(Ended),
    /// The token was never issued, or `all` was asked with a token that is
    /// spent, of an ended session, or expired.
    Refused,
}

#[derive(Deserialize)]
struct LoggedOut {
    #[serde(flatten)]
    ended: Ended,
}

/// Ends the session of a refresh token, or with `all` every session of its
/// user. Ending one session twice is harmless; ending every session needs a
/// live token, so an old stolen token cannot sign its victim out everywhere.
pub fn log_out(db: &Db, presented_digest: &str, all: bool, audit: &AuditEvent) -> Result<LogOut, DbError> {
    let outcome: Option<LoggedOut> = db.first(
        Rows::with(
            concat!(
                "target AS ( \
                     SELECT t.user_id, t.session_id, \
                            (t.spent_at IS NULL AND t.expires_at > now() AND s.ended_at IS NULL) AS live \
                     FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id WHERE t.token_hash = $1 \
                 ), allowed AS (SELECT * FROM target WHERE live OR NOT $2), ",
                end_sessions!(
                    "CASE WHEN $2 THEN s.user_id IN (SELECT user_id FROM allowed) \
                          ELSE s.id IN (SELECT session_id FROM allowed) END",
                    "CASE WHEN $2 THEN 'logout_all' ELSE 'logout' END"
                )
            ),
            concat!(
                "SELECT allowed.user_id, summary.* FROM allowed, (SELECT ",
                ended_summary!(),
                " FROM ended) summary"
            ),
        )
        .audited(audit),
        &[param::text(presented_digest), param::boolean(all)],
    )?;
    Ok(match outcome {
        Some(o) => LogOut::Ended(o.ended),
        None => LogOut::Refused,
    })
}

/// The user's sessions that can still be refreshed, most recently used first.
pub fn active(db: &Db, user: UserId) -> Result<Vec<ActiveSession>, DbError> {
    let mut sessions: Vec<ActiveSession> = db.rows(
        Rows::select(
            "SELECT s.id, s.created_at, s.amr, max(t.issued_at) AS last_used_at, \
                    (array_agg(t.device ORDER BY t.issued_at DESC))[1] AS device, \
                    (array_agg(t.client_address ORDER BY t.issued_at DESC))[1] AS client_address \
             FROM sessions s JOIN refresh_tokens t ON t.session_id = s.id \
             WHERE s.user_id = $1 AND s.ended_at IS NULL GROUP BY s.id \
             HAVING bool_or(t.spent_at IS NULL AND t.expires_at > now())",
        ),
        &[param::uuid(user)],
    )?;
    sessions.sort_by(|a, b| b.last_used_at.cmp(&a.last_used_at).then(a.id.cmp(&b.id)));
    Ok(sessions)
}

/// Ends one of the user's sessions that could still be refreshed. `None` if
/// the user has no such session (another user's session included).
pub fn end(
    db: &Db,
    user: UserId,
    session: uuid::Uuid,
    reason: &str,
    audit: &AuditEvent,
) -> Result<Option<Ended>, DbError> {
    db.first(
        Rows::with(
            end_sessions!(
                "s.user_id = $1 AND s.id = $2 AND EXISTS ( \
                     SELECT 1 FROM refresh_tokens r WHERE r.session_id = s.id \
                     AND r.spent_at IS NULL AND r.expires_at > now())",
                "$3"
            ),
            concat!("SELECT $1::uuid AS user_id, ", ended_summary!(), " FROM ended HAVING count(*) > 0"),
        )
        .audited(audit),
        &[param::uuid(user), param::uuid(session), param::text(reason)],
    )
}

/// Ends every session of the user but `except` (the caller's own, when it
/// goes on).
pub fn end_all(
    db: &Db,
    user: UserId,
    except: Option<uuid::Uuid>,
    reason: &str,
    audit: &AuditEvent,
) -> Result<Ended, DbError> {
    let ended: Option<Ended> = db.first(
        Rows::with(
            end_sessions!("s.user_id = $1 AND ($3::uuid IS NULL OR s.id <> $3)", "$2"),
            concat!("SELECT $1::uuid AS user_id, ", ended_summary!(), " FROM ended"),
        )
        .audited(audit),
        &[param::uuid(user), param::text(reason), except.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::uuid)],
    )?;
    Ok(ended.unwrap_or_default())
}

/// A session as an access token's check needs it.
#[derive(Debug, Deserialize)]
pub struct SessionState {
    pub live: bool,
    pub amr: Vec<String>,
}

/// Whether a session lives (for replays of answers that started it).
pub fn is_live(db: &Db, session: uuid::Uuid) -> Result<bool, DbError> {
    let state: Option<SessionState> = db.first(
        Rows::select(
            "SELECT (s.ended_at IS NULL AND u.is_active) AS live, s.amr FROM sessions s \
             JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        ),
        &[param::uuid(session)],
    )?;
    Ok(state.is_some_and(|s| s.live))
}

/// What introspection says of a refresh token (by digest).
#[derive(Debug, Deserialize)]
pub struct RefreshState {
    pub user_id: UserId,
    pub session_id: uuid::Uuid,
    pub is_staff: bool,
    pub amr: Vec<String>,
    pub issued_at: f64,
    pub expires_at: f64,
}

/// The live refresh token with this digest: unspent, unexpired, its session
/// not ended and its user active.
pub fn live_refresh(db: &Db, digest: &str) -> Result<Option<RefreshState>, DbError> {
    db.first(
        Rows::select(
            "SELECT t.user_id, t.session_id, u.is_staff, s.amr, \
                    extract(epoch FROM t.issued_at)::float8 AS issued_at, \
                    extract(epoch FROM t.expires_at)::float8 AS expires_at \
             FROM refresh_tokens t JOIN sessions s ON s.id = t.session_id JOIN users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND t.spent_at IS NULL AND t.expires_at > now() \
               AND s.ended_at IS NULL AND u.is_active",
        ),
        &[param::text(digest)],
    )
}
