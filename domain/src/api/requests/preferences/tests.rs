use serde_json::{Value, json};

use super::*;
use crate::error::FieldErrors;

fn config() -> CategoryConfig {
    CategoryConfig::default()
}

fn put(body: Value) -> Result<NotificationPreferences, ApiError> {
    PreferencesReplace::parse(&body, &config()).map(NotificationPreferences::from)
}

fn patch(current: Value, body: Value) -> Result<NotificationPreferences, ApiError> {
    let current: NotificationPreferences = serde_json::from_value(current).unwrap();
    PreferencesPatch::apply(&current, &body, &config())
}

fn refused(result: Result<NotificationPreferences, ApiError>) -> FieldErrors {
    match result {
        Err(ApiError::Validation(details)) => details,
        other => panic!("expected a validation error, got {other:?}"),
    }
}

/// A 422: well-formed, against a rule.
fn against_a_rule(result: Result<NotificationPreferences, ApiError>) -> FieldErrors {
    match result {
        Err(ApiError::RuleViolated(details)) => details,
        other => panic!("expected a rule violation, got {other:?}"),
    }
}

fn json_of(preferences: &NotificationPreferences) -> Value {
    serde_json::to_value(preferences).unwrap()
}

#[test]
fn an_old_clients_put_still_works_and_resets_the_rest() {
    let stored = put(json!({"email": false, "push": true})).unwrap();
    assert_eq!(stored, NotificationPreferences::with_channels(false, true));
}

#[test]
fn put_requires_both_master_switches() {
    let details = refused(put(json!({"push": "yes", "email": null})));
    assert_eq!(details["email"], ["is required"]);
    assert_eq!(details["push"], ["must be true or false"]);
}

#[test]
fn a_full_put_is_stored_as_given() {
    let body = json!({
        "email": true,
        "push": false,
        "categories": {"marketing": {"email": false}, "security": {"email": true, "push": null}, "reminders": null},
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
        "locale": "pt-BR",
        "ignored": 1,
    });
    let stored = put(body).unwrap();
    assert_eq!(
        json_of(&stored),
        json!({
            "email": true,
            "push": false,
            "categories": {"marketing": {"email": false, "push": true}, "security": {"email": true, "push": true}},
            "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
            "locale": "pt-BR",
        })
    );
}

#[test]
fn unknown_categories_and_channels_and_non_booleans_are_named_by_path() {
    let body = json!({
        "email": true,
        "push": true,
        "categories": {"news": {}, "marketing": {"sms": true, "email": "no"}, "reminders": 1},
    });
    let details = refused(put(body));
    assert_eq!(
        details["categories.news"],
        ["is not a notification category; they are transactional, security, account, marketing, reminders"]
    );
    assert_eq!(details["categories.marketing.sms"], ["is not a channel; they are email, push"]);
    assert_eq!(details["categories.marketing.email"], ["must be true or false"]);
    assert_eq!(details["categories.reminders"], ["must be an object"]);
    assert_eq!(details.len(), 4);
}

#[test]
fn a_required_category_cannot_be_muted_on_either_channel() {
    for channel in ["email", "push"] {
        let body = json!({"email": true, "push": true, "categories": {"security": {channel: false}}});
        let details = against_a_rule(put(body));
        let path = format!("categories.security.{channel}");
        assert_eq!(details[&path], ["cannot be muted: security is a required category"]);
    }
    let muted = json!({"categories": {"security": {"push": false}}});
    let details = against_a_rule(patch(json!({}), muted));
    assert_eq!(details["categories.security.push"], ["cannot be muted: security is a required category"]);
}

#[test]
fn quiet_hours_problems_are_named_by_member() {
    let with = |quiet_hours: Value| put(json!({"email": true, "push": true, "quiet_hours": quiet_hours}));
    let details = refused(with(json!({"start": "24:00", "end": "7:00", "timezone": "Mars/Olympus"})));
    assert_eq!(details["quiet_hours.start"], ["must be a time HH:MM from 00:00 to 23:59"]);
    assert_eq!(details["quiet_hours.end"], ["must be a time HH:MM from 00:00 to 23:59"]);
    assert_eq!(details["quiet_hours.timezone"], ["must be an IANA time zone name such as Europe/Berlin"]);
    let details = against_a_rule(with(json!({"start": "07:00", "end": "07:00", "timezone": "UTC"})));
    assert_eq!(
        details["quiet_hours.end"],
        ["must differ from start: a window from a time to itself would be either empty or the whole day"]
    );
    let details = refused(with(json!({"start": 2200})));
    assert_eq!(details["quiet_hours.start"], ["must be a string"]);
    assert_eq!(details["quiet_hours.end"], ["is required"]);
    assert_eq!(details["quiet_hours.timezone"], ["is required"]);
    assert_eq!(refused(with(json!("22:00-07:00")))["quiet_hours"], ["must be an object"]);
    assert_eq!(with(json!(null)).unwrap().quiet_hours, None);
}

/// A patch may give one member of stored quiet hours; with none stored, the
/// same valid patch cannot be completed: that is the stored state's doing,
/// a 422, while a malformed member is still a 400.
#[test]
fn a_partial_quiet_hours_patch_needs_stored_ones() {
    let stored = json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"}});
    let merged = patch(stored, json!({"quiet_hours": {"start": "23:00"}})).unwrap();
    assert_eq!(serde_json::to_value(merged.quiet_hours).unwrap()["start"], "23:00");
    let details = against_a_rule(patch(json!({}), json!({"quiet_hours": {"start": "23:00"}})));
    let rule = ["is required: the stored quiet hours do not have it, so the patch must"];
    assert_eq!(details["quiet_hours.end"], rule);
    assert_eq!(details["quiet_hours.timezone"], rule);
    assert!(!details.contains_key("quiet_hours.start"));
    let details = refused(patch(json!({}), json!({"quiet_hours": {"start": "25:00"}})));
    assert_eq!(details["quiet_hours.start"], ["must be a time HH:MM from 00:00 to 23:59"]);
}

#[test]
fn a_bad_or_over_long_locale_is_refused() {
    let with = |locale: Value| put(json!({"email": true, "push": true, "locale": locale}));
    assert_eq!(refused(with(json!("en_US")))["locale"], ["must be a language tag such as en, pt-BR or zh-Hant-TW"]);
    assert_eq!(refused(with(json!("en-".repeat(12) + "x")))["locale"], ["must be at most 35 characters"]);
    assert_eq!(refused(with(json!(7)))["locale"], ["must be a string or null"]);
    assert_eq!(with(json!("zh-Hant-TW")).unwrap().locale.unwrap().as_ref(), "zh-Hant-TW");
}

#[test]
fn an_old_clients_patch_changes_only_its_switch() {
    let current = json!({
        "email": true, "push": true,
        "categories": {"marketing": {"email": false, "push": true}},
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "UTC"},
        "locale": "en",
    });
    let updated = patch(current.clone(), json!({"push": false})).unwrap();
    let mut expected = current.clone();
    expected["push"] = json!(false);
    assert_eq!(json_of(&updated), expected);
    // A null master switch always meant "unchanged"; it still does.
    let unchanged = patch(current.clone(), json!({"email": null, "push": null})).unwrap();
    assert_eq!(json_of(&unchanged), current);
    let details = refused(patch(current, json!({"email": "off"})));
    assert_eq!(details["email"], ["must be true or false"]);
}

#[test]
fn patch_merges_into_a_category_and_null_removes_overrides() {
    let current = json!({"categories": {
        "marketing": {"email": false, "push": false},
        "reminders": {"email": false, "push": true},
    }});
    let updated =
        patch(current.clone(), json!({"categories": {"marketing": {"push": true}, "reminders": null}})).unwrap();
    assert_eq!(json_of(&updated)["categories"], json!({"marketing": {"email": false, "push": true}}));
    let cleared = patch(current, json!({"categories": null})).unwrap();
    assert!(cleared.categories.is_empty());
}

#[test]
fn patch_merges_quiet_hours_member_by_member_and_null_removes_them() {
    let current = json!({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "UTC"}, "locale": "en"});
    let later = patch(current.clone(), json!({"quiet_hours": {"start": "23:30"}})).unwrap();
    assert_eq!(json_of(&later)["quiet_hours"], json!({"start": "23:30", "end": "07:00", "timezone": "UTC"}));
    let none = patch(current, json!({"quiet_hours": null, "locale": null})).unwrap();
    assert_eq!((none.quiet_hours, none.locale), (None, None));
    // Quiet hours from nothing need all three members (a 422: the patch is valid).
    let details = against_a_rule(patch(json!({}), json!({"quiet_hours": {"start": "22:00"}})));
    assert_eq!(details.keys().collect::<Vec<_>>(), ["quiet_hours.end", "quiet_hours.timezone"]);
}

#[test]
fn a_configuration_change_does_not_make_the_next_patch_fail() {
    // Stored before `retired` was removed and `marketing` became required.
    let current: NotificationPreferences = serde_json::from_value(json!({"categories": {
        "retired": {"email": false, "push": false},
        "marketing": {"email": false, "push": true},
        "reminders": {"email": false, "push": true},
    }}))
    .unwrap();
    let config = CategoryConfig::parse("marketing,reminders", "marketing", "").unwrap();
    let updated = PreferencesPatch::apply(&current, &json!({"push": false}), &config).unwrap();
    assert_eq!(json_of(&updated)["categories"], json!({"reminders": {"email": false, "push": true}}));
}

#[test]
fn a_patch_that_is_not_an_object_is_refused_as_the_body() {
    for body in [json!([]), json!(null), json!("x")] {
        assert_eq!(refused(patch(json!({}), body))["body"], ["must be a JSON object"]);
    }
}

#[test]
fn every_problem_is_reported_at_once() {
    let body = json!({
        "email": 1,
        "categories": {"security": {"email": false}, "news": {}},
        "quiet_hours": {"start": "7", "end": "08:00", "timezone": "UTC"},
        "locale": "x",
    });
    let details = refused(patch(json!({}), body.clone()));
    let paths: Vec<&str> = details.keys().map(String::as_str).collect();
    // A malformed body is answered first (400); the rule it also breaks
    // is answered once the rest is well-formed (422).
    assert_eq!(paths, ["categories.news", "email", "locale", "quiet_hours.start"]);
    let well_formed = json!({"categories": {"security": {"email": false}}, "quiet_hours": {"start": "07:00", "end": "07:00", "timezone": "UTC"}});
    let rules = against_a_rule(patch(json!({}), well_formed));
    assert_eq!(rules.keys().map(String::as_str).collect::<Vec<_>>(), ["categories.security.email", "quiet_hours.end"]);
}

#[test]
fn registration_preferences_are_the_two_switches_stored() {
    let input = PreferencesInput { email: Some(false), push: None };
    assert_eq!(NotificationPreferences::from(input), NotificationPreferences::with_channels(false, true));
}
