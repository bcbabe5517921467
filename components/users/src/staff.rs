//! Staff administration: `GET /api/v1/users/` (paginated, `?search=` on
//! email or name, `?is_active=`), and `GET`, `PATCH` (`is_active`,
//! `is_staff`, `name`), `DELETE /api/v1/users/{id}/`. Staff cannot demote,
//! deactivate or delete themselves, so an instance cannot lock itself out by
//! accident. DELETE erases the account; deactivation is `PATCH is_active`.

use component_kit::auth;
use component_kit::cache::Cache;
use component_kit::db::{Db, param};
use component_kit::users::{self, COLUMNS, UserRecord};
use component_kit::{ApiError, ApiRequest, Reply};
use serde_json::{Value, json};
use user_domain::envelope::{Envelope, PageMeta};
use user_domain::validation::{Fields, Patch};
use user_domain::{UserId, UserName};

const DEFAULT_LIMIT: u64 = 20;
const MAX_LIMIT: u64 = 100;

fn number(request: &ApiRequest, name: &str, default: u64, max: u64) -> Result<u64, ApiError> {
    match request.query_param(name) {
        None => Ok(default),
        Some(raw) => match raw.parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::validation_of(name, &format!("must be a whole number from 1 to {max}"))),
        },
    }
}

pub fn list(request: &ApiRequest) -> Result<Reply, ApiError> {
    auth::staff(request)?;
    let page = number(request, "page", 1, u64::from(u32::MAX))?;
    let limit = number(request, "limit", DEFAULT_LIMIT, MAX_LIMIT)?;
    let is_active = match request.query_param("is_active").as_deref() {
        None | Some("") => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(ApiError::validation_of("is_active", "must be true or false")),
    };
    let search = request.query_param("search").map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).map(|s| {
        // The caller's % and _ are literal characters, not wildcards.
        format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
    });
    let filter =
        "($1::text IS NULL OR u.email ILIKE $1 OR u.name ILIKE $1) AND ($2::boolean IS NULL OR u.is_active = $2)";
    let filters = [param::opt_text(search), is_active.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::boolean)];

    let db = Db::connect()?;
    let total = db.query(&format!("SELECT count(*) AS total FROM users u WHERE {filter}"), &filters)?;
    let total = total.rows().next().and_then(|row| row.get::<i64>("total")).unwrap_or(0).max(0) as u64;
    let mut params = filters.to_vec();
    params.push(param::int(limit as i64));
    params.push(param::int(((page - 1) * limit) as i64));
    let rows = db.query(
        &format!(
            "SELECT {COLUMNS} FROM users u JOIN user_preferences p ON p.id = u.preferences_id WHERE {filter} \
             ORDER BY u.created_at DESC, u.id LIMIT $3 OFFSET $4"
        ),
        &params,
    )?;
    let users: Vec<Value> =
        rows.rows().map(|row| UserRecord::from_row(&row).map(|u| u.to_json())).collect::<Result<_, _>>()?;
    let envelope =
        Envelope { meta: Some(PageMeta::new(total, page, limit)), ..Envelope::ok("Users", Value::Array(users)) };
    Ok(Reply::json(200, &envelope))
}

pub fn get(request: &ApiRequest, id: UserId) -> Result<Reply, ApiError> {
    auth::staff(request)?;
    let db = Db::connect()?;
    let user = users::load(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    Ok(Reply::ok(200, "User", user.to_json()))
}

pub fn update(request: &ApiRequest, cache: Option<&Cache>, id: UserId) -> Result<Reply, ApiError> {
    let caller = auth::staff(request)?;
    let body = request.json()?;
    let mut fields = Fields::of(&body)?;
    let is_active = fields.optional_bool("is_active");
    let is_staff = fields.optional_bool("is_staff");
    let name = match fields.optional_str("name") {
        Patch::Value(raw) => fields.check("name", UserName::parse(raw)),
        Patch::Null => {
            fields.problem("name", "cannot be null");
            None
        }
        Patch::Absent => None,
    };
    if caller.user_id == id {
        if is_active == Some(false) {
            fields.problem("is_active", "staff cannot deactivate themselves");
        }
        if is_staff == Some(false) {
            fields.problem("is_staff", "staff cannot remove their own staff access");
        }
    }
    fields.finish()?;

    let db = Db::connect()?;
    let updated = db.query(
        "WITH updated AS ( \
             UPDATE users SET is_active = COALESCE($2, is_active), is_staff = COALESCE($3, is_staff), \
                    name = COALESCE($4, name), updated_at = now() \
             WHERE id = $1 RETURNING id, is_active \
         ), revoked AS ( \
             UPDATE refresh_tokens SET revoked_at = now(), revoked_reason = 'deactivated_by_staff' \
             WHERE user_id IN (SELECT id FROM updated WHERE NOT is_active) AND revoked_at IS NULL \
         ) SELECT id FROM updated",
        &[
            param::uuid(id),
            is_active.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::boolean),
            is_staff.map_or(spin_sdk::pg4::ParameterValue::DbNull, param::boolean),
            param::opt_text(name.map(UserName::into_inner)),
        ],
    )?;
    if updated.rows.is_empty() {
        return Err(ApiError::NotFound("User"));
    }
    users::invalidate(cache, id);
    let user = users::load(&db, id)?.ok_or(ApiError::NotFound("User"))?;
    Ok(Reply::ok(200, "User updated", user.to_json()))
}

pub fn delete(request: &ApiRequest, cache: Option<&Cache>, id: UserId) -> Result<Reply, ApiError> {
    let caller = auth::staff(request)?;
    if caller.user_id == id {
        return Err(ApiError::validation_of("id", "staff cannot delete themselves"));
    }
    let db = Db::connect()?;
    let deleted = db.query(
        "WITH gone AS (DELETE FROM users WHERE id = $1 RETURNING id, preferences_id), \
              prefs AS (DELETE FROM user_preferences WHERE id IN (SELECT preferences_id FROM gone)) \
         SELECT id FROM gone",
        &[param::uuid(id)],
    )?;
    if deleted.rows.is_empty() {
        return Err(ApiError::NotFound("User"));
    }
    users::invalidate(cache, id);
    Ok(Reply::ok(200, "User deleted", json!({"id": id, "deleted": true})))
}
