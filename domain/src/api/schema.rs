//! Schemas of the parsed input types, written beside nothing else: each says
//! in JSON Schema what the type's `parse` accepts, using the type's own
//! limits, so a generator (Schemathesis) that follows a schema gets an
//! accepted value and one that breaks it gets a 400.
//!
//! Patterns are ECMA-262 and Python `re` alike (no lookaround). Where a rule
//! cannot be a pattern (a password too close to the email), the description
//! says so.

use std::borrow::Cow;

use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{PartialSchema, ToSchema};

use crate::device::{DeviceName, DeviceToken};
use crate::email::Email;
use crate::name::UserName;
use crate::password::Password;
use crate::push_token::PushToken;
use crate::user_id::UserId;

/// Rust's `char::is_control` (Unicode Cc), as a character-class body.
pub const CONTROL: &str = r"\x00-\x1F\x7F-\x9F";
/// Rust's `char::is_whitespace`, what `str::trim` takes off.
pub const SPACE: &str = r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// A string the body check accepts: no NUL anywhere (PostgreSQL refuses it).
pub const NO_NUL: &str = r"^[^\x00]*$";

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String).description(Some(description))
}

fn done(builder: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(builder.build()))
}

impl PartialSchema for Email {
    fn schema() -> RefOr<Schema> {
        // Dots in the local part and domains of more than three labels are
        // accepted too; the pattern keeps to a shape that is always
        // accepted, and within 254 characters (64 + 1 + 2 × 64 + 61).
        let atom = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]";
        let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
        done(
            string("Stored trimmed and lower-cased; unique regardless of case.")
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
                .max_length(Some(254))
                .pattern(Some(format!(r"^{atom}{{1,64}}@(?:{label}\.){{1,2}}[A-Za-z]{{2,61}}$")))
                .examples(["ada@example.com"]),
        )
    }
}

impl ToSchema for Email {
    fn name() -> Cow<'static, str> {
        "Email".into()
    }
}

impl PartialSchema for UserName {
    fn schema() -> RefOr<Schema> {
        let max = UserName::MAX_CHARS;
        // Trimmed, then 1 to MAX characters with no control character: the
        // first and last kept characters are neither space nor control.
        let edge = format!("[^{CONTROL}{SPACE}]");
        done(
            string("Trimmed; 1 to 100 characters, no control characters.")
                .min_length(Some(1))
                .pattern(Some(format!(
                    r"^[{SPACE}]*{edge}(?:[^{CONTROL}]{{0,{inner}}}{edge})?[{SPACE}]*$",
                    inner = max - 2
                )))
                .examples(["Ada Lovelace"]),
        )
    }
}

impl ToSchema for UserName {
    fn name() -> Cow<'static, str> {
        "UserName".into()
    }
}

impl PartialSchema for Password {
    fn schema() -> RefOr<Schema> {
        done(
            string(
                "8 to 128 characters, not all digits. Also refused (400, not expressible here): a \
                 common password, or one too close to the account's email or name.",
            )
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password)))
            .min_length(Some(Password::MIN_CHARS))
            .max_length(Some(Password::MAX_CHARS))
            .pattern(Some(r"^[^\x00]*[^0-9\x00][^\x00]*$".to_owned()))
            .examples(["correct horse battery staple"]),
        )
    }
}

impl ToSchema for Password {
    fn name() -> Cow<'static, str> {
        "Password".into()
    }
}

impl PartialSchema for PushToken {
    fn schema() -> RefOr<Schema> {
        done(
            string(
                "The device's token as the push provider issued it: trimmed, then 1 to 512 characters, no whitespace.",
            )
            .pattern(Some(format!(r"^[{SPACE}]*[^{CONTROL}{SPACE}]{{1,{}}}[{SPACE}]*$", PushToken::MAX_CHARS)))
            .examples(["fcm:dGVzdC10b2tlbg"]),
        )
    }
}

impl ToSchema for PushToken {
    fn name() -> Cow<'static, str> {
        "PushToken".into()
    }
}

impl PartialSchema for DeviceToken {
    fn schema() -> RefOr<Schema> {
        done(
            string("A device's token as its platform's provider issued it: trimmed, then 1 to 4096 characters, no whitespace.")
                .pattern(Some(format!(r"^[{SPACE}]*[^{CONTROL}{SPACE}]{{1,{}}}[{SPACE}]*$", DeviceToken::MAX_CHARS)))
                .examples(["fcm:dGVzdC10b2tlbg"]),
        )
    }
}

impl ToSchema for DeviceToken {
    fn name() -> Cow<'static, str> {
        "DeviceToken".into()
    }
}

impl PartialSchema for DeviceName {
    fn schema() -> RefOr<Schema> {
        done(
            string("What the user calls the device: trimmed, 1 to 100 characters, no control characters.")
                .pattern(Some(format!(
                    r"^[{SPACE}]*[^{CONTROL}{SPACE}](?:[^{CONTROL}]{{0,98}}[^{CONTROL}{SPACE}])?[{SPACE}]*$"
                )))
                .examples(["Ada's phone"]),
        )
    }
}

impl ToSchema for DeviceName {
    fn name() -> Cow<'static, str> {
        "DeviceName".into()
    }
}

impl PartialSchema for UserId {
    fn schema() -> RefOr<Schema> {
        done(string("A user's id.").format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))))
    }
}

impl ToSchema for UserId {
    fn name() -> Cow<'static, str> {
        "UserId".into()
    }
}

/// `template_code` of a test notification: trimmed, then 1 to 100
/// characters (no NUL, as in every body).
pub struct TemplateCode;

impl PartialSchema for TemplateCode {
    fn schema() -> RefOr<Schema> {
        let edge = format!("[^{SPACE}\\x00]");
        done(
            string("A template's code; trimmed, 1 to 100 characters.")
                .min_length(Some(1))
                .pattern(Some(format!(r"^[{SPACE}]*{edge}(?:[^\x00]{{0,98}}{edge})?[{SPACE}]*$")))
                .default(Some("test_notification".into())),
        )
    }
}

impl ToSchema for TemplateCode {
    fn name() -> Cow<'static, str> {
        "TemplateCode".into()
    }
}

/// A JSON object passed on as it is (template variables, metadata): any
/// keys and values a body may carry (see `JsonValue` in the document).
pub struct JsonObject;

impl PartialSchema for JsonObject {
    fn schema() -> RefOr<Schema> {
        let value: RefOr<Schema> = utoipa::openapi::Ref::from_schema_name("JsonValue").into();
        done(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .property_names(Some(ObjectBuilder::new().schema_type(Type::String).pattern(Some(NO_NUL))))
                .additional_properties(Some(value)),
        )
    }
}

impl ToSchema for JsonObject {
    fn name() -> Cow<'static, str> {
        "JsonObject".into()
    }
}

/// A category's switches in a PUT or PATCH body: a channel left out or null
/// is on (PATCH: stays as stored); any other member is refused, since a
/// misspelt channel would otherwise silently change nothing.
#[derive(ToSchema)]
// Only the schema's `additionalProperties: false`: nothing deserialises this.
#[serde(deny_unknown_fields)]
pub struct CategorySwitchesInput {
    pub email: Option<bool>,
    pub push: Option<bool>,
}

/// A category's value in a PUT or PATCH body: its switches, or null (PUT:
/// no override; PATCH: the override removed, the category back to on).
pub struct CategoryOverride;

impl PartialSchema for CategoryOverride {
    fn schema() -> RefOr<Schema> {
        let switches: RefOr<Schema> = utoipa::openapi::Ref::from_schema_name(CategorySwitchesInput::name()).into();
        let null = ObjectBuilder::new().schema_type(Type::Null);
        RefOr::T(Schema::OneOf(OneOfBuilder::new().item(switches).item(null).build()))
    }
}

impl ToSchema for CategoryOverride {
    fn name() -> Cow<'static, str> {
        "CategoryOverride".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((CategorySwitchesInput::name().into_owned(), CategorySwitchesInput::schema()));
    }
}

/// One category name, as a message names it: the default configuration's,
/// as for [`CategoryOverrides`].
pub struct Category;

impl PartialSchema for Category {
    fn schema() -> RefOr<Schema> {
        let names: Vec<&str> = crate::preferences::config::DEFAULT_CATEGORIES.split(',').map(str::trim).collect();
        done(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("A configured category (`notification_categories`)."))
                .enum_values(Some(names)),
        )
    }
}

impl ToSchema for Category {
    fn name() -> Cow<'static, str> {
        "Category".into()
    }
}

/// The `categories` of a PUT or PATCH body: configured category names to
/// their switches. The names are the deployment's `notification_categories`;
/// this document is built with the default list, so a generator that follows
/// it sends only names the default configuration knows.
pub struct CategoryOverrides;

impl PartialSchema for CategoryOverrides {
    fn schema() -> RefOr<Schema> {
        let names: Vec<&str> = crate::preferences::config::DEFAULT_CATEGORIES.split(',').map(str::trim).collect();
        let value: RefOr<Schema> = utoipa::openapi::Ref::from_schema_name(CategoryOverride::name()).into();
        done(
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(format!(
                    "Configured categories only (`notification_categories`; by default {}); `false` for a \
                     required one (`notification_required_categories`, by default security) is a 422.",
                    names.join(", ")
                )))
                .property_names(Some(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(names))))
                .additional_properties(Some(value)),
        )
    }
}

impl ToSchema for CategoryOverrides {
    fn name() -> Cow<'static, str> {
        "CategoryOverrides".into()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((CategoryOverride::name().into_owned(), CategoryOverride::schema()));
        CategoryOverride::schemas(schemas);
    }
}

/// Quiet hours in a PATCH body, merged into the stored ones: once merged,
/// all three members must be there (a 422 if not: whether they are depends
/// on what is stored, which no schema can say). Times `HH:MM` (00:00 to 23:59), start
/// not equal to end; a start after the end spans midnight.
#[derive(ToSchema)]
pub struct QuietHoursPatch {
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "22:00")]
    pub start: Option<String>,
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "07:00")]
    pub end: Option<String>,
    /// An IANA time zone name.
    #[schema(value_type = Option<crate::preferences::quiet_hours::ZoneName>, example = "Europe/Berlin")]
    pub timezone: Option<String>,
}
