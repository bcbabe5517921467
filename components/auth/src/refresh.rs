//! `POST /api/v1/auth/refresh/`: rotate a refresh token.
//!
//! Each refresh token is single use. Presenting it spends it and issues a
//! child in the same family (one family per login). Presenting a spent token
//! again means it was copied: the whole family is revoked, so neither the
//! thief nor the victim can go on with that session.

use component_kit::db::{Db, param};
use component_kit::sessions::{NewRefresh, Session, insert_refresh_sql};
use component_kit::{ApiError, ApiRequest, Reply, config};
use user_domain::UserId;
use user_domain::secrets::digest;
use user_domain::validation::Fields;

pub fn handle(request: &ApiRequest) -> Result<Reply, ApiError> {
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let token = fields.required_str("refresh_token");
    fields.finish()?;
    let token = token.ok_or_else(|| ApiError::internal("validated field missing"))?;
    let hash = digest(token);
    let db = Db::connect()?;
    let tokens = config::tokens()?;

    // The new token is drawn before we know whose it is: the user and staff
    // flag come back from the same statement that spends the old one.
    let child = NewRefresh::generate(&tokens)?;
    let [new_hash, new_expires] = child.params();
    let rotated = db.query(
        &format!(
            "WITH spent AS ( \
                 UPDATE refresh_tokens t SET spent_at = now() FROM users u \
                 WHERE t.token_hash = $1 AND t.spent_at IS NULL AND t.revoked_at IS NULL \
                   AND t.expires_at > now() AND u.id = t.user_id AND u.is_active \
                 RETURNING t.id, t.user_id, t.family_id, u.is_staff \
             ), child AS ({}) \
             SELECT user_id, is_staff FROM spent",
            insert_refresh_sql("spent.user_id", "spent.family_id", "spent.id", "spent", 2)
        ),
        &[param::text(hash.clone()), new_hash, new_expires],
    )?;
    let Some(row) = rotated.rows().next() else {
        // Spent before: a replay. Revoke everything descended from that login.
        db.execute(
            "UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'reuse_detected' \
             WHERE revoked_at IS NULL AND family_id IN \
               (SELECT family_id FROM refresh_tokens WHERE token_hash = $1 AND spent_at IS NOT NULL)",
            &[param::text(hash)],
        )?;
        return Err(ApiError::Unauthorized("The refresh token is not valid"));
    };
    let user: uuid::Uuid = row.get("user_id").ok_or_else(|| ApiError::internal("rotation returned no user"))?;
    let user = UserId::parse(&user.to_string()).map_err(ApiError::internal)?;
    let is_staff: bool = row.get("is_staff").unwrap_or(false);
    let session = Session::with_refresh(&tokens, user, is_staff, child)?;
    Ok(Reply::ok(200, "Token refreshed", session.to_json(None)))
}
