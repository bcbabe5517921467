//! The `users` table with each user's `user_preferences` row: every
//! statement that reads or changes an account. [`UserRecord`]'s columns are
//! written once ([`user_columns!`]), and the password hash is never among them.

use serde::Deserialize;
use user_domain::{Email, PushToken, UserId, UserName};

use super::Id;
use super::sessions::{Ended, end_sessions, ended_summary, new_session_params, start_session};
use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::event::Event;
use crate::model::session::Session;
use crate::model::user::UserRecord;
use user_domain::preferences::NotificationPreferences;

/// The columns of a [`UserRecord`], from `u` (users) and `p`
/// (user_preferences). The `push_token` is the token of the user's most
/// recently seen active device (`devices`); a statement that changes the
/// devices gives its own expression, since its subqueries see the rows as
/// they were before it.
macro_rules! user_columns {
    () => {
        user_columns!(push_token: super::devices::current_token!("u.id"))
    };
    (push_token: $push_token:expr) => {
        concat!(
            "u.id, u.name, u.email, ",
            $push_token,
            " AS push_token, u.email_verified, u.is_active, u.is_staff, u.created_at, \
             u.updated_at, u.last_login, ",
            super::preferences::stored_preferences!("p"),
            " AS preferences"
        )
    };
}

pub(super) use user_columns;

/// `SELECT` of [`UserRecord`]s, to be followed by a `WHERE`.
macro_rules! select_users {
    () => {
        concat!("SELECT ", user_columns!(), " FROM users u JOIN user_preferences p ON p.id = u.preferences_id")
    };
}
pub(super) use select_users;

/// The user with this id, if there is one.
pub fn by_id(db: &Db, id: UserId) -> Result<Option<UserRecord>, DbError> {
    db.first(Rows::select(concat!(select_users!(), " WHERE u.id = $1")), &[param::uuid(id)])
}

/// A user found by the fan-out lookup, with its active devices.
#[derive(Debug, Deserialize)]
pub struct WithDevices {
    #[serde(flatten)]
    pub user: UserRecord,
    pub devices: Vec<user_domain::api::responses::DeviceAddress>,
}

/// The users with these ids, each with its active devices (most recently
/// seen first), in one query: the fan-out lookup of a broadcast.
pub fn with_devices(db: &Db, ids: &[UserId]) -> Result<Vec<WithDevices>, DbError> {
    db.rows(
        Rows::select(concat!(
            "SELECT ",
            user_columns!(),
            ", coalesce((SELECT jsonb_agg(jsonb_build_object('id', d.id, 'platform', d.platform, 'token', d.token) \
                                   ORDER BY d.last_seen_at DESC) \
                         FROM devices d WHERE d.user_id = u.id AND d.active), '[]'::jsonb) AS devices \
             FROM users u JOIN user_preferences p ON p.id = u.preferences_id \
             WHERE u.id = ANY($1::text[]::uuid[])"
        )),
        &[spin_sdk::pg4::ParameterValue::ArrayStr(ids.iter().map(|id| Some(id.to_string())).collect())],
    )
}

/// The account behind an access token, with the state of the token's session.
#[derive(Debug, Deserialize)]
pub struct SignedIn {
    #[serde(flatten)]
    pub user: UserRecord,
    /// The session exists, belongs to this user and has not ended.
    pub session_live: bool,
    /// How the session was signed in (empty if it is not the user's).
    pub amr: Vec<String>,
}

/// The user with this id and whether `session` is one of theirs that has
/// not ended, in one round trip: every authenticated request asks this.
pub fn signed_in(db: &Db, id: UserId, session: uuid::Uuid) -> Result<Option<SignedIn>, DbError> {
    db.first(
        Rows::select(concat!(
            "SELECT ",
            user_columns!(),
            ", s.id IS NOT NULL AS session_live, coalesce(s.amr, '{}') AS amr \
             FROM users u JOIN user_preferences p ON p.id = u.preferences_id \
             LEFT JOIN sessions s ON s.id = $2 AND s.user_id = u.id AND s.ended_at IS NULL \
             WHERE u.id = $1"
        )),
        &[param::uuid(id), param::uuid(session)],
    )
}

/// What a login needs: the account and its password hash.
#[derive(Deserialize)]
pub struct Credentials {
    pub password_hash: String,
    #[serde(flatten)]
    pub user: UserRecord,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").field("user", &self.user.id).finish_non_exhaustive()
    }
}

pub fn credentials(db: &Db, email: &Email) -> Result<Option<Credentials>, DbError> {
    db.first(
        Rows::select(concat!(
            "SELECT u.password AS password_hash, ",
            user_columns!(),
            " FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE u.email = $1"
        )),
        &[param::text(email.as_ref())],
    )
}

/// Records a successful login: the new session and `last_login`.
/// Returns the account as it is now, or `None` if the user is gone.
pub fn record_login(db: &Db, id: UserId, session: &Session, audit: &AuditEvent) -> Result<Option<UserRecord>, DbError> {
    let mut params = vec![param::uuid(id)];
    params.extend(new_session_params(Some(session)));
    db.first(
        Rows::with(
            concat!(
                "u AS (UPDATE users SET last_login = now() WHERE id = $1 RETURNING *), ",
                start_session!(from: "u", user: "u.id", params: "$2", "$3", "$4", "$5", "$6", "$7")
            ),
            concat!("SELECT ", user_columns!(), " FROM u JOIN user_preferences p ON p.id = u.preferences_id"),
        )
        .audited(audit),
        &params,
    )
}

/// A new account, already validated, with what is created beside it.
pub struct NewAccount<'a> {
    pub id: UserId,
    pub name: &'a UserName,
    pub email: &'a Email,
    pub password_hash: &'a str,
    pub push_token: Option<&'a PushToken>,
    pub preferences: NotificationPreferences,
    /// Digest of the emailed verification token.
    pub verification_digest: &'a str,
    /// The verification email.
    pub welcome: &'a Event,
    /// The first session.
    pub session: &'a Session,
}

pub enum Registered {
    /// The account, and the user its `push_token` moved from, if it did.
    Created(Box<ProfileChanged>),
    EmailTaken,
}

/// Creates the user, its preferences, its first session and its
/// verification email in one statement: all of them or none.
pub fn register(db: &Db, account: &NewAccount<'_>, audit: &AuditEvent) -> Result<Registered, DbError> {
    let [session_id, digest, expires, device, address, amr] = new_session_params(Some(account.session));
    let [queue, payload, priority] = param::event(account.welcome);
    let created = db.first(
        Rows::with(
            concat!(
                "p AS (INSERT INTO user_preferences (email, push) VALUES ($1, $2) RETURNING *), \
             u AS ( \
                 INSERT INTO users (id, email, name, password, preferences_id, \
                                    email_verification_token, email_verification_expires_at) \
                 SELECT $3, $4, $5, $6, p.id, $8, now() + interval '24 hours' FROM p \
                 RETURNING * \
             ), \
             previous AS (SELECT user_id FROM devices WHERE token = $7), \
             device AS ( \
                 INSERT INTO devices (user_id, token, platform) SELECT u.id, $7, 'unknown' FROM u \
                 WHERE $7::text IS NOT NULL \
                 ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, platform = 'unknown', name = NULL, \
                        created_at = now(), last_seen_at = now(), active = true, retired_at = NULL, \
                        retired_reason = NULL \
                 RETURNING id \
             ), moved_from AS ( \
                 UPDATE users SET updated_at = now() WHERE id IN (SELECT user_id FROM previous) \
                 AND EXISTS (SELECT 1 FROM device) RETURNING id \
             ), \
             event AS (INSERT INTO outbox (routing_key, payload, priority) SELECT $9, $10, $11 FROM u), ",
                start_session!(from: "u", user: "u.id", params: "$12", "$13", "$14", "$15", "$16", "$17")
            ),
            concat!(
                "SELECT ",
                user_columns!(push_token: "$7::text"),
                ", (SELECT id FROM moved_from LIMIT 1) AS moved_from FROM u, p"
            ),
        )
        .audited(audit),
        &[
            param::boolean(account.preferences.email),
            param::boolean(account.preferences.push),
            param::uuid(account.id),
            param::text(account.email.as_ref()),
            param::text(account.name.as_ref()),
            param::text(account.password_hash),
            param::opt_text(account.push_token.map(|t| t.as_ref().to_owned())),
            param::text(account.verification_digest),
            queue,
            payload,
            priority,
            session_id,
            digest,
            expires,
            device,
            address,
            amr,
        ],
    );
    match created {
        Ok(Some(user)) => Ok(Registered::Created(Box::new(user))),
        Ok(None) => Err(DbError::Decode("registration returned no user".into())),
        // Emails are stored lower-cased, so the unique index is case-insensitive.
        Err(DbError::UniqueViolation) => Ok(Registered::EmailTaken),
        Err(other) => Err(other),
    }
}

/// A change to a field that may be cleared.
pub enum Change<T> {
    Keep,
    Clear,
    Set(T),
}

/// Changes the caller's own profile. A `push_token` registers (or touches)
/// a device of platform `unknown` (one of another user moves to the
/// caller); clearing it removes the caller's most recently seen active
/// device. Returns the changed account and the previous owner of a token
/// that moved, or `None` if the account is gone or deactivated.
pub fn update_profile(
    db: &Db,
    id: UserId,
    name: Option<&UserName>,
    push_token: Change<&PushToken>,
    audit: &AuditEvent,
) -> Result<Option<ProfileChanged>, DbError> {
    let (set_token, token) = match push_token {
        Change::Keep => (false, None),
        Change::Clear => (true, None),
        Change::Set(token) => (true, Some(token.as_ref().to_owned())),
    };
    db.first(
        Rows::with(
            "u AS ( \
                 UPDATE users SET name = COALESCE($2, name), updated_at = now() \
                 WHERE id = $1 AND is_active RETURNING * \
             ), current AS ( \
                 SELECT d.id FROM devices d, u WHERE d.user_id = u.id AND d.active \
                 ORDER BY d.last_seen_at DESC LIMIT 1 \
             ), removed AS ( \
                 DELETE FROM devices WHERE $3 AND $4::text IS NULL AND id IN (SELECT id FROM current) RETURNING id \
             ), previous AS (SELECT user_id FROM devices WHERE token = $4 AND user_id <> $1), \
             device AS ( \
                 INSERT INTO devices (user_id, token, platform) SELECT u.id, $4, 'unknown' FROM u \
                 WHERE $3 AND $4::text IS NOT NULL \
                 ON CONFLICT (token) DO UPDATE SET user_id = EXCLUDED.user_id, last_seen_at = now(), active = true, \
                        retired_at = NULL, retired_reason = NULL, \
                        platform = CASE WHEN devices.user_id = EXCLUDED.user_id THEN devices.platform ELSE 'unknown' END, \
                        name = CASE WHEN devices.user_id = EXCLUDED.user_id THEN devices.name END, \
                        created_at = CASE WHEN devices.user_id = EXCLUDED.user_id THEN devices.created_at ELSE now() END \
                 RETURNING id \
             ), moved_from AS ( \
                 UPDATE users SET updated_at = now() WHERE id IN (SELECT user_id FROM previous) AND EXISTS (SELECT 1 FROM device) \
                 RETURNING id \
             )",
            concat!(
                "SELECT ",
                user_columns!(push_token: "CASE WHEN $3 AND $4::text IS NOT NULL THEN $4::text ELSE (SELECT d.token \
                     FROM devices d WHERE d.user_id = u.id AND d.active AND d.id NOT IN (SELECT id FROM removed) \
                     ORDER BY d.last_seen_at DESC LIMIT 1) END"),
                ", (SELECT id FROM moved_from LIMIT 1) AS moved_from \
                 FROM u JOIN user_preferences p ON p.id = u.preferences_id"
            ),
        )
        .audited(audit),
        &[
            param::uuid(id),
            param::opt_text(name.map(|n| n.as_ref().to_owned())),
            param::boolean(set_token),
            param::opt_text(token),
        ],
    )
}

/// A profile change as done: the account, and the user a token moved from.
#[derive(Debug, Deserialize)]
pub struct ProfileChanged {
    #[serde(flatten)]
    pub user: UserRecord,
    pub moved_from: Option<UserId>,
}

/// Deactivates an account and ends its sessions.
pub fn deactivate(db: &Db, id: UserId, audit: &AuditEvent) -> Result<Ended, DbError> {
    let ended: Option<Ended> = db.first(
        Rows::with(
            concat!(
                "u AS (UPDATE users SET is_active = false, updated_at = now() WHERE id = $1 RETURNING id), ",
                end_sessions!("s.user_id IN (SELECT id FROM u)", "'account_deactivated'")
            ),
            concat!("SELECT u.id, summary.* FROM u, (SELECT ", ended_summary!(), " FROM ended) summary"),
        )
        .audited(audit),
        &[param::uuid(id)],
    )?;
    Ok(ended.unwrap_or_default())
}

/// Spends an email verification token (by its digest). Returns whose it was,
/// or `None` for a token that is unknown, expired or already used.
pub fn verify_email(db: &Db, token_digest: &str, audit: &AuditEvent) -> Result<Option<UserId>, DbError> {
    let verified: Option<Id> = db.first(
        Rows::select(
            "UPDATE users SET email_verified = true, email_verification_token = NULL, \
                    email_verification_expires_at = NULL, updated_at = now() \
             WHERE email_verification_token = $1 AND email_verification_expires_at > now() RETURNING id",
        )
        .audited(audit),
        &[param::text(token_digest)],
    )?;
    Ok(verified.map(|row| row.id))
}

/// Replaces the pending verification token and queues its email.
pub fn renew_verification(db: &Db, id: UserId, token_digest: &str, email: &Event) -> Result<(), DbError> {
    let [queue, payload, priority] = param::event(email);
    db.execute(
        "WITH updated AS ( \
             UPDATE users SET email_verification_token = $2, \
                    email_verification_expires_at = now() + interval '24 hours' \
             WHERE id = $1 RETURNING id \
         ) INSERT INTO outbox (routing_key, payload, priority) SELECT $3, $4, $5 FROM updated",
        &[param::uuid(id), param::text(token_digest), queue, payload, priority],
    )?;
    Ok(())
}

/// The id of the account with this email, active or not.
pub fn id_by_email(db: &Db, email: &Email) -> Result<Option<UserId>, DbError> {
    let found: Option<Id> =
        db.first(Rows::select("SELECT id FROM users WHERE email = $1"), &[param::text(email.as_ref())])?;
    Ok(found.map(|row| row.id))
}

/// Who an active account is, for emails about it.
#[derive(Debug, Deserialize)]
pub struct Contact {
    pub id: UserId,
    pub name: String,
    pub email: String,
}

/// The active account with this email, if any.
pub fn active_by_email(db: &Db, email: &Email) -> Result<Option<Contact>, DbError> {
    db.first(
        Rows::select("SELECT id, name, email FROM users WHERE email = $1 AND is_active"),
        &[param::text(email.as_ref())],
    )
}

/// Common table expressions `u` (the active account with the email `$1`:
/// `id`, `name`) and `notice` (the email event `$3` queued on `$2` with
/// priority `$4`, its `user_id` and `variables.name` filled from `u`). For
/// an email without an active account both are empty: the statement does
/// the same work and queues nothing.
macro_rules! notify_active_account {
    () => {
        "u AS (SELECT id, name FROM users WHERE email = $1 AND is_active), \
         notice AS ( \
             INSERT INTO outbox (routing_key, payload, priority) \
             SELECT $2, jsonb_set(jsonb_set($3::jsonb, '{user_id}', to_jsonb(u.id)), \
                                  '{variables,name}', to_jsonb(u.name)), $4 \
             FROM u \
         )"
    };
}

pub(crate) use notify_active_account;

/// Records a password reset request for `email`: if an active account has
/// it, queues `notice` (its `user_id` and `variables.name` filled in from
/// the account) and answers the account's id. One statement whether or not
/// the account exists, so the two cases cost the same.
pub fn reset_requested(db: &Db, email: &Email, notice: &Event) -> Result<Option<UserId>, DbError> {
    let [queue, payload, priority] = param::event(notice);
    let found: Option<Id> = db.first(
        Rows::with(notify_active_account!(), "SELECT id FROM u"),
        &[param::text(email.as_ref()), queue, payload, priority],
    )?;
    Ok(found.map(|row| row.id))
}

/// The active account with this id, if any.
pub fn active_contact(db: &Db, id: UserId) -> Result<Option<Contact>, DbError> {
    db.first(Rows::select("SELECT id, name, email FROM users WHERE id = $1 AND is_active"), &[param::uuid(id)])
}

#[derive(Deserialize)]
struct Hash {
    password: String,
}

/// The account's password hash (PHC string), if the account exists.
pub fn password_hash(db: &Db, id: UserId) -> Result<Option<String>, DbError> {
    let hash: Option<Hash> = db.first(Rows::select("SELECT password FROM users WHERE id = $1"), &[param::uuid(id)])?;
    Ok(hash.map(|h| h.password))
}

/// A new password and what goes with it.
pub struct PasswordChange<'a> {
    pub password_hash: &'a str,
    /// Recorded on the revoked refresh tokens (`password_reset`, `password_changed`).
    pub reason: &'a str,
    /// The `password_changed` email.
    pub notice: &'a Event,
    /// A fresh session for the client that changed it, if any.
    pub new_session: Option<&'a Session>,
}

/// In one statement: stores the new hash, ends every session of the user,
/// queues the email and starts the new session (the caller's), if any.
/// Returns what it ended.
pub fn set_password(db: &Db, id: UserId, change: &PasswordChange<'_>, audit: &AuditEvent) -> Result<Ended, DbError> {
    let [queue, payload, priority] = param::event(change.notice);
    let mut params =
        vec![param::uuid(id), param::text(change.password_hash), param::text(change.reason), queue, payload, priority];
    params.extend(new_session_params(change.new_session));
    let ended: Option<Ended> = db.first(
        Rows::with(
            concat!(
                "updated AS (UPDATE users SET password = $2, updated_at = now() WHERE id = $1 RETURNING id), ",
                end_sessions!("s.user_id IN (SELECT id FROM updated)", "$3"),
                ", event AS (INSERT INTO outbox (routing_key, payload, priority) SELECT $4, $5, $6 FROM updated), ",
                start_session!(from: "updated", user: "updated.id", params: "$7", "$8", "$9", "$10", "$11", "$12")
            ),
            concat!("SELECT updated.id, summary.* FROM updated, (SELECT ", ended_summary!(), " FROM ended) summary"),
        )
        .audited(audit),
        &params,
    )?;
    Ok(ended.unwrap_or_default())
}
