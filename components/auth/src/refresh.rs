//! `POST /api/v1/auth/refresh/`: rotate a refresh token.
//!
//! Each refresh token is single use. Presenting it spends it and issues a
//! child in the same family (one family per login). Presenting a spent token
//! again means it was copied: the whole family is revoked, so neither the
//! thief nor the victim can go on with that session.

use component_kit::audit::{Actor, AuditEvent, Outcome};
use component_kit::db::Db;
use component_kit::sessions::{Client, NewRefresh, Session, staff_claim};
use component_kit::{ApiError, ApiRequest, Reply, config, store};
use user_domain::api::requests::RefreshRequest;
use user_domain::secrets::digest;

pub fn handle(request: &ApiRequest) -> Result<Reply, ApiError> {
    let RefreshRequest { refresh_token } = RefreshRequest::parse(&request.json()?)?;
    let hash = digest(&refresh_token);
    let db = Db::connect()?;
    let tokens = config::tokens()?;

    // The new token is drawn before we know whose it is: the user and staff
    // flag come back from the same statement that spends the old one.
    let child = NewRefresh::generate(&tokens, Client::of(request))?;
    let Some(rotated) = store::sessions::rotate(&db, &hash, &child)? else {
        // Spent before: a replay. Revoke everything descended from that login.
        let audit = AuditEvent::new(request, "auth.refresh_reuse_detected", Actor::Anonymous).outcome(Outcome::Denied);
        store::sessions::revoke_family_of_spent(&db, &hash, &audit)?;
        return Err(ApiError::Unauthorized("The refresh token is not valid"));
    };
    let staff = staff_claim(rotated.is_staff, rotated.has_mfa)?;
    let session = Session::with_refresh(&tokens, rotated.user_id, staff, child, rotated.family_id)?;
    Ok(Reply::ok(200, "Token refreshed", session.tokens(None)))
}
