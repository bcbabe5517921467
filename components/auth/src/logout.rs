//! `POST /api/v1/auth/logout/`: end a session (the refresh token's family),
//! or with `all: true` every session of its user. Logging out twice is fine;
//! a token the service never issued is a 401.

use component_kit::db::{Db, param};
use component_kit::{ApiError, ApiRequest, Reply};
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
    let scope = if all { "user_id" } else { "family_id" };
    let revoked = db.query(
        &format!(
            "WITH target AS (SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1), \
             revoked AS ( \
                 UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = $2 \
                 WHERE revoked_at IS NULL AND {scope} IN (SELECT {scope} FROM target) RETURNING id \
             ) \
             SELECT (SELECT count(*) FROM target) AS known, (SELECT count(*) FROM revoked) AS revoked"
        ),
        &[param::text(hash), param::text(if all { "logout_all" } else { "logout" })],
    )?;
    let row = revoked.rows().next().ok_or_else(|| ApiError::internal("logout returned no row"))?;
    if row.get::<i64>("known").unwrap_or(0) == 0 {
        return Err(ApiError::Unauthorized("The refresh token is not valid"));
    }
    let count = row.get::<i64>("revoked").unwrap_or(0);
    let message = if all { "Logged out of every session" } else { "Logged out" };
    Ok(Reply::ok(200, message, json!({"revoked_tokens": count})))
}
