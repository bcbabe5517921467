//! Which notification categories exist, which cannot be muted and which are
//! never held for quiet hours: one typed configuration, read from three
//! comma-separated lists. The components read the lists from Spin variables
//! and the worker from its environment; both fall back to the same defaults
//! declared here, so the two sides cannot disagree about a category.

use std::borrow::Borrow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// The Spin variable (and, upper-cased, the worker's environment variable)
/// listing every category.
pub const CATEGORIES_VARIABLE: &str = "notification_categories";
/// The one listing the categories a user cannot mute.
pub const REQUIRED_VARIABLE: &str = "notification_required_categories";
/// The one listing the categories quiet hours never hold back.
pub const QUIET_HOURS_EXEMPT_VARIABLE: &str = "quiet_hours_exempt_categories";

/// Every category the platform sends, when not configured.
pub const DEFAULT_CATEGORIES: &str = "transactional,security,account,marketing,reminders";
/// Security notices (a new sign-in, a password change) reach the user even
/// if they would rather not: they are how an account takeover is noticed.
pub const DEFAULT_REQUIRED: &str = "security";
/// A receipt or a sign-in code held until morning is useless, and a security
/// notice held until morning is too late.
pub const DEFAULT_QUIET_HOURS_EXEMPT: &str = "security,transactional";

/// A category's name: 1 to 32 lower-case ASCII letters, digits, `_` or `-`,
/// so it is safe as a JSON key, a metric label and a log field alike.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CategoryName(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 32 lower-case letters, digits, _ or -")]
pub struct BadCategoryName;

impl CategoryName {
    pub const MAX_CHARS: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, BadCategoryName> {
        let valid = (1..=Self::MAX_CHARS).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid { Ok(Self(raw.to_owned())) } else { Err(BadCategoryName) }
    }
}

impl TryFrom<String> for CategoryName {
    type Error = BadCategoryName;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        Self::parse(&raw)
    }
}

impl From<CategoryName> for String {
    fn from(name: CategoryName) -> Self {
        name.0
    }
}

impl AsRef<str> for CategoryName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Lets a map keyed by names be looked up with the `&str` an event carries.
impl Borrow<str> for CategoryName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CategoryName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a notification reaches a user; each has its own master switch and
/// its own switch per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }

    /// The channel a name (`email`, `push`) stands for, exactly as written.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|channel| channel.as_str() == raw)
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configuration that cannot be honoured; the program should refuse to
/// start rather than guess (a typo in a required category would otherwise
/// silently let users mute it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{variable}: `{name}` is not a category name (1 to 32 of a-z, 0-9, _ and -)")]
    BadName { variable: &'static str, name: String },
    #[error("{variable}: `{name}` is listed twice")]
    Duplicate { variable: &'static str, name: String },
    #[error("{CATEGORIES_VARIABLE} lists no category")]
    NoCategories,
    #[error("{variable}: `{name}` is not one of {CATEGORIES_VARIABLE}")]
    NotACategory { variable: &'static str, name: String },
}

/// The categories, in the order configured, and the two subsets of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryConfig {
    /// Every category; preferences of any other are refused.
    categories: Vec<CategoryName>,
    /// Those that cannot be muted: always on in the answered preferences.
    required: Vec<CategoryName>,
    /// Those delivered at once even during the user's quiet hours.
    quiet_hours_exempt: Vec<CategoryName>,
}

impl CategoryConfig {
    /// The three lists as configured: comma-separated, blanks around names
    /// ignored. Only the categories may not be empty; the other two must
    /// name categories of the first.
    pub fn parse(categories: &str, required: &str, quiet_hours_exempt: &str) -> Result<Self, ConfigError> {
        let categories = list(CATEGORIES_VARIABLE, categories)?;
        if categories.is_empty() {
            return Err(ConfigError::NoCategories);
        }
        let subset = |variable: &'static str, raw: &str| {
            let names = list(variable, raw)?;
            match names.iter().find(|name| !categories.contains(name)) {
                Some(name) => Err(ConfigError::NotACategory { variable, name: name.to_string() }),
                None => Ok(names),
            }
        };
        let required = subset(REQUIRED_VARIABLE, required)?;
        let quiet_hours_exempt = subset(QUIET_HOURS_EXEMPT_VARIABLE, quiet_hours_exempt)?;
        Ok(Self { categories, required, quiet_hours_exempt })
    }

    /// The three lists looked up by variable name ([`CATEGORIES_VARIABLE`],
    /// …), each falling back to its default when `lookup` has none: the
    /// components pass Spin's variables, the worker its environment.
    pub fn from_variables(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = |variable: &str, default: &str| lookup(variable).unwrap_or_else(|| default.to_owned());
        Self::parse(
            &read(CATEGORIES_VARIABLE, DEFAULT_CATEGORIES),
            &read(REQUIRED_VARIABLE, DEFAULT_REQUIRED),
            &read(QUIET_HOURS_EXEMPT_VARIABLE, DEFAULT_QUIET_HOURS_EXEMPT),
        )
    }

    /// Every category, in the order configured.
    pub fn categories(&self) -> &[CategoryName] {
        &self.categories
    }

    pub fn required(&self) -> &[CategoryName] {
        &self.required
    }

    pub fn quiet_hours_exempt(&self) -> &[CategoryName] {
        &self.quiet_hours_exempt
    }

    pub fn is_category(&self, name: &str) -> bool {
        self.categories.iter().any(|c| c.as_ref() == name)
    }

    pub fn is_required(&self, name: &str) -> bool {
        self.required.iter().any(|c| c.as_ref() == name)
    }

    pub fn is_quiet_hours_exempt(&self, name: &str) -> bool {
        self.quiet_hours_exempt.iter().any(|c| c.as_ref() == name)
    }
}

impl Default for CategoryConfig {
    fn default() -> Self {
        Self::parse(DEFAULT_CATEGORIES, DEFAULT_REQUIRED, DEFAULT_QUIET_HOURS_EXEMPT)
            .expect("the default lists are valid (pinned by a test)")
    }
}

/// One comma-separated list; a blank list is empty, a blank item in a
/// non-blank one (`a,,b`) is a bad name, not silently skipped.
fn list(variable: &'static str, raw: &str) -> Result<Vec<CategoryName>, ConfigError> {
    if raw.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut names: Vec<CategoryName> = Vec::new();
    for item in raw.split(',').map(str::trim) {
        let name = CategoryName::parse(item).map_err(|_| ConfigError::BadName { variable, name: item.to_owned() })?;
        if names.contains(&name) {
            return Err(ConfigError::Duplicate { variable, name: item.to_owned() });
        }
        names.push(name);
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_parse_and_say_what_the_platform_expects() {
        let config = CategoryConfig::default();
        let names: Vec<&str> = config.categories().iter().map(AsRef::as_ref).collect();
        assert_eq!(names, ["transactional", "security", "account", "marketing", "reminders"]);
        assert!(config.is_required("security") && !config.is_required("marketing"));
        assert!(config.is_quiet_hours_exempt("transactional") && config.is_quiet_hours_exempt("security"));
        assert!(!config.is_quiet_hours_exempt("reminders"));
        assert!(!config.is_category("unknown"));
    }

    #[test]
    fn variables_left_unset_take_their_defaults() {
        let lookup = |name: &str| (name == REQUIRED_VARIABLE).then(String::new);
        let config = CategoryConfig::from_variables(lookup).unwrap();
        assert_eq!(config.categories(), CategoryConfig::default().categories());
        assert!(config.required().is_empty(), "set, though empty: no category is required");
        assert!(config.is_quiet_hours_exempt("security"));
        assert_eq!(CategoryConfig::from_variables(|_| None).unwrap(), CategoryConfig::default());
    }

    #[test]
    fn blanks_around_names_are_ignored_and_subsets_may_be_empty() {
        let config = CategoryConfig::parse(" news , billing ", "", "  ").unwrap();
        assert_eq!(config.categories().len(), 2);
        assert!(config.required().is_empty() && config.quiet_hours_exempt().is_empty());
    }

    #[test]
    fn a_required_or_exempt_category_must_be_a_category() {
        assert_eq!(
            CategoryConfig::parse("news", "security", ""),
            Err(ConfigError::NotACategory { variable: REQUIRED_VARIABLE, name: "security".into() })
        );
        assert_eq!(
            CategoryConfig::parse("news", "", "news,alerts"),
            Err(ConfigError::NotACategory { variable: QUIET_HOURS_EXEMPT_VARIABLE, name: "alerts".into() })
        );
    }

    #[test]
    fn bad_names_duplicates_and_no_categories_are_refused() {
        for bad in ["News", "a b", "a,,b", "a,", "é", &"x".repeat(33)] {
            assert!(
                matches!(CategoryConfig::parse(bad, "", ""), Err(ConfigError::BadName { .. })),
                "{bad:?} was accepted"
            );
        }
        assert!(CategoryConfig::parse(&"x".repeat(32), "", "").is_ok());
        assert!(matches!(CategoryConfig::parse("a,b,a", "", ""), Err(ConfigError::Duplicate { .. })));
        assert_eq!(CategoryConfig::parse(" ", "", ""), Err(ConfigError::NoCategories));
    }

    #[test]
    fn a_config_error_names_the_variable_and_the_name() {
        let error = CategoryConfig::parse("news", "Security", "").unwrap_err();
        assert_eq!(
            error.to_string(),
            "notification_required_categories: `Security` is not a category name (1 to 32 of a-z, 0-9, _ and -)"
        );
    }

    #[test]
    fn channels_are_named_email_and_push() {
        assert_eq!(Channel::parse("email"), Some(Channel::Email));
        assert_eq!(Channel::parse("push"), Some(Channel::Push));
        assert_eq!(Channel::parse("sms"), None);
        assert_eq!(Channel::parse("Email"), None);
        assert_eq!(serde_json::to_string(&Channel::Push).unwrap(), r#""push""#);
    }

    #[test]
    fn category_names_round_trip_through_json_and_refuse_bad_ones() {
        let name: CategoryName = serde_json::from_str(r#""reminders""#).unwrap();
        assert_eq!(serde_json::to_string(&name).unwrap(), r#""reminders""#);
        assert!(serde_json::from_str::<CategoryName>(r#""Reminders""#).is_err());
    }
}
