//! Spin's variable names and `{{ name }}` templates: the syntax the manifest
//! is checked against at start ([`crate::manifest`]) and the one variables
//! are rendered by ([`crate::variables`]). Its own module, below both, so
//! neither has to reach into the other for it.

/// A template that does not parse, or names what it may not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template:?}: {problem}")]
pub struct TemplateError {
    pub template: String,
    pub problem: String,
}

/// Spin's rule for variable names: lower-case letters, digits and `_`,
/// starting with a letter, ending with a letter or digit, no `__`.
pub fn check_variable_name(name: &str) -> Result<(), String> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.ends_with('_')
        && !name.contains("__");
    if valid { Ok(()) } else { Err(format!("invalid variable name `{name}`")) }
}

/// One piece of a template.
pub enum Piece<'a> {
    Text(&'a str),
    /// `{{ name }}`: the name, checked.
    Reference(&'a str),
}

/// Splits `template` into text and references.
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, TemplateError> {
    let fail = |problem: &str| TemplateError { template: template.to_owned(), problem: problem.to_owned() };
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or_else(|| fail("unclosed `{{`"))?;
        let name = after[..end].trim();
        check_variable_name(name).map_err(|p| fail(&p))?;
        out.push(Piece::Reference(name));
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err(fail("`}}` without `{{`"));
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// The application variables a template refers to (for manifest validation).
pub fn references(template: &str) -> Result<Vec<String>, String> {
    parse(template)
        .map(|pieces| {
            pieces
                .into_iter()
                .filter_map(|p| match p {
                    Piece::Reference(name) => Some(name.to_owned()),
                    Piece::Text(_) => None,
                })
                .collect()
        })
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_names_follow_spins_rule() {
        for good in ["a", "jwt_secret", "db2"] {
            assert!(check_variable_name(good).is_ok(), "{good}");
        }
        for bad in ["", "A", "1a", "a__b", "a_", "a-b", "_a"] {
            assert!(check_variable_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn references_are_the_names_between_braces() {
        assert_eq!(references("a{{ x }}b{{y}}").unwrap(), vec!["x", "y"]);
        assert_eq!(references("{{ host").unwrap_err(), "template \"{{ host\": unclosed `{{`");
    }
}
