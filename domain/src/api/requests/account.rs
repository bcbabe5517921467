//! Bodies of the account endpoints: registration, the profile, devices,
//! staff changes and test notifications (preferences: [`super::preferences`]).

use serde_json::{Map, Value};

use crate::device::{DeviceName, DeviceToken, Platform};
use crate::email::Email;
use crate::error::ApiError;
use crate::name::UserName;
use crate::password::{Password, PasswordContext};
use crate::preferences::{CategoryConfig, CategoryName};
use crate::push_token::PushToken;
use crate::user_id::UserId;
use crate::validation::{Fields, Patch, complete};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// Notification channels chosen at registration; an absent one stays on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreferencesInput {
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub email: Option<bool>,
    #[cfg_attr(feature = "openapi", schema(default = true))]
    pub push: Option<bool>,
}

/// `POST /api/v1/users/`.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct RegisterRequest {
    pub name: UserName,
    pub email: Email,
    /// Also refused when all digits, close to the email or name, or common.
    pub password: Password,
    pub push_token: Option<PushToken>,
    pub preferences: Option<PreferencesInput>,
}

impl RegisterRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let name = fields.required_str("name").and_then(|raw| fields.check("name", UserName::parse(raw)));
        let email = fields.required_str("email").and_then(|raw| fields.check("email", Email::parse(raw)));
        let password = fields.required_str("password").and_then(|raw| {
            let context =
                PasswordContext { email: email.as_ref().map(AsRef::as_ref), name: name.as_ref().map(AsRef::as_ref) };
            fields.check_all("password", Password::parse(raw, &context))
        });
        let push_token = fields.optional("push_token", PushToken::parse);
        let preferences = fields.optional_object("preferences").map(|object| {
            let mut preferences = PreferencesInput::default();
            for (key, target) in [("email", &mut preferences.email), ("push", &mut preferences.push)] {
                match object.get(key) {
                    None | Some(Value::Null) => {}
                    Some(Value::Bool(value)) => *target = Some(*value),
                    Some(_) => fields.problem(&format!("preferences.{key}"), "must be true or false"),
                }
            }
            preferences
        });
        fields.finish()?;
        Ok(Self {
            name: complete(name)?,
            email: complete(email)?,
            password: complete(password)?,
            push_token,
            preferences,
        })
    }
}

/// `POST /api/v1/users/devices/`: a device of the caller's, by the token its
/// platform's provider issued.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DeviceRequest {
    pub token: DeviceToken,
    /// `ios`, `android` or `web`.
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^(ios|android|web)$"))]
    pub platform: Platform,
    pub name: Option<DeviceName>,
}

impl DeviceRequest {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let token = fields.required_str("token").and_then(|raw| fields.check("token", DeviceToken::parse(raw)));
        let platform = fields.required_str("platform").and_then(|raw| fields.check("platform", Platform::parse(raw)));
        let name = fields.optional("name", DeviceName::parse);
        fields.finish()?;
        Ok(Self { token: complete(token)?, platform: complete(platform)?, name })
    }
}

/// `PATCH /api/v1/users/profile/`: only the fields given change; a
/// `push_token` of null clears it.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProfilePatch {
    /// Cannot be null.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<UserName>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PushToken>))]
    pub push_token: Patch<PushToken>,
}

impl ProfilePatch {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let name = match fields.optional_str("name") {
            Patch::Value(raw) => fields.check("name", UserName::parse(raw)),
            Patch::Null => {
                fields.problem("name", "cannot be null");
                None
            }
            Patch::Absent => None,
        };
        let push_token = push_token(&mut fields, Patch::Absent);
        fields.finish()?;
        Ok(Self { name, push_token })
    }
}

/// `PUT /api/v1/users/profile/`: every editable field; an absent or null
/// `push_token` clears it.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ProfileReplace {
    pub name: UserName,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<PushToken>))]
    pub push_token: Patch<PushToken>,
}

impl ProfileReplace {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let name = fields.required_str("name").and_then(|raw| fields.check("name", UserName::parse(raw)));
        let push_token = push_token(&mut fields, Patch::Null);
        fields.finish()?;
        Ok(Self { name: complete(name)?, push_token })
    }
}

/// `push_token` of a profile change; `absent` is what leaving it out means.
fn push_token(fields: &mut Fields<'_>, absent: Patch<PushToken>) -> Patch<PushToken> {
    match fields.optional_str("push_token") {
        Patch::Value(raw) => fields.check("push_token", PushToken::parse(raw)).map_or(Patch::Absent, Patch::Value),
        Patch::Null => Patch::Null,
        Patch::Absent => absent,
    }
}

/// `PATCH /api/v1/users/{id}/` (staff). Staff cannot deactivate or demote
/// themselves (400).
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct StaffUserPatch {
    pub is_active: Option<bool>,
    pub is_staff: Option<bool>,
    /// Cannot be null.
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<UserName>,
}

impl StaffUserPatch {
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
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
        fields.finish()?;
        Ok(Self { is_active, is_staff, name })
    }
}

/// `POST /api/v1/notifications/test/` (staff).
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct TestNotificationRequest {
    pub user_id: UserId,
    /// Trimmed, 1 to 100 characters; `test_notification` when absent or null.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::api::schema::TemplateCode>))]
    pub template_code: String,
    /// Template variables, passed on as they are.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::api::schema::JsonObject>))]
    pub variables: Map<String, Value>,
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>, minimum = 0, maximum = 10, default = 5))]
    pub priority: i64,
    /// Passed on, with `correlation_id` and `requested_by` added.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::api::schema::JsonObject>))]
    pub metadata: Map<String, Value>,
    /// The notification category the message carries, so operators can
    /// check what the worker does with it (muted, held for quiet hours);
    /// absent or null: none, which the worker treats as `transactional`.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::api::schema::Category>))]
    pub category: Option<CategoryName>,
}

impl TestNotificationRequest {
    pub const DEFAULT_TEMPLATE: &str = "test_notification";
    pub const DEFAULT_PRIORITY: i64 = 5;

    pub fn parse(body: &Value, config: &CategoryConfig) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let user_id = fields.required_str("user_id").and_then(|raw| fields.check("user_id", UserId::parse(raw)));
        let category = fields.optional("category", |name| {
            config.categories().iter().find(|c| c.as_ref() == name).cloned().ok_or_else(|| {
                let names: Vec<&str> = config.categories().iter().map(AsRef::as_ref).collect();
                format!("is not a notification category; they are {}", names.join(", "))
            })
        });
        let template_code = match fields.optional_str("template_code") {
            Patch::Value(code) if (1..=100).contains(&code.trim().chars().count()) => code.trim().to_owned(),
            Patch::Value(_) => {
                fields.problem("template_code", "must be 1 to 100 characters");
                String::new()
            }
            Patch::Absent | Patch::Null => Self::DEFAULT_TEMPLATE.to_owned(),
        };
        let variables = fields.optional_object("variables").cloned().unwrap_or_default();
        let metadata = fields.optional_object("metadata").cloned().unwrap_or_default();
        // A whole number in any JSON spelling: `2.0` is the integer 2 to JSON
        // Schema (and to the clients generated from the document).
        let priority = match body.get("priority") {
            None | Some(Value::Null) => Self::DEFAULT_PRIORITY,
            Some(value) => match value.as_f64() {
                Some(p) if p.fract() == 0.0 && (0.0..=10.0).contains(&p) => p as i64,
                _ => {
                    fields.problem("priority", "must be a whole number from 0 to 10");
                    Self::DEFAULT_PRIORITY
                }
            },
        };
        fields.finish()?;
        Ok(Self { user_id: complete(user_id)?, template_code, variables, priority, metadata, category })
    }
}

/// `POST /api/v1/internal/users/lookup/`: up to [`LookupRequest::MAX_IDS`]
/// user ids, so a broadcast to many users is a few calls, not one per user.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LookupRequest {
    /// User ids; repeats count once.
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 500))]
    pub ids: Vec<UserId>,
}

impl LookupRequest {
    pub const MAX_IDS: usize = 500;

    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let mut fields = Fields::of(body)?;
        let ids = fields.required_array("ids").and_then(|items| {
            if items.is_empty() || items.len() > Self::MAX_IDS {
                fields.problem("ids", format!("must hold 1 to {} ids", Self::MAX_IDS));
                return None;
            }
            let mut ids: Vec<UserId> = Vec::with_capacity(items.len());
            let mut bad = false;
            for item in items {
                match item.as_str().map(UserId::parse) {
                    Some(Ok(id)) if !ids.contains(&id) => ids.push(id),
                    Some(Ok(_)) => {}
                    _ => bad = true,
                }
            }
            if bad {
                fields.problem("ids", "must be user ids (UUIDs)");
                return None;
            }
            Some(ids)
        });
        fields.finish()?;
        Ok(Self { ids: complete(ids)? })
    }
}
