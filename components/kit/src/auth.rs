//! Who is calling. Access tokens are checked strictly (see
//! `user_domain::tokens`); a missing, malformed, forged or expired token is a
//! 401 with `WWW-Authenticate: Bearer`. A token only says who the caller
//! was when it was issued (up to 15 minutes ago), so every endpoint that
//! acts for an account goes through [`account`] (the account still exists
//! and is active) and staff endpoints through [`staff`] (it is staff now,
//! in the database, not merely in the token). Service-to-service calls
//! present `X-Service-Key`, compared in constant time with every configured key.

use user_domain::secrets::matches_any_key;
use user_domain::tokens::{AccessClaims, TokenError};
use user_domain::{ApiError, UserId};

use crate::db::Db;
use crate::users::{self, UserRecord};
use crate::{ApiRequest, config};

/// A caller proven by its access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub is_staff: bool,
    pub claims: AccessClaims,
}

pub fn caller(request: &ApiRequest) -> Result<Caller, ApiError> {
    let token = request.bearer_token().ok_or(ApiError::Unauthorized("Authentication credentials were not provided"))?;
    let claims = config::tokens()?.validate_access(token).map_err(|e| match e {
        TokenError::Expired => ApiError::Unauthorized("The access token has expired"),
        _ => ApiError::Unauthorized("The access token is not valid"),
    })?;
    let user_id = claims.user_id().map_err(|_| ApiError::Unauthorized("The access token is not valid"))?;
    Ok(Caller { user_id, is_staff: claims.is_staff, claims })
}

/// The caller's account as it is now: it must still exist (401) and be
/// active (403). The token is checked before the database is opened, so
/// anonymous requests cost no connection. Returns the connection for reuse.
pub fn account(request: &ApiRequest) -> Result<(Db, UserRecord), ApiError> {
    account_of(&caller(request)?)
}

/// [`account`] for a caller whose token was already checked.
pub fn account_of(caller: &Caller) -> Result<(Db, UserRecord), ApiError> {
    let db = Db::connect()?;
    let user = users::active(&db, caller.user_id)?;
    Ok((db, user))
}

/// [`account`], which must also be staff now: a demoted, deactivated or
/// deleted staff member loses staff powers at once, whatever the token says.
/// With `mfa_required_for_staff`, staff powers also need a confirmed second
/// factor: a staff member without one may sign in, but only to enrol.
pub fn staff(request: &ApiRequest) -> Result<(Db, UserRecord), ApiError> {
    let (db, user) = account(request)?;
    if !user.is_staff {
        return Err(ApiError::Forbidden("Staff only"));
    }
    if config::staff_need_mfa()? && !crate::store::mfa::is_confirmed(&db, user.id)? {
        return Err(ApiError::Forbidden("Staff must turn on two-factor sign-in first"));
    }
    Ok((db, user))
}

/// Checks `X-Service-Key` against the comma-separated `service_keys` variable.
pub fn service(request: &ApiRequest) -> Result<(), ApiError> {
    let presented = request.header("x-service-key").ok_or(ApiError::Unauthorized("A service key is required"))?;
    let keys = config::var("service_keys")?;
    if matches_any_key(presented, keys.split(',')) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("The service key is not valid"))
    }
}
