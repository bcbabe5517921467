//! JSON Merge Patch (RFC 7396): a PATCH body that looks like the document it
//! changes, where `null` removes a member. Written out here rather than taken
//! from a crate because the whole algorithm is section 2's ten lines, and the
//! preferences' PATCH needs exactly them (see
//! [`crate::api::requests::PreferencesPatch`]).

use serde_json::{Map, Value};

/// Applies `patch` to `target` as RFC 7396 section 2 defines it: an object
/// patch merges member by member (a `null` member removes that member, any
/// other value is merged into it recursively); any other patch, including
/// `null` and arrays, replaces the target whole.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        // "Ignore the contents and set it to an empty Object."
        *target = Value::Object(Map::new());
    }
    let Value::Object(target) = target else { return };
    for (name, value) in members {
        if value.is_null() {
            target.remove(name);
        } else {
            // An absent member is merged into as `null`: an object patch
            // then starts from `{}`, anything else is taken as it is.
            merge_patch(target.entry(name.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(original: Value, patch: Value) -> Value {
        let mut target = original;
        merge_patch(&mut target, &patch);
        target
    }

    /// RFC 7396 appendix A, every row, in its order.
    #[test]
    fn the_rfc_appendix_a_examples() {
        let rows = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (original, patch, result) in rows {
            assert_eq!(merged(original.clone(), patch.clone()), result, "{original} + {patch}");
        }
    }

    /// RFC 7396 section 3's worked example.
    #[test]
    fn the_rfc_section_3_example() {
        let original = json!({
            "title": "Goodbye!",
            "author": {"givenName": "John", "familyName": "Doe"},
            "tags": ["example", "sample"],
            "content": "This will be unchanged",
        });
        let patch = json!({
            "title": "Hello!",
            "phoneNumber": "+01-123-456-7890",
            "author": {"familyName": null},
            "tags": ["example"],
        });
        let result = json!({
            "title": "Hello!",
            "author": {"givenName": "John"},
            "tags": ["example"],
            "content": "This will be unchanged",
            "phoneNumber": "+01-123-456-7890",
        });
        assert_eq!(merged(original, patch), result);
    }

    #[test]
    fn an_empty_patch_changes_nothing_and_nulls_of_absent_members_are_no_ops() {
        let original = json!({"a": {"b": 1}, "c": [null]});
        assert_eq!(merged(original.clone(), json!({})), original);
        assert_eq!(merged(original.clone(), json!({"x": null, "a": {"y": null}})), original);
    }
}
