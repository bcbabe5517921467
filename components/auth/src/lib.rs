//! # auth component
//!
//! Sessions and credentials: every `/api/v1/auth/...` endpoint, the JWKS at
//! `/.well-known/jwks.json`, token introspection for gateways, and the 404
//! of every path no other component serves (registration lives in the users
//! component, which owns `/api/v1/users/`). Which endpoint is which, and who
//! may call it, is the endpoint table's (`user_domain::api::endpoints`);
//! this file names the handler of each, one module per area.

mod email_code;
mod introspect;
mod login;
mod logout;
mod mfa;
mod passkeys;
mod password;
mod refresh;
mod sessions;
mod signin;
mod verification;

use component_kit::audit_trail::{self, Viewer};
use component_kit::reply::respond;
use component_kit::router::{self, Handler};
use component_kit::{ApiError, ApiRequest, Reply, config};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use user_domain::api::endpoints::{Component, Op};

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = ApiRequest::read(request).await;
    let result = router::serve(&request, Component::Auth, handler);
    respond(out, &request, result)
}

/// The handler of each of this component's endpoints.
fn handler(op: Op) -> Option<Handler> {
    Some(match op {
        Op::Jwks | Op::JwksUnderApi => |_, _| jwks(),
        Op::Login => login::handle,
        Op::LoginMfa => mfa::complete_login,
        Op::Refresh => refresh::handle,
        Op::Logout => logout::handle,
        Op::Introspect => introspect::handle,
        Op::VerifyEmail => verification::verify,
        Op::ResendVerification => verification::resend,
        Op::RequestPasswordReset => password::request_reset,
        Op::ConfirmPasswordReset => password::confirm_reset,
        Op::ChangePassword => password::change,
        Op::RequestEmailCode => email_code::request_code,
        Op::VerifyEmailCode => email_code::verify_code,
        Op::ListOwnSessions => sessions::list,
        Op::EndOwnSession => sessions::end,
        Op::OwnAudit => |request, ctx| {
            let (db, user) = ctx.account()?;
            audit_trail::page(&db, request, user.id, Viewer::Owner)
        },
        Op::StartMfa => mfa::enrol,
        Op::DisableMfa => mfa::disable,
        Op::ConfirmMfa => mfa::confirm,
        Op::ReplaceRecoveryCodes => mfa::replace_recovery_codes,
        Op::PasskeyRegisterOptions => passkeys::register_options,
        Op::RegisterPasskey => passkeys::register,
        Op::PasskeyLoginOptions => passkeys::login_options,
        Op::PasskeyLogin => passkeys::login,
        Op::ListPasskeys => passkeys::list,
        Op::RemovePasskey => passkeys::remove,
        _ => return None,
    })
}

/// The public keys access tokens verify with, for gateways and edge
/// functions. They change only at a rotation, announced ahead through the
/// next key, so caches may keep the set for five minutes.
fn jwks() -> Result<Reply, ApiError> {
    let keys = config::tokens()?.jwks();
    let body = serde_json::to_vec(&keys).map_err(ApiError::internal)?;
    Ok(Reply {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/jwk-set+json".into()),
            ("cache-control".into(), "public, max-age=300".into()),
        ],
        body,
        replay: Default::default(),
    })
}
