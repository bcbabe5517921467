//! `--variable` values, taken as `spin up` takes them: `key=value`,
//! `key=@file` (the file's whole text), `@file.json` or `@file.toml` (a
//! table of string values). Spin puts them in a static provider consulted
//! before the environment; the last value given for a name wins, and names
//! the manifest does not declare are ignored.
//!
//! Why it matters beyond parity: under `spin up` the environment provider
//! blocks a runtime thread (`block_in_place`) on every `get`, even for a
//! variable that falls through to its default, while the static provider
//! is a map lookup. The README ("Variables under spin up") has the figures.

use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

/// One `--variable` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableSource {
    /// `key=value`.
    Literal(String, String),
    /// `key=@path`: the value is the file's text.
    FileContent(String, PathBuf),
    /// `@path.json`: an object of names to strings.
    JsonFile(PathBuf),
    /// `@path.toml`: a table of names to strings.
    TomlFile(PathBuf),
}

impl FromStr for VariableSource {
    type Err = String;

    /// Spin's own words for the two malformed shapes, so an operator
    /// sees the same complaint from either runtime.
    fn from_str(arg: &str) -> Result<Self, Self::Err> {
        if let Some(path) = arg.strip_prefix('@') {
            let path = PathBuf::from(path);
            return match path.extension().and_then(|e| e.to_str()) {
                Some("json") => Ok(Self::JsonFile(path)),
                Some("toml") => Ok(Self::TomlFile(path)),
                _ => Err("variable files must end in .json or .toml".to_owned()),
            };
        }
        match arg.split_once('=') {
            Some((key, value)) => Ok(match value.strip_prefix('@') {
                Some(path) => Self::FileContent(key.to_owned(), PathBuf::from(path)),
                None => Self::Literal(key.to_owned(), value.to_owned()),
            }),
            None => Err("variables must be in the form 'key=value' or '@file'".to_owned()),
        }
    }
}

/// A source that could not be read; the app does not start.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("Failed to read {path:?}: {cause}")]
    Read { path: PathBuf, cause: String },
    #[error("Failed to parse {format} from {path:?}: {cause}")]
    Parse { format: &'static str, path: PathBuf, cause: String },
}

/// Every source's values, later sources overriding earlier ones.
pub fn read_all(sources: &[VariableSource]) -> Result<HashMap<String, String>, SourceError> {
    let mut values = HashMap::new();
    for source in sources {
        values.extend(read(source)?);
    }
    Ok(values)
}

fn read(source: &VariableSource) -> Result<HashMap<String, String>, SourceError> {
    let text = |path: &PathBuf| {
        std::fs::read_to_string(path).map_err(|e| SourceError::Read { path: path.clone(), cause: e.to_string() })
    };
    let parse = |format, path: &PathBuf, cause: String| SourceError::Parse { format, path: path.clone(), cause };
    Ok(match source {
        VariableSource::Literal(key, value) => HashMap::from([(key.clone(), value.clone())]),
        VariableSource::FileContent(key, path) => HashMap::from([(key.clone(), text(path)?)]),
        VariableSource::JsonFile(path) => {
            serde_json::from_str(&text(path)?).map_err(|e| parse("JSON", path, e.to_string()))?
        }
        VariableSource::TomlFile(path) => {
            toml::from_str(&text(path)?).map_err(|e| parse("TOML", path, e.to_string()))?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("variable-sources-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn arguments_parse_into_spins_four_shapes() {
        assert_eq!("a=b=c".parse(), Ok(VariableSource::Literal("a".into(), "b=c".into())));
        assert_eq!("a=".parse(), Ok(VariableSource::Literal("a".into(), String::new())));
        assert_eq!("a=@x.pem".parse(), Ok(VariableSource::FileContent("a".into(), "x.pem".into())));
        assert_eq!("@v.json".parse(), Ok(VariableSource::JsonFile("v.json".into())));
        assert_eq!("@dir/v.toml".parse(), Ok(VariableSource::TomlFile("dir/v.toml".into())));
    }

    #[test]
    fn malformed_arguments_get_spins_words() {
        assert_eq!("@v.txt".parse::<VariableSource>(), Err("variable files must end in .json or .toml".into()));
        assert_eq!("@v".parse::<VariableSource>(), Err("variable files must end in .json or .toml".into()));
        assert_eq!(
            "no_equals".parse::<VariableSource>(),
            Err("variables must be in the form 'key=value' or '@file'".into())
        );
    }

    #[test]
    fn files_are_read_and_the_last_value_wins() {
        let toml = file("v.toml", "greeting = \"from toml\"\nother = \"x\"\n");
        let json = file("v.json", r#"{"greeting": "from json"}"#);
        let pem = file("key.pem", "-----BEGIN-----\nabc\n");
        let values = read_all(&[
            VariableSource::TomlFile(toml),
            VariableSource::JsonFile(json),
            VariableSource::FileContent("key".into(), pem),
        ])
        .unwrap();
        assert_eq!(values["greeting"], "from json");
        assert_eq!(values["other"], "x");
        assert_eq!(values["key"], "-----BEGIN-----\nabc\n");
        let values = read_all(&["greeting=last".parse().unwrap()]).unwrap();
        assert_eq!(values["greeting"], "last");
    }

    #[test]
    fn a_value_that_is_not_a_string_or_a_missing_file_is_refused() {
        // Spin's static provider holds strings only: a number is a parse error there too.
        let error = read_all(&[VariableSource::TomlFile(file("n.toml", "a = 1\n"))]).unwrap_err();
        assert!(matches!(error, SourceError::Parse { format: "TOML", .. }), "{error}");
        let error = read_all(&[VariableSource::JsonFile(file("n.json", r#"{"a": 1}"#))]).unwrap_err();
        assert!(error.to_string().starts_with("Failed to parse JSON from"), "{error}");
        let error = read_all(&[VariableSource::TomlFile("/nowhere/v.toml".into())]).unwrap_err();
        assert!(error.to_string().starts_with("Failed to read \"/nowhere/v.toml\""), "{error}");
    }
}
