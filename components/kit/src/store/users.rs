//! The `users` table with each user's `user_preferences` row: every
//! statement that reads or changes an account. [`UserRecord`]'s columns are
//! written once ([`user_columns!`]), and the password hash is never among them.

use serde::Deserialize;
use user_domain::{Email, PushToken, UserId, UserName};

use super::Id;
use crate::audit::AuditEvent;
use crate::db::{Db, DbError, Rows, param};
use crate::events::Event;
use crate::sessions::Session;
use crate::users::{Preferences, UserRecord};

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

/// Records a successful login: the new session (family) and `last_login`.
/// Returns the account as it is now, or `None` if the user is gone.
pub fn record_login(db: &Db, id: UserId, session: &Session, audit: &AuditEvent) -> Result<Option<UserRecord>, DbError> {
    let refresh = &session.refresh;
    db.first(
        Rows::with(
            "session AS ( \
                 INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, device, client_address) \
                 VALUES ($1, $2, $3, to_timestamp($4), $5, $6) \
             ), u AS (UPDATE users SET last_login = now() WHERE id = $1 RETURNING *)",
            concat!("SELECT ", user_columns!(), " FROM u JOIN user_preferences p ON p.id = u.preferences_id"),
        )
        .audited(audit),
        &[
            param::uuid(id),
            param::uuid(session.id),
            param::text(refresh.token.digest.clone()),
            param::epoch_secs(refresh.expires_at),
            param::opt_text(refresh.client.device.clone()),
            param::text(refresh.client.address.clone()),
        ],
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
    let created = db.first(
        Rows::with(
            "p AS (INSERT INTO user_preferences (email, push) VALUES ($1, $2) RETURNING id, email, push), \
             u AS ( \
                 INSERT INTO users (id, email, name, password, push_token, preferences_id, \
                                    email_verification_token, email_verification_expires_at) \
                 SELECT $3, $4, $5, $6, $7, p.id, $8, now() + interval '24 hours' FROM p \
                 RETURNING * \
             ), \
             event AS (INSERT INTO outbox (routing_key, payload, priority) SELECT $9, $10, $11 FROM u), \
             session AS ( \
                 INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, device, client_address) \
                 SELECT u.id, $12, $13, to_timestamp($14), $15, $16 FROM u \
             )",
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
            param::uuid(account.session.id),
            param::text(account.session.refresh.token.digest.clone()),
            param::epoch_secs(account.session.refresh.expires_at),
            param::opt_text(account.session.refresh.client.device.clone()),
            param::text(account.session.refresh.client.address.clone()),
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

/// Applies a staff change; a deactivation also ends every session.
/// Returns the changed account, or `None` if there is no such user.
pub fn apply_staff_change(
    db: &Db,
    id: UserId,
    change: &StaffChange,
    audit: &AuditEvent,
) -> Result<Option<UserRecord>, DbError> {
    db.first(
        Rows::with(
            "u AS ( \
                 UPDATE users SET is_active = COALESCE($2, is_active), is_staff = COALESCE($3, is_staff), \
                        name = COALESCE($4, name), updated_at = now() \
                 WHERE id = $1 RETURNING * \
             ), revoked AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'deactivated_by_staff' \
                 WHERE user_id IN (SELECT id FROM u WHERE NOT is_active) AND revoked_at IS NULL \
             )",
            concat!("SELECT ", user_columns!(), " FROM u JOIN user_preferences p ON p.id = u.preferences_id"),
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

/// Erases an account and its preferences (its sessions go by cascade).
/// Returns whether there was such a user.
pub fn erase(db: &Db, id: UserId, audit: &AuditEvent) -> Result<bool, DbError> {
    let gone: Vec<Id> = db.rows(
        Rows::with(
            "gone AS (DELETE FROM users WHERE id = $1 RETURNING id, preferences_id), \
             prefs AS (DELETE FROM user_preferences WHERE id IN (SELECT preferences_id FROM gone))",
            "SELECT id FROM gone",
        )
        .audited(audit),
        &[param::uuid(id)],
    )?;
    Ok(!gone.is_empty())
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
pub fn deactivate(db: &Db, id: UserId, audit: &AuditEvent) -> Result<(), DbError> {
    let _: Vec<Id> = db.rows(
        Rows::with(
            "revoked AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'account_deactivated' \
                 WHERE user_id = $1 AND revoked_at IS NULL \
             )",
            "UPDATE users SET is_active = false, updated_at = now() WHERE id = $1 RETURNING id",
        )
        .audited(audit),
        &[param::uuid(id)],
    )?;
    Ok(())
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

/// In one statement: stores the new hash, revokes every refresh token of
/// the user, queues the email and records the new session, if any.
pub fn set_password(db: &Db, id: UserId, change: &PasswordChange<'_>, audit: &AuditEvent) -> Result<(), DbError> {
    let session = change.new_session;
    let _: Vec<Id> = db.rows(
        Rows::with(
            "updated AS (UPDATE users SET password = $2, updated_at = now() WHERE id = $1 RETURNING id), \
         revoked AS ( \
             UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $3 \
             WHERE user_id = $1 AND revoked_at IS NULL \
         ), \
         event AS (INSERT INTO outbox (routing_key, payload, priority) SELECT $4, $5, $6 FROM updated), \
         session AS ( \
             INSERT INTO refresh_tokens (user_id, family_id, token_hash, expires_at, device, client_address) \
             SELECT updated.id, $9, $7, to_timestamp($8), $10, $11 FROM updated WHERE $7::text IS NOT NULL \
         )",
            "SELECT id FROM updated",
        )
        .audited(audit),
        &[
            param::uuid(id),
            param::text(change.password_hash),
            param::text(change.reason),
            param::text(change.notice.queue.clone()),
            param::json(&change.notice.payload),
            param::int16(change.notice.priority),
            param::opt_text(session.map(|s| s.refresh.token.digest.clone())),
            session.map_or(spin_sdk::pg4::ParameterValue::DbNull, |s| param::epoch_secs(s.refresh.expires_at)),
            session.map_or(spin_sdk::pg4::ParameterValue::DbNull, |s| param::uuid(s.id)),
            param::opt_text(session.and_then(|s| s.refresh.client.device.clone())),
            param::opt_text(session.map(|s| s.refresh.client.address.clone())),
        ],
    )?;
    Ok(())
}
