//! `passkeys` and `passkey_challenges`: the registered WebAuthn credentials
//! and the challenges of their ceremonies (binary values as base64url).
//! A challenge is taken (deleted) before the credential answering it is
//! judged, so it serves one try, right or wrong; a sign-in moves the
//! counter only from the value it was judged against. Adding or removing
//! a passkey queues the account's security email in the same statement.

use serde::Deserialize;
use user_domain::UserId;
use user_domain::api::responses::PasskeyView;
use user_domain::device::DeviceName;
use user_domain::webauthn::ceremony::NewPasskey;
use user_domain::webauthn::options::Descriptor;
use user_domain::webauthn::{b64, unb64};

use crate::db::{Db, DbError, Rows, param};
use crate::model::audit::AuditEvent;
use crate::model::event::Event;

/// What a challenge is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Register,
    Login,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Login => "login",
        }
    }
}

#[derive(Deserialize)]
struct Created {
    id: uuid::Uuid,
}

/// Stores a challenge (base64url) for `ttl_secs`: a registration's for the
/// signed-in `user`; a sign-in's for the account named by email (`named`,
/// `user` `None` when no account has that email) or for nobody.
pub fn create_challenge(
    db: &Db,
    purpose: Purpose,
    challenge: &str,
    user: Option<UserId>,
    named: bool,
    ttl_secs: u64,
) -> Result<uuid::Uuid, DbError> {
    let created: Option<Created> = db.first(
        Rows::with(
            "c AS (INSERT INTO passkey_challenges (purpose, challenge, user_id, named, expires_at) \
                   VALUES ($1, $2, $3, $4, now() + $5::bigint * interval '1 second') RETURNING id)",
            "SELECT id FROM c",
        ),
        &[
            param::text(purpose.as_str()),
            param::text(challenge),
            param::opt_uuid(user),
            param::boolean(named),
            param::int(ttl_secs as i64),
        ],
    )?;
    created.map(|c| c.id).ok_or_else(|| DbError::Decode("the challenge insert answered no row".into()))
}

/// A challenge taken from the table.
#[derive(Debug, Deserialize)]
pub struct Taken {
    pub challenge: String,
    pub user_id: Option<UserId>,
    pub named: bool,
}

/// Takes (deletes) the challenge `id` for `purpose`; `None` if there is
/// none, it was taken already, or it expired. Of concurrent tries with the
/// same challenge one gets it.
pub fn take_challenge(db: &Db, id: uuid::Uuid, purpose: Purpose) -> Result<Option<Taken>, DbError> {
    db.first(
        Rows::with(
            "gone AS (DELETE FROM passkey_challenges WHERE id = $1 AND purpose = $2 \
                      RETURNING challenge, user_id, named, expires_at > now() AS live)",
            "SELECT challenge, user_id, named FROM gone WHERE live",
        ),
        &[param::uuid(id), param::text(purpose.as_str())],
    )
}

#[derive(Deserialize)]
struct DescriptorRow {
    credential_id: String,
    transports: Vec<String>,
}

/// The user's passkeys as the options name them.
pub fn descriptors(db: &Db, user: UserId) -> Result<Vec<Descriptor>, DbError> {
    let rows: Vec<DescriptorRow> = db.rows(
        Rows::select("SELECT credential_id, transports FROM passkeys WHERE user_id = $1 ORDER BY created_at"),
        &[param::uuid(user)],
    )?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some(Descriptor { id: unb64(&row.credential_id)?, transports: row.transports }))
        .collect())
}

/// The columns a [`PasskeyView`] is read from.
const VIEW: &str = "id, name, created_at, last_used_at, backed_up, transports";

/// What registering came to.
#[derive(Debug)]
pub enum Registered {
    Added(PasskeyView),
    /// The account has `cap` passkeys already.
    Full,
    /// This credential is registered already (to this account or another).
    Duplicate,
}

/// Stores `new` as a passkey of `user` (an active account) unless the
/// account has `cap` already, and queues `notice` (the account's security
/// email) in the same statement.
pub fn register(
    db: &Db,
    user: UserId,
    new: &NewPasskey,
    name: Option<&DeviceName>,
    cap: usize,
    notice: &Event,
    audit: &AuditEvent,
) -> Result<Registered, DbError> {
    let [queue, payload, priority] = param::event(notice);
    let added: Result<Option<PasskeyView>, DbError> = db.first(
        Rows::with(
            "owner AS (SELECT id FROM users WHERE id = $1 AND is_active \
                       AND (SELECT count(*) FROM passkeys WHERE user_id = $1) < $10::bigint), \
             added AS ( \
                 INSERT INTO passkeys (user_id, credential_id, public_key, algorithm, sign_count, name, transports, \
                                       aaguid, backup_eligible, backed_up) \
                 SELECT id, $2, $3, $4::bigint, $5::bigint, coalesce($6, 'Passkey'), $7::jsonb, $8, $9, $11 FROM owner \
                 RETURNING * \
             ), \
             notice AS (INSERT INTO outbox (routing_key, payload, priority) SELECT $12, $13, $14 FROM added)",
            &format!("SELECT {VIEW} FROM added"),
        )
        .audited(audit),
        &[
            param::uuid(user),
            param::text(b64(&new.credential_id)),
            param::text(b64(&new.cose_key)),
            param::int(new.algorithm),
            param::int(new.sign_count.into()),
            param::opt_text(name.map(|n| n.as_ref().to_owned())),
            param::json(&serde_json::json!(new.transports)),
            param::text(new.aaguid.iter().map(|b| format!("{b:02x}")).collect::<String>()),
            param::boolean(new.backup_eligible),
            param::int(cap as i64),
            param::boolean(new.backed_up),
            queue,
            payload,
            priority,
        ],
    );
    match added {
        Ok(Some(view)) => Ok(Registered::Added(view)),
        Ok(None) => Ok(Registered::Full),
        Err(DbError::UniqueViolation) => Ok(Registered::Duplicate),
        Err(other) => Err(other),
    }
}

/// A stored passkey, as a sign-in judges it.
#[derive(Debug, Deserialize)]
pub struct Stored {
    pub id: uuid::Uuid,
    pub user_id: UserId,
    pub public_key: String,
    pub sign_count: i64,
}

/// The passkey with this credential ID.
pub fn by_credential(db: &Db, credential_id: &[u8]) -> Result<Option<Stored>, DbError> {
    db.first(
        Rows::select("SELECT id, user_id, public_key, sign_count FROM passkeys WHERE credential_id = $1"),
        &[param::text(b64(credential_id))],
    )
}

/// Records a sign-in with passkey `id`: its counter moves from `judged`
/// (the value the assertion was checked against) to `now`, and its backup
/// state is what the authenticator reported this time. False if the
/// counter moved meanwhile (another sign-in with a higher value won).
pub fn record_use(db: &Db, id: uuid::Uuid, judged: i64, now: i64, backed_up: bool) -> Result<bool, DbError> {
    let updated = db.execute(
        "UPDATE passkeys SET sign_count = $3::bigint, backed_up = $4, last_used_at = now() \
         WHERE id = $1 AND sign_count = $2::bigint",
        &[param::uuid(id), param::int(judged), param::int(now), param::boolean(backed_up)],
    )?;
    Ok(updated == 1)
}

/// The user's passkeys, newest first.
pub fn list(db: &Db, user: UserId) -> Result<Vec<PasskeyView>, DbError> {
    db.rows(
        Rows::select(&format!("SELECT {VIEW} FROM passkeys WHERE user_id = $1 ORDER BY created_at DESC, id")),
        &[param::uuid(user)],
    )
}

/// Removes the user's passkey `id` and queues `notice` (the account's
/// security email); false if the user has no such passkey.
pub fn remove(db: &Db, user: UserId, id: uuid::Uuid, notice: &Event, audit: &AuditEvent) -> Result<bool, DbError> {
    let [queue, payload, priority] = param::event(notice);
    let removed: Option<Created> = db.first(
        Rows::with(
            "gone AS (DELETE FROM passkeys WHERE id = $2 AND user_id = $1 RETURNING id, name), \
             notice AS (INSERT INTO outbox (routing_key, payload, priority) \
                        SELECT $3, jsonb_set($4::jsonb, '{variables,passkey}', to_jsonb(name)), $5 FROM gone)",
            "SELECT id FROM gone",
        )
        .audited(audit),
        &[param::uuid(user), param::uuid(id), queue, payload, priority],
    )?;
    Ok(removed.is_some_and(|r| r.id == id))
}
