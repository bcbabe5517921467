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
use crate::model::user::{Preferences, UserRecord};

/// The columns of a [`UserRecord`], from `u` (users) and `p` (user_preferences).
macro_rules! user_columns {
    () => {
        "u.id, u.name, u.email, u.push_token, u.email_verified, u.is_active, u.is_staff, u.created_at, \
         u.updated_at, u.last_login, jsonb_build_object('email', p.email, 'push', p.push) AS preferences"
    };
}

/// `SELECT` of [`UserRecord`]s, to be followed by a `WHERE`.
macro_rules! select_users {
    () => {
        concat!("SELECT ", user_columns!(), " FROM users u JOIN user_preferences p ON p.id = u.preferences_id")
    };
}

/// The user with this id, if there is one.
pub fn by_id(db: &Db, id: UserId) -> Result<Option<UserRecord>, DbError> {
    db.first(Rows::select(concat!(select_users!(), " WHERE u.id = $1")), &[param::uuid(id)])
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
    pub preferences: Preferences,
    /// Digest of the emailed verification token.
    pub verification_digest: &'a str,
    /// The verification email.
    pub welcome: &'a Event,
    /// The first session.
    pub session: &'a Session,
}

pub enum Registered {
    Created(UserRecord),
    EmailTaken,
}

/// Creates the user, its preferences, its first session and its
/// verification email in one statement: all of them or none.
pub fn register(db: &Db, account: &NewAccount<'_>, audit: &AuditEvent) -> Result<Registered, DbError> {
    let [session_id, digest, expires, device, address, amr] = new_session_params(Some(account.session));
    let created = db.first(
        Rows::with(
            concat!(
                "p AS (INSERT INTO user_preferences (email, push) VALUES ($1, $2) RETURNING id, email, push), \
             u AS ( \
                 INSERT INTO users (id, email, name, password, push_token, preferences_id, \
                                    email_verification_token, email_verification_expires_at) \
                 SELECT $3, $4, $5, $6, $7, p.id, $8, now() + interval '24 hours' FROM p \
                 RETURNING * \
             ), \
             event AS (INSERT INTO outbox (routing_key, payload, priority) SELECT $9, $10, $11 FROM u), ",
                start_session!(from: "u", user: "u.id", params: "$12", "$13", "$14", "$15", "$16", "$17")
            ),
            concat!("SELECT ", user_columns!(), " FROM u, p"),
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
            param::text(account.welcome.queue.clone()),
            param::json(&account.welcome.payload),
            param::int16(account.welcome.priority),
            session_id,
            digest,
            expires,
            device,
            address,
            amr,
        ],
    );
    match created {
        Ok(Some(user)) => Ok(Registered::Created(user)),
        Ok(None) => Err(DbError::Decode("registration returned no user".into())),
        // Emails are stored lower-cased, so the unique index is case-insensitive.
        Err(DbError::UniqueViolation) => Ok(Registered::EmailTaken),
        Err(other) => Err(other),
    }
}

/// The staff list's filters. `search` matches email or name, with the
/// caller's `%` and `_` taken literally.
pub struct Filter {
    pub search: Option<String>,
    pub is_active: Option<bool>,
}

impl Filter {
    fn params(&self) -> [spin_sdk::pg4::ParameterValue; 2] {
        let pattern = self
            .search
            .as_ref()
            .map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        [param::opt_text(pattern), param::opt_boolean(self.is_active)]
    }
}

#[derive(Deserialize)]
pub struct Page {
    pub total: u64,
    pub users: Vec<UserRecord>,
}

/// One page of users, newest first, and how many match in all.
pub fn page(db: &Db, filter: &Filter, limit: u64, offset: u64) -> Result<Page, DbError> {
    let [search, is_active] = filter.params();
    let page = db.first(
        Rows::with(
            "matching AS ( \
                 SELECT u.id FROM users u \
                 WHERE ($1::text IS NULL OR u.email ILIKE $1 OR u.name ILIKE $1) \
                   AND ($2::boolean IS NULL OR u.is_active = $2) \
             )",
            concat!(
                "SELECT (SELECT count(*) FROM matching) AS total, coalesce(( \
                     SELECT jsonb_agg(listed ORDER BY listed.created_at DESC, listed.id) FROM (",
                select_users!(),
                " WHERE u.id IN (SELECT id FROM matching) ORDER BY u.created_at DESC, u.id LIMIT $3 OFFSET $4 \
                     ) listed), '[]'::jsonb) AS users"
            ),
        ),
        &[search, is_active, param::int(limit as i64), param::int(offset as i64)],
    )?;
    page.ok_or_else(|| DbError::Decode("the page query returned no row".into()))
}

/// What staff may change of an account; `None` leaves a field as it is.
pub struct StaffChange {
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    pub name: Option<UserName>,
}

/// A staff change as applied: the account as it is now, and the sessions a
/// deactivation ended.
#[derive(Debug, Deserialize)]
pub struct StaffChanged {
    #[serde(flatten)]
    pub user: UserRecord,
    pub ended: Vec<uuid::Uuid>,
}

/// Applies a staff change; a deactivation also ends every session.
/// Returns the changed account, or `None` if there is no such user.
pub fn apply_staff_change(
    db: &Db,
    id: UserId,
    change: &StaffChange,
    audit: &AuditEvent,
) -> Result<Option<StaffChanged>, DbError> {
    db.first(
        Rows::with(
            concat!(
                "u AS ( \
                     UPDATE users SET is_active = COALESCE($2, is_active), is_staff = COALESCE($3, is_staff), \
                            name = COALESCE($4, name), updated_at = now() \
                     WHERE id = $1 RETURNING * \
                 ), ",
                end_sessions!("s.user_id IN (SELECT id FROM u WHERE NOT is_active)", "'deactivated_by_staff'")
            ),
            concat!(
                "SELECT ",
                user_columns!(),
                ", (SELECT coalesce(array_agg(id), '{}') FROM ended) AS ended \
                 FROM u JOIN user_preferences p ON p.id = u.preferences_id"
            ),
        )
        .audited(audit),
        &[
            param::uuid(id),
            param::opt_boolean(change.is_active),
            param::opt_boolean(change.is_staff),
            param::opt_text(change.name.as_ref().map(|n| n.as_ref().to_owned())),
        ],
    )
}

#[derive(Deserialize)]
struct Erased {
    sessions: Vec<uuid::Uuid>,
}

/// Erases an account and its preferences (its sessions go by cascade).
/// Returns the sessions that were live, or `None` if there was no such user.
pub fn erase(db: &Db, id: UserId, audit: &AuditEvent) -> Result<Option<Vec<uuid::Uuid>>, DbError> {
    let gone: Option<Erased> = db.first(
        Rows::with(
            "live AS (SELECT id FROM sessions WHERE user_id = $1 AND ended_at IS NULL), \
             gone AS (DELETE FROM users WHERE id = $1 RETURNING id, preferences_id), \
             prefs AS (DELETE FROM user_preferences WHERE id IN (SELECT preferences_id FROM gone))",
            "SELECT id, (SELECT coalesce(array_agg(id), '{}') FROM live) AS sessions FROM gone",
        )
        .audited(audit),
        &[param::uuid(id)],
    )?;
    Ok(gone.map(|g| g.sessions))
}

/// A change to a field that may be cleared.
pub enum Change<T> {
    Keep,
    Clear,
    Set(T),
}

/// Changes the caller's own profile. Returns the changed account, or `None`
/// if it is gone or deactivated.
pub fn update_profile(
    db: &Db,
    id: UserId,
    name: Option<&UserName>,
    push_token: Change<&PushToken>,
    audit: &AuditEvent,
) -> Result<Option<UserRecord>, DbError> {
    let (set_token, token) = match push_token {
        Change::Keep => (false, None),
        Change::Clear => (true, None),
        Change::Set(token) => (true, Some(token.as_ref().to_owned())),
    };
    db.first(
        Rows::with(
            "u AS ( \
                 UPDATE users SET name = COALESCE($2, name), \
                        push_token = CASE WHEN $3 THEN $4 ELSE push_token END, updated_at = now() \
                 WHERE id = $1 AND is_active RETURNING * \
             )",
            concat!("SELECT ", user_columns!(), " FROM u JOIN user_preferences p ON p.id = u.preferences_id"),
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
    db.execute(
        "WITH updated AS ( \
             UPDATE users SET email_verification_token = $2, \
                    email_verification_expires_at = now() + interval '24 hours' \
             WHERE id = $1 RETURNING id \
         ) INSERT INTO outbox (routing_key, payload, priority) SELECT $3, $4, $5 FROM updated",
        &[
            param::uuid(id),
            param::text(token_digest),
            param::text(email.queue.clone()),
            param::json(&email.payload),
            param::int16(email.priority),
        ],
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

/// Records a password reset request for `email`: if an active account has
/// it, queues `notice` (its `user_id` and `variables.name` filled in from
/// the account) and answers the account's id. One statement whether or not
/// the account exists, so the two cases cost the same.
pub fn reset_requested(db: &Db, email: &Email, notice: &Event) -> Result<Option<UserId>, DbError> {
    let found: Option<Id> = db.first(
        Rows::with(
            "u AS (SELECT id, name FROM users WHERE email = $1 AND is_active), \
             notice AS ( \
                 INSERT INTO outbox (routing_key, payload, priority) \
                 SELECT $2, jsonb_set(jsonb_set($3::jsonb, '{user_id}', to_jsonb(u.id)), \
                                      '{variables,name}', to_jsonb(u.name)), $4 \
                 FROM u \
             )",
            "SELECT id FROM u",
        ),
        &[
            param::text(email.as_ref()),
            param::text(notice.queue.clone()),
            param::json(&notice.payload),
            param::int16(notice.priority),
        ],
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
    let mut params = vec![
        param::uuid(id),
        param::text(change.password_hash),
        param::text(change.reason),
        param::text(change.notice.queue.clone()),
        param::json(&change.notice.payload),
        param::int16(change.notice.priority),
    ];
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
