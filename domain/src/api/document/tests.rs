//! Checks of the document against the types and the endpoint table.

use serde_json::{Map, Value, json};

use super::super::endpoints::ENDPOINTS;
use super::super::requests::*;
use super::super::schema::NO_NUL;
use super::document;
use crate::error::ApiError;
use crate::preferences::{CategoryConfig, NotificationPreferences};

fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get("$ref") {
                found.push(reference.clone());
            }
            object.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let document = document();
    let mut found = Vec::new();
    references(&document, &mut found);
    assert!(found.len() > 100);
    for reference in found {
        assert!(document.pointer(reference.trim_start_matches('#')).is_some(), "{reference} does not resolve");
    }
}

#[test]
fn operation_ids_are_unique_and_links_name_real_ones() {
    let document = document();
    let mut ids = Vec::new();
    let mut targets = Vec::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            ids.push(operation["operationId"].as_str().unwrap().to_owned());
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response.get("links").and_then(Value::as_object).into_iter().flatten() {
                    targets.push(link.1["operationId"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "duplicate operation ids");
    assert!(!targets.is_empty());
    for target in targets {
        assert!(ids.contains(&target), "a link names {target}, which no operation is");
    }
}

#[test]
fn request_strings_refuse_nul_and_required_fields_follow_the_types() {
    let document = document();
    let login = &document["components"]["schemas"]["LoginRequest"];
    assert_eq!(login["properties"]["password"]["pattern"], NO_NUL);
    assert_eq!(login["required"], json!(["email", "password"]));
    let patch = &document["components"]["schemas"]["ProfilePatch"];
    assert!(patch.get("required").is_none_or(|r| r.as_array().unwrap().is_empty()), "{patch}");
}

/// The schema's property names come from the Rust fields, `parse` reads
/// string literals: a body giving every documented property a value of
/// the wrong kind must be refused naming exactly those properties, so the
/// two can never name different fields.
#[test]
fn every_documented_request_field_is_the_one_parse_reads() {
    type Parse = fn(&Value) -> Result<(), ApiError>;
    let parsers: [(&str, Parse); 23] = [
        ("LookupRequest", |b| LookupRequest::parse(b).map(drop)),
        ("DeviceRequest", |b| DeviceRequest::parse(b).map(drop)),
        ("PasswordRequest", |b| PasswordRequest::parse(b).map(drop)),
        ("IntrospectRequest", |b| IntrospectRequest::parse(b).map(drop)),
        ("RegisterRequest", |b| RegisterRequest::parse(b).map(drop)),
        ("LoginRequest", |b| LoginRequest::parse(b).map(drop)),
        ("MfaLoginRequest", |b| MfaLoginRequest::parse(b).map(drop)),
        ("RefreshRequest", |b| RefreshRequest::parse(b).map(drop)),
        ("LogoutRequest", |b| LogoutRequest::parse(b).map(drop)),
        ("TokenRequest", |b| TokenRequest::parse(b).map(drop)),
        ("ResetRequest", |b| ResetRequest::parse(b).map(drop)),
        ("ResetConfirmRequest", |b| ResetConfirmRequest::parse(b).map(drop)),
        ("EmailCodeRequest", |b| EmailCodeRequest::parse(b).map(drop)),
        ("EmailCodeVerifyRequest", |b| EmailCodeVerifyRequest::parse(b).map(drop)),
        ("PasswordChangeRequest", |b| PasswordChangeRequest::parse(b).map(drop)),
        ("PasswordAndCodeRequest", |b| PasswordAndCodeRequest::parse(b).map(drop)),
        ("CodeRequest", |b| CodeRequest::parse(b).map(drop)),
        ("ProfilePatch", |b| ProfilePatch::parse(b).map(drop)),
        ("ProfileReplace", |b| ProfileReplace::parse(b).map(drop)),
        ("PreferencesPatch", |b| {
            PreferencesPatch::apply(&NotificationPreferences::default(), b, &CategoryConfig::default()).map(drop)
        }),
        ("PreferencesReplace", |b| PreferencesReplace::parse(b, &CategoryConfig::default()).map(drop)),
        ("StaffUserPatch", |b| StaffUserPatch::parse(b).map(drop)),
        ("TestNotificationRequest", |b| TestNotificationRequest::parse(b, &CategoryConfig::default()).map(drop)),
    ];
    let document = document();
    for (name, parse) in parsers {
        let properties = document["components"]["schemas"][name]["properties"].as_object().unwrap();
        let body: Map<String, Value> = properties.keys().map(|field| (field.clone(), json!([]))).collect();
        let Err(ApiError::Validation(details)) = parse(&Value::Object(body)) else {
            panic!("{name}: wrong kinds everywhere were accepted")
        };
        let refused: Vec<&String> = details.keys().collect();
        let documented: Vec<&String> = properties.keys().collect();
        assert_eq!(refused, documented, "{name}");
    }
}

#[test]
fn every_documented_endpoint_of_the_table_has_one_operation_and_nothing_else_does() {
    let document = document();
    let paths = document["paths"].as_object().unwrap();
    let mut documented = 0;
    for endpoint in ENDPOINTS.iter().filter(|e| e.documented) {
        let method = endpoint.method.as_str().to_lowercase();
        assert!(
            paths.get(endpoint.path).and_then(|p| p.get(&method)).is_some(),
            "{method} {} is not documented",
            endpoint.path
        );
        documented += 1;
    }
    let operations: usize = paths.values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(operations, documented, "every operation is an endpoint of the table");
}

/// The patterns the document shows for preferences are the ones the types
/// check, and answers are documented with every member they always carry.
#[test]
fn preferences_schemas_follow_the_types() {
    use crate::preferences::{Locale, TimeOfDay, Zone};
    let document = document();
    let schemas = &document["components"]["schemas"];
    for member in ["start", "end"] {
        assert_eq!(schemas["QuietHours"]["properties"][member]["pattern"], TimeOfDay::PATTERN);
        assert_eq!(schemas["QuietHoursPatch"]["properties"][member]["pattern"], TimeOfDay::PATTERN);
    }
    // Zone names: exactly the database's, so a generator sends only real ones.
    let zones = &schemas["ZoneName"]["enum"];
    let names: Vec<&str> = crate::preferences::quiet_hours::zone_names().collect();
    assert_eq!(zones, &json!(names));
    assert!(names.len() > 400 && names.contains(&"Asia/Tokyo") && names.iter().all(|n| Zone::parse(n).is_ok()));
    for name in ["QuietHours", "QuietHoursPatch"] {
        let timezone = schemas[name]["properties"]["timezone"].to_string();
        assert!(timezone.contains("#/components/schemas/ZoneName"), "{name}: {timezone}");
    }
    for name in ["Preferences", "PreferencesPatch", "PreferencesReplace"] {
        assert_eq!(schemas[name]["properties"]["locale"]["pattern"], Locale::PATTERN, "{name}");
    }
    assert_eq!(schemas["Preferences"]["required"], json!(["email", "push", "categories", "quiet_hours", "locale"]));
    assert_eq!(schemas["ChannelSwitches"]["required"], json!(["email", "push"]));
    assert_eq!(schemas["PreferencesReplace"]["required"], json!(["email", "push"]));
    assert!(schemas["PreferencesPatch"].get("required").is_none());
    assert_eq!(schemas["CategorySwitchesInput"]["additionalProperties"], json!(false));
    // Category names: the default configuration's, so a generator sends known ones.
    let names = json!(["transactional", "security", "account", "marketing", "reminders"]);
    assert_eq!(schemas["CategoryOverrides"]["propertyNames"]["enum"], names);
    for name in ["PreferencesPatch", "PreferencesReplace"] {
        let categories = &schemas[name]["properties"]["categories"];
        assert!(categories.to_string().contains("#/components/schemas/CategoryOverrides"), "{name}: {categories}");
    }
    assert!(schemas["CategoryOverride"].is_object());
}
