//! Who is calling. Access tokens are checked strictly (see
//! `user_domain::tokens`); a missing, malformed, forged or expired token is a
//! 401 with `WWW-Authenticate: Bearer`, and staff-only endpoints answer 403
//! to everyone else. Service-to-service calls present `X-Service-Key`,
//! compared in constant time against every configured key.

use user_domain::secrets::matches_any_key;
use user_domain::tokens::{AccessClaims, TokenError};
use user_domain::{ApiError, UserId};

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

pub fn staff(request: &ApiRequest) -> Result<Caller, ApiError> {
    let caller = caller(request)?;
    if caller.is_staff { Ok(caller) } else { Err(ApiError::Forbidden("Staff only")) }
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
