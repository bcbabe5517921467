//! A new password that passed the service's strength rules. Only passwords a
//! person is *choosing* go through here; a login attempt is compared as given.
//!
//! The rules follow what Django's validators taught the industry: a length
//! window, not all digits, not a well-known password, and not a variation of
//! the account's own email or name.

use std::fmt;

/// A password that satisfies the strength rules. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

/// Things a chosen password may resemble too closely.
#[derive(Default)]
pub struct PasswordContext<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PasswordError {
    #[error("must be at least 8 characters")]
    TooShort,
    #[error("must be at most 128 characters")]
    TooLong,
    #[error("must not be entirely numeric")]
    AllDigits,
    #[error("is too common")]
    TooCommon,
    #[error("is too similar to the {0}")]
    TooSimilar(&'static str),
}

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    /// Checks every rule and reports all that fail, so a form can show them at once.
    pub fn parse(raw: &str, context: &PasswordContext<'_>) -> Result<Self, Vec<PasswordError>> {
        let mut problems = Vec::new();
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            problems.push(PasswordError::TooShort);
        }
        if chars > Self::MAX_CHARS {
            problems.push(PasswordError::TooLong);
        }
        if !raw.is_empty() && raw.chars().all(|c| c.is_ascii_digit()) {
            problems.push(PasswordError::AllDigits);
        }
        let lowered = raw.to_lowercase();
        if COMMON_PASSWORDS.contains(&lowered.as_str()) {
            problems.push(PasswordError::TooCommon);
        }
        if let Some(email) = context.email {
            let email = email.to_lowercase();
            let local = email.split('@').next().unwrap_or_default();
            if too_similar(&lowered, &email) || too_similar(&lowered, local) {
                problems.push(PasswordError::TooSimilar("email address"));
            }
        }
        if let Some(name) = context.name {
            let name = name.trim().to_lowercase();
            let parts = std::iter::once(name.as_str()).chain(name.split_whitespace());
            if parts.into_iter().any(|part| too_similar(&lowered, part)) {
                problems.push(PasswordError::TooSimilar("name"));
            }
        }
        if problems.is_empty() { Ok(Self(raw.to_owned())) } else { Err(problems) }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// True when the password contains the attribute (or the reverse) or the two
/// are within 30% edit distance of each other. Attributes shorter than three
/// characters are too weak a signal to judge by.
fn too_similar(password: &str, attribute: &str) -> bool {
    if attribute.chars().count() < 3 {
        return false;
    }
    if password.contains(attribute) || attribute.contains(password) {
        return true;
    }
    let longest = password.chars().count().max(attribute.chars().count());
    let distance = levenshtein(password, attribute);
    (longest - distance) as f64 / longest as f64 >= 0.7
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != *cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Passwords of eight or more characters that top every breach list.
/// Shorter ones are refused by length already.
const COMMON_PASSWORDS: &[&str] = &[
    "12345678",
    "123456789",
    "1234567890",
    "password",
    "password1",
    "password123",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "welcome1",
    "welcome123",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "zaq12wsx",
    "abc12345",
    "abcd1234",
    "11111111",
    "00000000",
    "88888888",
    "87654321",
    "12341234",
    "11223344",
    "superman",
    "trustno1",
    "whatever",
    "starwars",
    "computer",
    "michelle",
    "jennifer",
    "corvette",
    "mercedes",
    "mustang1",
    "letmein1",
    "letmein123",
    "changeme",
    "changeme1",
    "administrator",
    "admin123",
    "admin1234",
    "master123",
    "dragon123",
    "monkey123",
    "shadow123",
    "football1",
    "baseball1",
    "iloveyou1",
    "sunshine1",
    "princess1",
    "charlie1",
    "aa123456",
    "asdfghjkl",
    "asdfasdf",
    "qazwsxedc",
    "1qaz2wsx",
    "q1w2e3r4",
    "q1w2e3r4t5",
    "lovely123",
    "hello123",
    "freedom1",
    "internet",
    "samantha",
    "chocolate",
    "butterfly",
    "liverpool",
    "elephant",
    "blink182",
    "michael1",
    "jordan23",
    "secret123",
    "test1234",
    "testtest",
    "passpass",
    "pass1234",
    "default1",
    "access14",
    "maverick",
    "matrix123",
    "summer2024",
    "winter2024",
    "spring2025",
    "autumn2025",
    "password!",
    "password1!",
    "qwerty1!",
    "welcome!",
    "p4ssw0rd",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Password, Vec<PasswordError>> {
        Password::parse(raw, &PasswordContext { email: Some("ada.lovelace@example.com"), name: Some("Ada Lovelace") })
    }

    #[test]
    fn a_strong_password_is_accepted_and_hidden_from_debug() {
        let password = parse("correct horse battery staple").unwrap();
        assert_eq!(password.expose(), "correct horse battery staple");
        assert_eq!(format!("{password:?}"), "Password(..)");
    }

    #[test]
    fn every_failing_rule_is_reported() {
        assert_eq!(parse("1234567").unwrap_err(), vec![PasswordError::TooShort, PasswordError::AllDigits]);
        assert!(parse(&"x".repeat(129)).unwrap_err().contains(&PasswordError::TooLong));
        assert!(parse("Password123").unwrap_err().contains(&PasswordError::TooCommon));
        assert!(parse("98765432109").unwrap_err().contains(&PasswordError::AllDigits));
    }

    #[test]
    fn passwords_close_to_the_email_or_name_are_refused() {
        assert!(parse("ada.lovelace1").unwrap_err().contains(&PasswordError::TooSimilar("email address")));
        assert!(parse("xLovelace!!").unwrap_err().contains(&PasswordError::TooSimilar("name")));
        assert!(parse("adalovelac3").is_err());
        assert!(parse("Vq8#mLp2!zr").is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(parse("ééééééé").unwrap_err().contains(&PasswordError::TooShort));
        assert!(parse("éééééééé").is_ok());
    }

    #[test]
    fn levenshtein_distances() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}
