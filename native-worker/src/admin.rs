//! `create-admin`: the way the first staff account comes to exist, since the
//! API only lets staff make staff. The password is checked and hashed through
//! `user-domain`, exactly as the components do, so the account logs in through
//! the normal endpoint.
//!
//! Anyone can register any email through the API, so an email alone does not
//! say whose account it is. Making an existing account staff therefore takes
//! an explicit `--promote-existing`, and only for an account whose owner
//! proved the address (`email_verified`); a password given for an existing
//! account is refused rather than silently ignored, since the operator
//! evidently expected a new account with that password.

use user_domain::password::PasswordContext;
use user_domain::{Email, Password, UserName, cache_keys, hashing};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("invalid email: {0}")]
    Email(String),
    #[error("invalid name: {0}")]
    Name(String),
    #[error("password rejected: {0}")]
    Password(String),
    #[error(
        "an account with this email already exists; pass --promote-existing to make it staff (its owner keeps their password)"
    )]
    Exists,
    #[error("the existing account's email is not verified; its owner must verify it before it can be promoted")]
    Unverified,
    #[error(
        "a password was given, but an account with this email already exists and keeps its own password; give none to promote it"
    )]
    PasswordForExisting,
    #[error("hashing failed: {0}")]
    Hash(#[from] user_domain::hashing::HashError),
    #[error("database: {0}")]
    Database(#[from] tokio_postgres::Error),
    #[error("database: {0}")]
    Connect(#[from] crate::pg_tls::ConnectError),
}

/// What `create_or_promote` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    Created(uuid::Uuid),
    Promoted(uuid::Uuid),
}

/// Where the password comes from. Known before the account is looked up,
/// because a password given for an account that exists is an error.
pub enum PasswordInput {
    /// Given without a prompt (piped on stdin).
    Given(String),
    /// Nothing given (stdin empty or closed, not a terminal).
    Absent,
    /// A terminal: ask only if an account is created.
    Prompt(Box<dyn FnOnce() -> std::io::Result<String> + Send>),
}

/// What the operator allowed.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminOptions {
    /// Make an existing (verified) account staff instead of refusing.
    pub promote_existing: bool,
}

/// Looks the account up by email. An existing one is promoted only when
/// `options` allow it, its email is verified and no password was given;
/// otherwise a staff account is created (verified, since the operator vouches
/// for the address) with the given or prompted password. User and
/// preferences are created in one transaction.
pub async fn create_or_promote(
    database_url: &str,
    email: &str,
    name: &str,
    options: AdminOptions,
    password: PasswordInput,
) -> Result<AdminOutcome, AdminError> {
    let email = Email::parse(email).map_err(|e| AdminError::Email(e.to_string()))?;
    let name = UserName::parse(name).map_err(|e| AdminError::Name(e.to_string()))?;
    let config: tokio_postgres::Config = database_url.parse()?;
    let (mut client, conn_task) = crate::pg_tls::connect(&config).await?;
    let tx = client.transaction().await?;
    let existing =
        tx.query_opt("SELECT id, email_verified FROM users WHERE email = $1 FOR UPDATE", &[&email.as_ref()]).await?;
    let outcome = match existing {
        Some(row) => {
            let id: uuid::Uuid = row.try_get(0)?;
            let verified: bool = row.try_get(1)?;
            if matches!(password, PasswordInput::Given(_)) {
                return Err(AdminError::PasswordForExisting);
            }
            if !options.promote_existing {
                return Err(AdminError::Exists);
            }
            if !verified {
                return Err(AdminError::Unverified);
            }
            tx.execute("UPDATE users SET is_staff = TRUE, is_active = TRUE, updated_at = now() WHERE id = $1", &[&id])
                .await?;
            AdminOutcome::Promoted(id)
        }
        None => {
            let raw = match password {
                PasswordInput::Given(raw) => raw,
                PasswordInput::Absent => return Err(AdminError::Password("none given on stdin".into())),
                PasswordInput::Prompt(ask) => {
                    ask().map_err(|e| AdminError::Password(format!("cannot read it: {e}")))?
                }
            };
            let raw = raw.trim_end_matches(['\r', '\n']);
            let context = PasswordContext { email: Some(email.as_ref()), name: Some(name.as_ref()) };
            let password = Password::parse(raw, &context).map_err(|problems| {
                AdminError::Password(problems.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))
            })?;
            // Argon2id is deliberately slow; keep it off the async threads.
            let hash = tokio::task::spawn_blocking(move || hashing::hash_password(&password))
                .await
                .expect("hashing does not panic")?;
            let preferences: uuid::Uuid =
                tx.query_one("INSERT INTO user_preferences DEFAULT VALUES RETURNING id", &[]).await?.try_get(0)?;
            let id: uuid::Uuid = tx
                .query_one(
                    "INSERT INTO users (email, name, password, preferences_id, is_staff, email_verified) \
                     VALUES ($1, $2, $3, $4, TRUE, TRUE) RETURNING id",
                    &[&email.as_ref(), &name.as_ref(), &hash, &preferences],
                )
                .await?
                .try_get(0)?;
            AdminOutcome::Created(id)
        }
    };
    tx.commit().await?;
    drop(client);
    let _ = conn_task.await;
    Ok(outcome)
}

/// Deletes the cached records of a changed user (CONTRACT section 3: every
/// change invalidates them). Best effort: they expire within the hour anyway.
pub async fn invalidate_cache(redis_url: &str, id: uuid::Uuid) {
    let Ok(cache) = crate::cache::Cache::new(redis_url) else { return };
    let user = user_domain::UserId::from(id);
    if let Err(e) = cache.del(&cache_keys::all_for_user(user)).await {
        tracing::warn!(error = %e, "could not invalidate the cached user");
    }
}
