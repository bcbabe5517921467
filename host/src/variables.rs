//! Spin variables. Application variables (`[variables]`) are resolved the way
//! `spin up` resolves them with no provider configured: the `--variable`
//! values ([`crate::variable_sources`]), then the environment variable
//! `SPIN_VARIABLE_<NAME>` (also read from `./.env`), then the manifest
//! default; a `required` variable nothing resolves stops the app at start. A component sees only the variables its own `variables` table
//! declares, each a template that may reference application variables.
//!
//! The environment is read once at start, so every value is resolved then and
//! an unresolvable template is a start-up error rather than a failed request.
//!
//! One capability, as Spin's `factor-variables`: the guest side,
//! `fermyon:spin/variables`, is implemented on this module's own
//! [`InstanceState`] (the calling component's resolved variables) and linked
//! by [`add_to_linker`]; the runtime only holds that state.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use wasmtime::component::{HasSelf, Linker};

use crate::bindings::variables_wit;
use crate::manifest::{App, VariableDecl};
use crate::template::{self, Piece, TemplateError, check_variable_name};
use crate::variable_sources::{self, SourceError, VariableSource};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VariableError {
    #[error("required variable `{0}` has no value (set SPIN_VARIABLE_{upper})", upper = .0.to_uppercase())]
    MissingRequired(String),
    #[error("variable `{0}` has neither a default nor `required = true`")]
    NoDefault(String),
    #[error("template {template:?}: {problem}")]
    Template { template: String, problem: String },
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// Where values come from, in Spin's order of precedence.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `--variable` arguments, read when the app starts.
    given: Vec<VariableSource>,
    /// The runtime config's static providers, asked in order after `given`.
    provided: Vec<HashMap<String, String>>,
    process: HashMap<String, String>,
    dotenv: HashMap<String, String>,
}

impl Environment {
    /// The process environment plus `./.env`, as `spin up` reads them.
    pub fn from_process() -> Self {
        Self {
            given: Vec::new(),
            provided: Vec::new(),
            process: std::env::vars().collect(),
            dotenv: read_dotenv(Path::new(".env")),
        }
    }

    /// An explicit environment, for embedding the host (tests run many apps in one process).
    pub fn from_map(process: HashMap<String, String>) -> Self {
        Self { given: Vec::new(), provided: Vec::new(), process, dotenv: HashMap::new() }
    }

    /// `spin up --variable`: these values come before the environment's.
    pub fn with_given(mut self, sources: Vec<VariableSource>) -> Self {
        self.given = sources;
        self
    }

    /// The runtime config file's `[[variables_provider]]` values: after
    /// `--variable`, before `SPIN_VARIABLE_*`.
    pub fn with_provided(mut self, providers: Vec<HashMap<String, String>>) -> Self {
        self.provided = providers;
        self
    }

    fn lookup(&self, given: &HashMap<String, String>, variable: &str) -> Option<String> {
        let key = format!("SPIN_VARIABLE_{}", variable.to_uppercase());
        given
            .get(variable)
            .or_else(|| self.provided.iter().find_map(|values| values.get(variable)))
            .or_else(|| self.process.get(&key))
            .or_else(|| self.dotenv.get(&key))
            .cloned()
    }
}

fn read_dotenv(path: &Path) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else { return HashMap::new() };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.strip_prefix("export ").unwrap_or(line).split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').trim_matches('\'').to_owned()))
        .collect()
}

/// Resolved application variables.
#[derive(Clone, Default)]
pub struct AppVariables(BTreeMap<String, String>);

impl std::fmt::Debug for AppVariables {
    // Values may be secrets; show only the names.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl AppVariables {
    pub fn resolve(declared: &BTreeMap<String, VariableDecl>, env: &Environment) -> Result<Self, VariableError> {
        let given = variable_sources::read_all(&env.given)?;
        let mut values = BTreeMap::new();
        for (name, decl) in declared {
            let value = match (env.lookup(&given, name), &decl.default, decl.required) {
                (Some(value), _, _) => value,
                (None, Some(default), _) => default.clone(),
                (None, None, true) => return Err(VariableError::MissingRequired(name.clone())),
                (None, None, false) => return Err(VariableError::NoDefault(name.clone())),
            };
            values.insert(name.clone(), value);
        }
        Ok(Self(values))
    }

    /// Every value as a TOML table of strings: the file `spin up --variable
    /// @file.toml` (and `host up --variable`) reads back unchanged.
    pub fn to_toml(&self) -> String {
        self.0.iter().map(|(name, value)| format!("{name} = {}\n", toml::Value::String(value.clone()))).collect()
    }

    /// Expands every `{{ name }}` in `template`.
    pub fn render(&self, template: &str) -> Result<String, VariableError> {
        let mut out = String::new();
        for piece in template::parse(template)? {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Reference(name) => out.push_str(self.0.get(name).ok_or_else(|| VariableError::Template {
                    template: template.to_owned(),
                    problem: format!("`{name}` is not an application variable"),
                })?),
            }
        }
        Ok(out)
    }
}

/// The variables one component may read.
#[derive(Clone, Default)]
pub struct ComponentVariables(HashMap<String, String>);

/// Why a guest's `get` failed, mirroring `fermyon:spin/variables.error`.
#[derive(Debug, PartialEq, Eq)]
pub enum GetError {
    InvalidName(String),
    Undefined(String),
}

impl ComponentVariables {
    pub fn resolve(app: &App, component: &str, variables: &AppVariables) -> Result<Self, VariableError> {
        let declared = &app.components[component].variables;
        declared
            .iter()
            .map(|(name, template)| Ok((name.clone(), variables.render(template)?)))
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn get(&self, name: &str) -> Result<String, GetError> {
        check_variable_name(name).map_err(GetError::InvalidName)?;
        self.0.get(name).cloned().ok_or_else(|| GetError::Undefined(format!("no variable for `{name}`")))
    }
}

impl From<TemplateError> for VariableError {
    fn from(TemplateError { template, problem }: TemplateError) -> Self {
        VariableError::Template { template, problem }
    }
}

/// What one instance (one request) holds: the variables of its component.
pub struct InstanceState {
    variables: Arc<ComponentVariables>,
}

impl InstanceState {
    pub fn new(variables: Arc<ComponentVariables>) -> Self {
        Self { variables }
    }
}

/// Links `fermyon:spin/variables` for a store whose data gives this
/// capability's state through `get`.
pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut InstanceState,
) -> wasmtime::Result<()> {
    variables_wit::add_to_linker::<T, HasSelf<InstanceState>>(linker, get)
}

/// The guest side: `fermyon:spin/variables.get` reads the calling component's variables.
impl variables_wit::Host for InstanceState {
    async fn get(&mut self, name: String) -> wasmtime::Result<Result<String, variables_wit::Error>> {
        use variables_wit::Error;
        Ok(self.variables.get(&name).map_err(|e| match e {
            GetError::InvalidName(message) => Error::InvalidName(message),
            GetError::Undefined(message) => Error::Undefined(message),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decl(default: Option<&str>, required: bool) -> VariableDecl {
        VariableDecl { default: default.map(String::from), required, secret: false, description: None }
    }

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn the_environment_beats_the_default() {
        let declared = BTreeMap::from([("db_url".to_owned(), decl(Some("default"), false))]);
        let from_env = AppVariables::resolve(&declared, &env(&[("SPIN_VARIABLE_DB_URL", "from-env")])).unwrap();
        assert_eq!(from_env.render("{{ db_url }}").unwrap(), "from-env");
        let defaulted = AppVariables::resolve(&declared, &env(&[])).unwrap();
        assert_eq!(defaulted.render("{{db_url}}").unwrap(), "default");
    }

    #[test]
    fn given_values_beat_the_environment_and_unknown_names_are_ignored() {
        let declared = BTreeMap::from([
            ("db_url".to_owned(), decl(Some("default"), false)),
            ("jwt_secret".to_owned(), decl(None, true)),
        ]);
        let given = vec!["db_url=given".parse().unwrap(), "jwt_secret=s".parse().unwrap(), "nobody=x".parse().unwrap()];
        let env = env(&[("SPIN_VARIABLE_DB_URL", "from-env")]).with_given(given);
        let vars = AppVariables::resolve(&declared, &env).unwrap();
        assert_eq!(vars.render("{{ db_url }} {{ jwt_secret }}").unwrap(), "given s");
        // The runtime config's providers come after `--variable`, before the environment.
        let provided = |values: &[(&str, &str)]| values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let env = self::env(&[("SPIN_VARIABLE_DB_URL", "from-env")])
            .with_given(vec!["jwt_secret=given".parse().unwrap()])
            .with_provided(vec![provided(&[("jwt_secret", "first")]), provided(&[("db_url", "second")])]);
        let vars = AppVariables::resolve(&declared, &env).unwrap();
        assert_eq!(vars.render("{{ db_url }} {{ jwt_secret }}").unwrap(), "second given");
        // The given name is the variable's own, not the environment's spelling.
        let shouted = self::env(&[]).with_given(vec!["JWT_SECRET=s".parse().unwrap()]);
        assert_eq!(
            AppVariables::resolve(&declared, &shouted).unwrap_err(),
            VariableError::MissingRequired("jwt_secret".into())
        );
    }

    #[test]
    fn an_unresolved_required_variable_is_a_start_error() {
        let declared = BTreeMap::from([("jwt_secret".to_owned(), decl(None, true))]);
        let error = AppVariables::resolve(&declared, &env(&[])).unwrap_err();
        assert_eq!(error, VariableError::MissingRequired("jwt_secret".into()));
        assert!(error.to_string().contains("SPIN_VARIABLE_JWT_SECRET"));
    }

    #[test]
    fn templates_mix_text_and_references() {
        let declared = BTreeMap::from([
            ("host".to_owned(), decl(Some("db"), false)),
            ("port".to_owned(), decl(Some("5432"), false)),
        ]);
        let vars = AppVariables::resolve(&declared, &env(&[])).unwrap();
        assert_eq!(vars.render("postgres://{{ host }}:{{ port }}/x").unwrap(), "postgres://db:5432/x");
        assert!(vars.render("{{ missing }}").is_err());
        assert!(vars.render("{{ host").is_err());
        assert!(vars.render("{{ Bad-Name }}").is_err());
    }

    #[test]
    fn components_see_only_their_own_declared_names() {
        let vars = ComponentVariables(HashMap::from([("secret".to_owned(), "s".to_owned())]));
        assert_eq!(vars.get("secret"), Ok("s".into()));
        assert!(matches!(vars.get("other"), Err(GetError::Undefined(_))));
        assert!(matches!(vars.get("Not-Valid"), Err(GetError::InvalidName(_))));
    }

    #[test]
    fn the_toml_form_reads_back_as_the_same_values() {
        let tricky = "a \"quoted\" value\nwith a line break, \\ and {{ braces }}";
        let declared =
            BTreeMap::from([("pem".to_owned(), decl(Some(tricky), false)), ("n".to_owned(), decl(Some("1"), false))]);
        let vars = AppVariables::resolve(&declared, &env(&[])).unwrap();
        let back: BTreeMap<String, String> = toml::from_str(&vars.to_toml()).unwrap();
        assert_eq!(back, vars.0);
        assert_eq!(back["pem"], tricky);
    }

    #[test]
    fn debug_output_hides_values() {
        let declared = BTreeMap::from([("jwt_secret".to_owned(), decl(Some("hunter2"), false))]);
        let vars = AppVariables::resolve(&declared, &env(&[])).unwrap();
        assert!(!format!("{vars:?}").contains("hunter2"));
    }
}
