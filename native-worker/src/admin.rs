//! `create-admin`: the way the first staff account comes to exist, since the
//! API only lets staff make staff. The password is checked and hashed through
//! `user-domain`, exactly as the components do, so the account logs in through
//! the normal endpoint.

use tokio_postgres::NoTls;
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
    #[error("hashing failed: {0}")]
    Hash(#[from] user_domain::hashing::HashError),
    #[error("database: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// What `create_or_promote` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminOutcome {
    Created(uuid::Uuid),
    Promoted(uuid::Uuid),
}

/// Looks the account up by email; promotes it when it exists, else creates it
/// with the password `read_password` supplies (asked only when needed, so
/// promoting an account never prompts). User and preferences are created in
/// one transaction.
pub async fn create_or_promote(
    database_url: &str,
    email: &str,
    name: &str,
    read_password: impl FnOnce() -> std::io::Result<String>,
) -> Result<AdminOutcome, AdminError> {
    let email = Email::parse(email).map_err(|e| AdminError::Email(e.to_string()))?;
    let name = UserName::parse(name).map_err(|e| AdminError::Name(e.to_string()))?;
    let (mut client, connection) = tokio_postgres::connect(database_url, NoTls).await?;
    let conn_task = tokio::spawn(connection);
    let tx = client.transaction().await?;
    let existing = tx
        .query_opt("SELECT id FROM users WHERE email = $1 FOR UPDATE", &[&email.as_ref()])
        .await?
        .map(|r| r.get::<_, uuid::Uuid>(0));
    let outcome = match existing {
        Some(id) => {
            tx.execute("UPDATE users SET is_staff = TRUE, is_active = TRUE, updated_at = now() WHERE id = $1", &[&id])
                .await?;
            AdminOutcome::Promoted(id)
        }
        None => {
            let raw = read_password().map_err(|e| AdminError::Password(format!("cannot read it: {e}")))?;
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
                tx.query_one("INSERT INTO user_preferences DEFAULT VALUES RETURNING id", &[]).await?.get(0);
            let id: uuid::Uuid = tx
                .query_one(
                    "INSERT INTO users (email, name, password, preferences_id, is_staff, email_verified) \
                     VALUES ($1, $2, $3, $4, TRUE, TRUE) RETURNING id",
                    &[&email.as_ref(), &name.as_ref(), &hash, &preferences],
                )
                .await?
                .get(0);
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
    let user = user_domain::UserId::parse(&id.to_string()).expect("a UUID is a user id");
    if let Err(e) = cache.del(&cache_keys::all_for_user(user)).await {
        tracing::warn!(error = %e, "could not invalidate the cached user");
    }
}
