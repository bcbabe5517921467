//! `POST /api/v1/auth/logout/`: end a session (the refresh token's family),
//! or with `all: true` every session of its user. Logging out twice is fine;
//! a token the service never issued is a 401.

use component_kit::db::Db;
use component_kit::{ApiError, ApiRequest, Reply, store};
use serde_json::json;
use user_domain::secrets::digest;
use user_domain::validation::Fields;

pub fn handle(request: &ApiRequest) -> Result<Reply, ApiError> {
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let token = fields.required_str("refresh_token");
    let all = fields.optional_bool("all").unwrap_or(false);
    fields.finish()?;
    let hash = digest(token.ok_or_else(|| ApiError::internal("validated field missing"))?);
    let db = Db::connect()?;
    let count =
        store::sessions::log_out(&db, &hash, all)?.ok_or(ApiError::Unauthorized("The refresh token is not valid"))?;
    let message = if all { "Logged out of every session" } else { "Logged out" };
    Ok(Reply::ok(200, message, json!({"revoked_tokens": count})))
}
