//! `POST /api/v1/auth/introspect/`: token introspection (RFC 7662) for
//! gateways. A gateway that verifies access tokens by the JWKS alone cannot
//! see that a session ended; one that asks here can. The caller presents
//! `X-Service-Key` and the token as `token` in a form (as the RFC has it)
//! or a JSON body; the answer is the RFC's object at the top level, not the
//! envelope. A token is active only if it verifies (access tokens) or is
//! live (refresh tokens), its session has not ended and its account is
//! active; anything else is `{"active": false}`, with nothing to tell why.

use component_kit::db::Db;
use component_kit::model::session::staff_claim;
use component_kit::router::Context;
use component_kit::{ApiError, ApiRequest, Reply, config, store};
use user_domain::amr::Methods;
use user_domain::api::requests::IntrospectRequest;
use user_domain::api::responses::Introspection;
use user_domain::secrets::digest;

/// The service key was checked by the router (the endpoint is `Service`'s).
pub fn handle(request: &ApiRequest, _ctx: &Context) -> Result<Reply, ApiError> {
    let IntrospectRequest { token, token_type_hint } = IntrospectRequest::parse(&request.form_or_json()?)?;
    let db = Db::connect()?;
    // The hint only orders the lookups (RFC 7662, section 2.1).
    let answer = if token_type_hint.as_deref() == Some("refresh_token") {
        match refresh_token(&db, &token)? {
            Some(answer) => answer,
            None => access_token(&db, &token)?.unwrap_or_default(),
        }
    } else {
        match access_token(&db, &token)? {
            Some(answer) => answer,
            None => refresh_token(&db, &token)?.unwrap_or_default(),
        }
    };
    let body = serde_json::to_vec(&answer).map_err(ApiError::internal)?;
    Ok(Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
        replay: Default::default(),
    })
}

/// An access token that verifies, of a live session of an active account.
fn access_token(db: &Db, token: &str) -> Result<Option<Introspection>, ApiError> {
    let tokens = config::tokens()?;
    let Ok(claims) = tokens.validate_access(token) else { return Ok(None) };
    let (Ok(user), Ok(session)) = (claims.user_id(), claims.session_id()) else { return Ok(None) };
    let Some(found) = store::users::signed_in(db, user, session)? else { return Ok(None) };
    if !found.session_live || !found.user.is_active {
        return Ok(None);
    }
    let amr = Methods::from_names(&found.amr);
    Ok(Some(Introspection {
        active: true,
        sub: Some(claims.sub),
        sid: Some(claims.sid),
        token_type: Some("access_token".into()),
        exp: Some(claims.exp),
        iat: Some(claims.iat),
        nbf: Some(claims.nbf),
        iss: Some(claims.iss),
        aud: Some(claims.aud),
        jti: Some(claims.jti),
        is_staff: Some(staff_claim(found.user.is_staff, &amr)?),
        amr: Some(amr.names().into_iter().map(str::to_owned).collect()),
    }))
}

/// A live refresh token: unspent, unexpired, of a live session of an
/// active account.
fn refresh_token(db: &Db, token: &str) -> Result<Option<Introspection>, ApiError> {
    let Some(state) = store::sessions::live_refresh(db, &digest(token))? else { return Ok(None) };
    let tokens = config::tokens()?;
    let amr = Methods::from_names(&state.amr);
    Ok(Some(Introspection {
        active: true,
        sub: Some(state.user_id.to_string()),
        sid: Some(state.session_id.to_string()),
        token_type: Some("refresh_token".into()),
        exp: Some(state.expires_at as u64),
        iat: Some(state.issued_at as u64),
        iss: Some(tokens.issuer.clone()),
        is_staff: Some(staff_claim(state.is_staff, &amr)?),
        amr: Some(amr.names().into_iter().map(str::to_owned).collect()),
        ..Default::default()
    }))
}
