//! Who is calling. Access tokens are checked strictly (see
//! `user_domain::tokens`); a missing, malformed, forged or expired token, or
//! one without a session, is a 401 with `WWW-Authenticate: Bearer`. A token
//! only says who the caller was when it was issued (up to 15 minutes ago),
//! so every endpoint that acts for an account goes through [`account_of`]: in
//! one query, the account still exists (401), the token's session has not
//! ended (401: logout, a revocation, a password change…) and the account is
//! active (403). Staff endpoints go through [`staff_of`]: staff now, in the
//! database, and with `mfa_required_for_staff` a session that proved a
//! second factor. The cached reads check the session against Redis instead
//! (`crate::revocation`). Service-to-service calls present
//! `X-Service-Key`, compared in constant time with every configured key.

use user_domain::amr::Methods;
use user_domain::secrets::matches_any_key;
use user_domain::tokens::{AccessClaims, TokenError};
use user_domain::{ApiError, UserId};

use user_domain::api::endpoints::Access;

use crate::db::Db;
use crate::model::user::UserRecord;
use crate::request::ApiRequest;
use crate::{config, revocation, store};

/// A caller proven by its access token.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    /// The token's session.
    pub session: uuid::Uuid,
    pub is_staff: bool,
    pub claims: AccessClaims,
}

pub fn caller(request: &ApiRequest) -> Result<Caller, ApiError> {
    let token = request.bearer_token().ok_or(ApiError::Unauthorized("Authentication credentials were not provided"))?;
    let claims = config::access_verifier()?.validate_access(token).map_err(|e| match e {
        TokenError::Expired => ApiError::Unauthorized("The access token has expired"),
        _ => ApiError::Unauthorized("The access token is not valid"),
    })?;
    let invalid = |_| ApiError::Unauthorized("The access token is not valid");
    let user_id = claims.user_id().map_err(invalid)?;
    let session = claims.session_id().map_err(invalid)?;
    Ok(Caller { user_id, session, is_staff: claims.is_staff, claims })
}

/// The caller's account as it is now, and how its session was signed in.
pub struct SignedIn {
    pub db: Db,
    pub user: UserRecord,
    pub session: uuid::Uuid,
    pub amr: Methods,
}

/// The caller's account: it must still exist (401), the token's session
/// must not have ended (401) and the account must be active (403), all in
/// one query. The token is checked first (by the router), so anonymous
/// requests cost no connection. Returns the connection for reuse.
pub fn account_of(caller: &Caller) -> Result<(Db, UserRecord), ApiError> {
    signed_in(caller).map(|s| (s.db, s.user))
}

/// [`account_of`], with the session's methods.
pub fn signed_in(caller: &Caller) -> Result<SignedIn, ApiError> {
    let db = Db::connect()?;
    let (user, amr) = session_of(&db, caller)?;
    Ok(SignedIn { db, user, session: caller.session, amr })
}

/// The checks of [`account`] on a connection the request holds already.
fn session_of(db: &Db, caller: &Caller) -> Result<(UserRecord, Methods), ApiError> {
    let found = store::users::signed_in(db, caller.user_id, caller.session)?
        .ok_or(ApiError::Unauthorized("The account no longer exists"))?;
    if !found.session_live {
        return Err(revocation::ended());
    }
    if !found.user.is_active {
        return Err(ApiError::Forbidden("This account is deactivated"));
    }
    Ok((found.user, Methods::from_names(&found.amr)))
}

/// Staff powers for an account of a live session (see [`staff`]).
fn staff_powers(user: &UserRecord, amr: &Methods) -> Result<(), ApiError> {
    if !user.is_staff {
        return Err(ApiError::Forbidden("Staff only"));
    }
    if config::staff_need_mfa()? && !amr.is_multi_factor() {
        return Err(ApiError::Forbidden("Staff powers need a session signed in with a second factor"));
    }
    Ok(())
}

/// [`account_of`], which must also be staff now: a demoted, deactivated or
/// deleted staff member loses staff powers at once, whatever the token says.
/// With `mfa_required_for_staff`, staff powers also need a session that
/// proved a second factor (`otp`, or `hwk` with `user`): a session opened
/// with the password alone stays without them, even after a factor is
/// confirmed elsewhere.
pub fn staff_of(caller: &Caller) -> Result<(Db, UserRecord), ApiError> {
    let signed = signed_in(caller)?;
    staff_powers(&signed.user, &signed.amr)?;
    Ok((signed.db, signed.user))
}

/// Checks `X-Service-Key` against the `service_keys` variable's keys.
pub fn service(request: &ApiRequest) -> Result<(), ApiError> {
    let presented = request.header("x-service-key").ok_or(ApiError::Unauthorized("A service key is required"))?;
    if matches_any_key(presented, config::service_keys()?.iter().map(String::as_str)) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("The service key is not valid"))
    }
}

/// The check `access` makes of a request, on a connection it holds: what a
/// replayed answer passes again (`crate::idempotency`) before it is sent.
pub fn check(access: Access, db: &Db, request: &ApiRequest) -> Result<(), ApiError> {
    match access {
        Access::Public => Ok(()),
        Access::Bearer => session_of(db, &caller(request)?).map(drop),
        Access::Staff => {
            let (user, amr) = session_of(db, &caller(request)?)?;
            staff_powers(&user, &amr)
        }
        Access::Service => service(request),
    }
}
