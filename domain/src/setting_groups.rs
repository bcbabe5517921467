//! Settings read together, in one variable read.
//!
//! Under `spin up` every variable read is a host call, and each costs a
//! request a couple of microseconds even when the value comes from a
//! `--variable` file (README, "Benchmark"). The hot paths read settings
//! that belong together (the four to seven an access token is checked with,
//! the three category lists) through one component variable whose template
//! joins the application variables with NUL (`\u0000` in `spin.toml`).
//! Operators still set each application variable on its own; only the
//! components' view of them is grouped.
//!
//! No value can carry a NUL through the environment or a command line, but
//! a `--variable` file or a variables provider could. A value that does
//! splits the group into more parts than it has settings, and is refused
//! as malformed: a group is never misread by a shifted part.

/// The separator between a group's settings.
pub const SEPARATOR: char = '\0';

/// A group whose value did not split into its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "variable `{group}` holds {found} settings, not {expected}: a value in it holds a NUL byte, or spin.toml's template is wrong"
)]
pub struct GroupError {
    pub group: String,
    pub expected: usize,
    pub found: usize,
}

/// The `N` settings of `value`, the resolved template of the component
/// variable `group`, in the template's order.
pub fn split<'a, const N: usize>(group: &str, value: &'a str) -> Result<[&'a str; N], GroupError> {
    let parts: Vec<&str> = value.split(SEPARATOR).collect();
    <[&str; N]>::try_from(parts.as_slice()).map_err(|_| GroupError {
        group: group.to_owned(),
        expected: N,
        found: parts.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_splits_into_its_settings_in_order_empty_ones_included() {
        assert_eq!(split::<3>("g", "a\0\0c"), Ok(["a", "", "c"]));
        assert_eq!(split::<2>("g", "\0"), Ok(["", ""]));
        assert_eq!(split::<1>("g", "line one\nline two"), Ok(["line one\nline two"]));
    }

    #[test]
    fn a_value_holding_a_nul_is_refused_not_shifted() {
        // The second setting's value is "x\0y": four parts for three settings.
        let error = split::<3>("tokens", "a\0x\0y\0c").unwrap_err();
        assert_eq!((error.expected, error.found), (3, 4));
        assert!(error.to_string().contains("`tokens`"), "{error}");
        // A template with a separator too few is refused the same way.
        assert_eq!(split::<3>("g", "a\0b").unwrap_err().found, 2);
    }
}
