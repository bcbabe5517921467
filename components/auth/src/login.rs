//! `POST /api/v1/auth/login/`: trade an email and password for a session.
//!
//! An unknown email and a wrong password get the same 401 after the same
//! amount of work (a dummy hash is verified), so responses do not reveal who
//! has an account. Failures count against the account; once its allowance
//! is spent, even the right password gets 429 until the window passes.

use component_kit::cache::Cache;
use component_kit::db::{Db, param};
use component_kit::sessions::{Session, insert_refresh_sql};
use component_kit::users::{COLUMNS, UserRecord};
use component_kit::{ApiError, ApiRequest, Reply, config};
use user_domain::Email;
use user_domain::hashing::{verify_against_dummy, verify_password};
use user_domain::tokens::now_secs;
use user_domain::validation::Fields;

pub fn handle(request: &ApiRequest, cache: Option<&Cache>) -> Result<Reply, ApiError> {
    let now = now_secs();
    let usage = crate::limits::login_per_address()?.hit(cache, &request.client_ip, now)?;
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let email = fields.required_str("email");
    let password = fields.required_str("password");
    fields.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::internal("validation passed without every required field"));
    };

    // A malformed email cannot have an account; it fails like an unknown one.
    let account_key = email.trim().to_lowercase();
    let failures = crate::limits::login_failures_per_account()?;
    failures.check(cache, &account_key, now)?;

    let db = Db::connect()?;
    let found = match Email::parse(email) {
        Ok(email) => Some(db.query(
            &format!(
                "SELECT u.password, {COLUMNS} FROM users u JOIN user_preferences p ON p.id = u.preferences_id \
                 WHERE u.email = $1"
            ),
            &[param::text(email.as_ref())],
        )?),
        Err(_) => None,
    };
    let row = found.as_ref().and_then(|rows| rows.rows().next());
    let verified = match &row {
        Some(row) => row.get::<String>("password").is_some_and(|hash| verify_password(password, &hash)),
        None => {
            verify_against_dummy(password);
            false
        }
    };
    if !verified {
        failures.record(cache, &account_key, now);
        return Err(ApiError::InvalidCredentials);
    }
    let mut user = UserRecord::from_row(row.as_ref().expect("verified implies a row"))?;
    if !user.is_active {
        return Err(ApiError::Forbidden("This account is deactivated"));
    }

    let session = Session::start(&config::tokens()?, user.id, user.is_staff)?;
    let [refresh_hash, refresh_expires] = session.refresh.params();
    let updated = db.query(
        &format!(
            "WITH session AS ({}) UPDATE users SET last_login = now() WHERE id = $1 RETURNING last_login",
            insert_refresh_sql("$1::uuid", "gen_random_uuid()", "NULL::uuid", "(SELECT 1) AS one", 2)
        ),
        &[param::uuid(user.id), refresh_hash, refresh_expires],
    )?;
    user.last_login = updated.rows().next().and_then(|row| row.get::<chrono::NaiveDateTime>("last_login"));
    // A successful login clears the account's failure count.
    failures.reset(cache, &account_key, now);

    let mut reply = Reply::ok(200, "Login successful", session.to_json(Some(user.to_json())));
    if let Some(usage) = usage {
        for (name, value) in usage.headers() {
            reply = reply.with_header(name, value);
        }
    }
    Ok(reply)
}
