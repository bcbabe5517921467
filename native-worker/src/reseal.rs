//! `native-worker reseal-mfa`: how an `mfa_key` rotation ends. The auth
//! component seals TOTP secrets under `mfa_key` and opens them under it or
//! an earlier key (`mfa_previous_keys`), sealing again under `mfa_key` what
//! an earlier key opened. A user who does not sign in during the rotation
//! would keep an old seal, and the old key could never be dropped; this
//! command seals every factor under the current key, so it can.

use tokio_postgres::Config;
use user_domain::sealed::{Keyring, Purpose, SealedUnder};
use uuid::Uuid;

/// What `reseal` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Opened under an earlier key, now sealed under the current one.
    pub resealed: u64,
    /// Already under the current key.
    pub current: u64,
    /// Changed by the app while this ran (it re-enrolled or turned off): left as the app wrote it.
    pub changed_meanwhile: u64,
    /// Opened by no key given: these users' factors cannot work until a key
    /// that opens them is configured again (or they re-enrol).
    pub unopenable: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResealError {
    #[error("database: {0}")]
    Connect(#[from] crate::pg_tls::ConnectError),
    #[error("database: {0}")]
    Query(#[from] tokio_postgres::Error),
    #[error("sealing failed: {0}")]
    Seal(#[from] user_domain::sealed::SealError),
}

/// Seals every factor of the database at `database_url` under `keys`' current key.
pub async fn reseal(database_url: &Config, keys: &Keyring) -> Result<ResealReport, ResealError> {
    let (client, _connection) = crate::pg_tls::connect(database_url).await?;
    let mut report = ResealReport::default();
    for row in client.query("SELECT user_id, secret_sealed FROM mfa_totp ORDER BY user_id", &[]).await? {
        let (user, sealed): (Uuid, String) = (row.try_get(0)?, row.try_get(1)?);
        // The binding is the user id as the auth component writes it (hyphenated, lower case).
        let binding = user.to_string();
        match keys.open(Purpose::TotpSecret, binding.as_bytes(), &sealed) {
            Ok((_, SealedUnder::Current)) => report.current += 1,
            Ok((plain, SealedUnder::Previous)) => {
                let resealed = keys.seal(Purpose::TotpSecret, binding.as_bytes(), &plain)?;
                let updated = client
                    .execute(
                        "UPDATE mfa_totp SET secret_sealed = $3 WHERE user_id = $1 AND secret_sealed = $2",
                        &[&user, &sealed, &resealed],
                    )
                    .await?;
                if updated == 1 { report.resealed += 1 } else { report.changed_meanwhile += 1 }
            }
            Err(_) => report.unopenable.push(user),
        }
    }
    Ok(report)
}
