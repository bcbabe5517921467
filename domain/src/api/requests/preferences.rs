//! Bodies of `PUT` and `PATCH /api/v1/users/preferences/`. Both end in the
//! same reader of a whole preferences document, which files every problem
//! under its field's path (`categories.marketing.email`), so PUT and PATCH
//! cannot disagree on a rule. Both need the [`CategoryConfig`]: which
//! categories exist and which cannot be muted is configuration.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::account::PreferencesInput;
use crate::error::{ApiError, FieldErrors};
use crate::merge_patch::merge_patch;
use crate::preferences::{
    CategoryConfig, CategoryName, Channel, ChannelSwitches, Locale, NotificationPreferences, QuietHours, TimeOfDay,
    Zone,
};
use crate::validation::{Fields, Patch, complete};

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `PUT /api/v1/users/preferences/`: the whole stored preferences. `email`
/// and `push` are required, as they always were; the rest may be left out
/// (or null): no category overrides, no quiet hours, no locale.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreferencesReplace {
    pub email: bool,
    pub push: bool,
    /// Switches of the configured categories (by default `transactional`,
    /// `security`, `account`, `marketing`, `reminders`); any other name is
    /// refused (400), and so is `false` for a required one (`security`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::api::schema::CategoryOverrides>))]
    pub categories: BTreeMap<CategoryName, ChannelSwitches>,
    pub quiet_hours: Option<QuietHours>,
    /// A BCP 47 language tag (`en`, `pt-BR`, `zh-Hant-TW`), at most 35 characters.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", max_length = 35, example = "pt-BR"))]
    pub locale: Option<Locale>,
}

impl PreferencesReplace {
    pub fn parse(body: &Value, config: &CategoryConfig) -> Result<Self, ApiError> {
        let NotificationPreferences { email, push, categories, quiet_hours, locale } =
            read(body, config, Origin::Body)?;
        Ok(Self { email, push, categories, quiet_hours, locale })
    }
}

impl From<PreferencesReplace> for NotificationPreferences {
    fn from(body: PreferencesReplace) -> Self {
        let PreferencesReplace { email, push, categories, quiet_hours, locale } = body;
        Self { email, push, categories, quiet_hours, locale }
    }
}

/// `PATCH /api/v1/users/preferences/`: a JSON merge patch (RFC 7396) of the
/// stored preferences. Members given replace those stored, objects merge
/// member by member, and `null` removes: a category's override (back to
/// on), one channel's override, the quiet hours, the locale, or with
/// `"categories": null` every override. A `null` `email` or `push` leaves
/// that switch as it is, as it always did.
// The fields are only the body's schema: [`PreferencesPatch::apply`] reads
// the body whole, and the document's tests hold the two together.
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct PreferencesPatch {
    pub email: Option<bool>,
    pub push: Option<bool>,
    /// Merged into the stored overrides. Configured categories only, and
    /// `false` is refused for a required one (`security`).
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::api::schema::CategoryOverrides>))]
    pub categories: Option<BTreeMap<CategoryName, Option<ChannelSwitches>>>,
    /// Merged into the stored quiet hours: all three members must be there
    /// once merged. Null removes them.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<crate::api::schema::QuietHoursPatch>))]
    pub quiet_hours: Patch<QuietHours>,
    /// A BCP 47 language tag (`en`, `pt-BR`, `zh-Hant-TW`), at most 35
    /// characters; null removes it.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$", max_length = 35, example = "pt-BR"))]
    pub locale: Patch<Locale>,
}

impl PreferencesPatch {
    /// The stored preferences after `body` is merged into `current` (the
    /// stored ones, as read from the database): the handler saves the
    /// result and answers with [`NotificationPreferences::effective`] of it.
    /// A PATCH is a read-modify-write: the handler must keep a concurrent
    /// one from slipping between its read and its write.
    pub fn apply(
        current: &NotificationPreferences,
        body: &Value,
        config: &CategoryConfig,
    ) -> Result<NotificationPreferences, ApiError> {
        // Not an object: refused as every other body is, rather than merged
        // (RFC 7396 would replace the whole document with it).
        Fields::of(body)?;
        let mut patch = body.clone();
        if let Value::Object(members) = &mut patch {
            members.retain(|name, value| !(value.is_null() && (name == "email" || name == "push")));
        }
        let mut document = serde_json::to_value(current.clone().pruned(config)).map_err(ApiError::internal)?;
        merge_patch(&mut document, &patch);
        read(&document, config, Origin::Merged)
    }
}

/// Registration's two channels, as stored: a left-out one is on.
impl From<PreferencesInput> for NotificationPreferences {
    fn from(input: PreferencesInput) -> Self {
        Self::with_channels(input.email.unwrap_or(true), input.push.unwrap_or(true))
    }
}

/// A whole preferences document (a PUT body, or the stored preferences with
/// a PATCH merged in); null members are as if left out. A malformed field is
/// a 400; well-formed fields that break a rule (a required category muted,
/// an empty quiet-hours window) are a 422 (`rule_violated`), since no
/// schema can say them and a client that follows the schema must still be
/// told apart from one that does not.
/// Where a document came from decides what a missing quiet-hours member is:
/// in a body, the client left out what the schema requires (400); after a
/// merge, the patch was valid but what is stored could not complete it (422).
#[derive(Clone, Copy)]
enum Origin {
    Body,
    Merged,
}

fn read(body: &Value, config: &CategoryConfig, origin: Origin) -> Result<NotificationPreferences, ApiError> {
    let mut fields = Fields::of(body)?;
    let mut rules = FieldErrors::new();
    let [email, push] = ["email", "push"].map(|name| {
        let value = fields.optional_bool(name);
        if value.is_none() && matches!(body.get(name), None | Some(Value::Null)) {
            fields.problem(name, "is required");
        }
        value
    });
    let categories =
        fields.optional_object("categories").map(|object| read_categories(&mut fields, &mut rules, object, config));
    let quiet_hours = fields
        .optional_object("quiet_hours")
        .and_then(|object| read_quiet_hours(&mut fields, &mut rules, object, origin));
    let locale = fields.optional("locale", Locale::parse);
    fields.finish()?;
    if !rules.is_empty() {
        return Err(ApiError::RuleViolated(rules));
    }
    Ok(NotificationPreferences {
        email: complete(email)?,
        push: complete(push)?,
        categories: categories.unwrap_or_default(),
        quiet_hours,
        locale,
    })
}

fn read_categories(
    fields: &mut Fields<'_>,
    rules: &mut FieldErrors,
    object: &Map<String, Value>,
    config: &CategoryConfig,
) -> BTreeMap<CategoryName, ChannelSwitches> {
    let mut categories = BTreeMap::new();
    for (name, value) in object {
        let path = format!("categories.{name}");
        let known = config.categories().iter().find(|c| c.as_ref() == name.as_str());
        let Some(category) = known else {
            let names: Vec<&str> = config.categories().iter().map(AsRef::as_ref).collect();
            fields.problem(&path, format!("is not a notification category; they are {}", names.join(", ")));
            continue;
        };
        let channels = match value {
            Value::Null => continue,
            Value::Object(channels) => channels,
            _ => {
                fields.problem(&path, "must be an object");
                continue;
            }
        };
        let mut switches = ChannelSwitches::ON;
        for (key, value) in channels {
            let path = format!("{path}.{key}");
            let Some(channel) = Channel::parse(key) else {
                fields.problem(&path, "is not a channel; they are email, push");
                continue;
            };
            match value {
                Value::Null => {}
                Value::Bool(false) if config.is_required(name) => {
                    rules.entry(path).or_default().push(format!("cannot be muted: {name} is a required category"));
                }
                Value::Bool(on) => switches.set(channel, *on),
                _ => fields.problem(&path, "must be true or false"),
            }
        }
        categories.insert(category.clone(), switches);
    }
    categories
}

fn read_quiet_hours(
    fields: &mut Fields<'_>,
    rules: &mut FieldErrors,
    object: &Map<String, Value>,
    origin: Origin,
) -> Option<QuietHours> {
    let mut member = |name: &str| {
        let path = format!("quiet_hours.{name}");
        match object.get(name) {
            Some(Value::String(raw)) => Some((path, raw.as_str())),
            None | Some(Value::Null) => {
                match origin {
                    Origin::Body => fields.problem(&path, "is required"),
                    Origin::Merged => rules
                        .entry(path)
                        .or_default()
                        .push("is required: the stored quiet hours do not have it, so the patch must".into()),
                }
                None
            }
            Some(_) => {
                fields.problem(&path, "must be a string");
                None
            }
        }
    };
    let [start, end, timezone] = ["start", "end", "timezone"].map(&mut member);
    let start = start.and_then(|(path, raw)| fields.check(&path, TimeOfDay::parse(raw)));
    let end = end.and_then(|(path, raw)| fields.check(&path, TimeOfDay::parse(raw)));
    let timezone = timezone.and_then(|(path, raw)| fields.check(&path, Zone::parse(raw)));
    QuietHours::new(start?, end?, timezone?)
        .map_err(|problem| rules.entry("quiet_hours.end".to_owned()).or_default().push(problem.to_string()))
        .ok()
}

#[cfg(test)]
mod tests;
