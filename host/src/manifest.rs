//! `spin.toml` (manifest version 2), read the way Spin reads it: unknown keys
//! are errors (Spin's manifest types deny unknown fields), and keys that Spin
//! knows but this host cannot honour are refused at start with their name, so
//! an app never runs here with a feature silently missing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::template::{self, check_variable_name};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("invalid manifest: {0}")]
    Toml(String),
    #[error("`spin_manifest_version` must be 2, found {0}")]
    Version(i64),
    #[error("`{key}` is not supported by this host")]
    Unsupported { key: String },
    #[error("`{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: i64,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: BTreeMap<String, Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    // Known to Spin, not honoured here.
    #[serde(default)]
    pub targets: Option<toml::Value>,
    #[serde(default)]
    pub trigger: Option<toml::Value>,
    #[serde(default)]
    pub tool: Option<toml::Value>,
}

/// An application variable: a default or `required`, possibly `secret`.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

/// Trigger kinds; every kind but `http` lands in `other` and is refused.
#[derive(Debug, Deserialize, Default)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    // Spin's other triggers (redis, cron, …) have no runner here.
    #[serde(flatten)]
    pub other: BTreeMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: toml::Value,
    pub component: toml::Value,
    #[serde(default)]
    pub executor: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    #[serde(default)]
    pub description: Option<String>,
    pub source: toml::Value,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub build: Option<BuildConfig>,
    /// The key-value store labels it may open, each defined in the runtime
    /// config (checked at start, with the runtime config).
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    // Known to Spin, not honoured here.
    #[serde(default)]
    pub files: Option<toml::Value>,
    #[serde(default)]
    pub exclude_files: Option<toml::Value>,
    #[serde(default)]
    pub allowed_http_hosts: Option<toml::Value>,
    #[serde(default)]
    pub sqlite_databases: Option<toml::Value>,
    #[serde(default)]
    pub ai_models: Option<toml::Value>,
    #[serde(default)]
    pub dependencies: Option<toml::Value>,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<toml::Value>,
    #[serde(default)]
    pub tool: Option<toml::Value>,
}

/// What `spin build` runs for a component.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    pub command: String,
    #[serde(default)]
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

/// The parts of a manifest this host runs, checked and resolved.
#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    /// The folder of `spin.toml`; relative paths resolve against it.
    pub root: PathBuf,
    pub variables: BTreeMap<String, VariableDecl>,
    pub routes: Vec<RouteDecl>,
    pub components: BTreeMap<String, ComponentDecl>,
}

#[derive(Debug, Clone)]
pub struct RouteDecl {
    pub route: String,
    pub component: String,
}

#[derive(Debug, Clone)]
pub struct ComponentDecl {
    pub id: String,
    pub source: PathBuf,
    pub allowed_outbound_hosts: Vec<String>,
    pub variables: BTreeMap<String, String>,
    pub environment: BTreeMap<String, String>,
    pub build: Option<BuildConfig>,
    /// `key_value_stores`: the store labels it may open.
    pub key_value_stores: Vec<String>,
}

impl App {
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ManifestError::Read { path: path.to_owned(), source })?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Self::from_toml(&text, &root)
    }

    pub fn from_toml(text: &str, root: &Path) -> Result<Self, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Toml(e.message().to_owned()))?;
        if manifest.spin_manifest_version != 2 {
            return Err(ManifestError::Version(manifest.spin_manifest_version));
        }
        let app = &manifest.application;
        refuse("application.targets", &app.targets)?;
        refuse("application.trigger", &app.trigger)?;
        refuse("application.tool", &app.tool)?;
        if let Some(kind) = manifest.trigger.other.keys().next() {
            return Err(ManifestError::Unsupported { key: format!("trigger.{kind}") });
        }

        for (name, decl) in &manifest.variables {
            check_variable_name(name).map_err(|problem| invalid(format!("variables.{name}"), problem))?;
            if decl.required && decl.default.is_some() {
                return Err(invalid(
                    format!("variables.{name}"),
                    "a variable cannot both be required and have a default",
                ));
            }
        }

        let mut components = BTreeMap::new();
        for (id, component) in manifest.component {
            components.insert(id.clone(), component_decl(&id, component, root, &manifest.variables)?);
        }

        let mut routes = Vec::new();
        for (index, trigger) in manifest.trigger.http.into_iter().enumerate() {
            let key = format!("trigger.http[{index}]");
            refuse(&format!("{key}.executor"), &trigger.executor.filter(is_not_spin_executor))?;
            let route = match trigger.route {
                toml::Value::String(route) => route,
                _ => return Err(ManifestError::Unsupported { key: format!("{key}.route (private routes)") }),
            };
            let component = match trigger.component {
                toml::Value::String(component) => component,
                _ => return Err(ManifestError::Unsupported { key: format!("{key}.component (inline components)") }),
            };
            if !components.contains_key(&component) {
                return Err(invalid(format!("{key}.component"), format!("no component named `{component}`")));
            }
            if !route.starts_with('/') {
                return Err(invalid(format!("{key}.route"), "a route must start with `/`"));
            }
            // Measured under Spin 4.1.0-pre0: with a route such as
            // `/.well-known/jwks.json` in the app, requests to other exact and
            // wildcard routes (here `/api/v1/health`, `/api/v1/auth/...`) went to
            // the root wildcard instead. Refused, so no app relies on it.
            let path = route.strip_suffix("/...").unwrap_or(&route);
            if path.split('/').any(|segment| segment.starts_with('.')) {
                return Err(invalid(
                    format!("{key}.route"),
                    "a route segment starting with `.` (such as `/.well-known/...`) makes Spin 4.1 misroute \
                     other routes; answer such paths from a wildcard route's component instead",
                ));
            }
            routes.push(RouteDecl { route, component });
        }

        Ok(Self {
            name: manifest.application.name,
            root: root.to_owned(),
            variables: manifest.variables,
            routes,
            components,
        })
    }
}

fn component_decl(
    id: &str,
    component: Component,
    root: &Path,
    app_variables: &BTreeMap<String, VariableDecl>,
) -> Result<ComponentDecl, ManifestError> {
    let key = |field: &str| format!("component.{id}.{field}");
    if !is_kebab_case(id) {
        return Err(invalid(format!("component.{id}"), "component ids must be kebab-case"));
    }
    refuse(&key("files"), &component.files)?;
    refuse(&key("exclude_files"), &component.exclude_files)?;
    refuse(&key("allowed_http_hosts"), &component.allowed_http_hosts)?;
    refuse(&key("sqlite_databases"), &component.sqlite_databases.filter(non_empty))?;
    refuse(&key("ai_models"), &component.ai_models.filter(non_empty))?;
    refuse(&key("dependencies"), &component.dependencies)?;
    refuse(&key("dependencies_inherit_configuration"), &component.dependencies_inherit_configuration)?;
    refuse(&key("tool"), &component.tool)?;

    let source = match component.source {
        toml::Value::String(path) => root.join(path),
        _ => return Err(ManifestError::Unsupported { key: key("source (remote sources)") }),
    };
    for host in &component.allowed_outbound_hosts {
        // Outbound HTTP would need the host's own HTTP client; none of the
        // service's components makes HTTP calls, so refuse rather than pretend.
        let scheme = host.split("://").next().unwrap_or_default();
        if matches!(scheme, "http" | "https") {
            return Err(ManifestError::Unsupported {
                key: format!("{} (outbound HTTP: {host})", key("allowed_outbound_hosts")),
            });
        }
    }
    for label in &component.key_value_stores {
        if !is_store_label(label) {
            return Err(invalid(
                key("key_value_stores"),
                format!("label {label:?}: expected kebab-case or snake_case"),
            ));
        }
    }
    for (name, template) in &component.variables {
        check_variable_name(name).map_err(|problem| invalid(key(&format!("variables.{name}")), problem))?;
        for reference in
            template::references(template).map_err(|problem| invalid(key(&format!("variables.{name}")), problem))?
        {
            if !app_variables.contains_key(&reference) {
                return Err(invalid(
                    key(&format!("variables.{name}")),
                    format!("refers to `{reference}`, which is not an application variable"),
                ));
            }
        }
    }
    Ok(ComponentDecl {
        id: id.to_owned(),
        source,
        allowed_outbound_hosts: component.allowed_outbound_hosts,
        variables: component.variables,
        environment: component.environment,
        build: component.build,
        key_value_stores: component.key_value_stores,
    })
}

fn refuse(key: &str, value: &Option<toml::Value>) -> Result<(), ManifestError> {
    match value {
        Some(_) => Err(ManifestError::Unsupported { key: key.to_owned() }),
        None => Ok(()),
    }
}

fn non_empty(value: &toml::Value) -> bool {
    !matches!(value, toml::Value::Array(items) if items.is_empty())
}

fn is_not_spin_executor(value: &toml::Value) -> bool {
    value.get("type").and_then(toml::Value::as_str) != Some("spin")
}

fn invalid(key: String, problem: impl Into<String>) -> ManifestError {
    ManifestError::Invalid { key, problem: problem.into() }
}

/// Spin's rule for store labels (`kebab_or_snake_case` over spin-serde's
/// `Id`): words of ASCII letters and digits, each starting with a letter and
/// either all lower-case or all upper-case, joined by `-` or by `_`.
fn is_store_label(label: &str) -> bool {
    ['-', '_'].into_iter().any(|delimiter| {
        label.split(delimiter).all(|word| {
            let mut chars = word.chars();
            let Some(first) = chars.next().filter(char::is_ascii_alphabetic) else { return false };
            let upper = first.is_ascii_uppercase();
            chars.all(|c| c.is_ascii_digit() || (c.is_ascii_alphabetic() && c.is_ascii_uppercase() == upper))
        })
    })
}

fn is_kebab_case(id: &str) -> bool {
    !id.is_empty()
        && id.split('-').all(|word| {
            !word.is_empty()
                && word.starts_with(|c: char| c.is_ascii_lowercase())
                && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
spin_manifest_version = 2
[application]
name = "demo"
[variables]
db = { default = "postgres://x" }
secret = { required = true, secret = true }
[[trigger.http]]
route = "/api/..."
component = "api"
[component.api]
source = "api.wasm"
allowed_outbound_hosts = ["postgres://127.0.0.1"]
[component.api.variables]
database_url = "{{ db }}"
[component.api.build]
command = "cargo build"
"#;

    fn parse(text: &str) -> Result<App, ManifestError> {
        App::from_toml(text, Path::new("/app"))
    }

    #[test]
    fn a_minimal_manifest_is_read() {
        let app = parse(MINIMAL).unwrap();
        assert_eq!(app.name, "demo");
        assert_eq!(app.routes[0].route, "/api/...");
        let api = &app.components["api"];
        assert_eq!(api.source, Path::new("/app/api.wasm"));
        assert_eq!(api.variables["database_url"], "{{ db }}");
        assert_eq!(api.build.as_ref().unwrap().command, "cargo build");
        assert!(app.variables["secret"].required);
    }

    #[test]
    fn unknown_keys_are_errors_that_name_the_key() {
        let text = MINIMAL.replace("source = \"api.wasm\"", "source = \"api.wasm\"\ncolour = \"blue\"");
        let error = parse(&text).unwrap_err().to_string();
        assert!(error.contains("colour"), "{error}");
    }

    #[test]
    fn spin_features_this_host_lacks_are_refused_by_name() {
        let cases = [
            ("files = [\"static/**\"]", "component.api.files"),
            ("sqlite_databases = [\"default\"]", "component.api.sqlite_databases"),
            ("ai_models = [\"llama2-chat\"]", "component.api.ai_models"),
            ("allowed_outbound_hosts = [\"https://example.com\"]", "component.api.allowed_outbound_hosts"),
        ];
        for (line, key) in cases {
            let text = MINIMAL
                .replace("allowed_outbound_hosts = [\"postgres://127.0.0.1\"]", "")
                .replace("[component.api.variables]", &format!("{line}\n[component.api.variables]"));
            let error = parse(&text).unwrap_err().to_string();
            assert!(error.contains(key) && error.contains("not supported"), "{error}");
        }
        let redis_trigger = format!("{MINIMAL}\n[[trigger.redis]]\nchannel = \"x\"\ncomponent = \"api\"\n");
        assert!(parse(&redis_trigger).unwrap_err().to_string().contains("trigger.redis"));
    }

    #[test]
    fn key_value_store_labels_are_read_when_spin_allows_them() {
        let with = |labels: &str| {
            parse(&MINIMAL.replace(
                "[component.api.variables]",
                &format!("key_value_stores = {labels}\n[component.api.variables]"),
            ))
        };
        let app = with(r#"["default", "snake_case", "kebab-case", "UPPER_words", "mixed_CASE_words", "n1"]"#).unwrap();
        assert_eq!(app.components["api"].key_value_stores.len(), 6);
        assert!(parse(MINIMAL).unwrap().components["api"].key_value_stores.is_empty());
        for bad in
            ["b@dlabel", "camelCase", "", "kebab-and_snake", "_leading", "trailing-", "double__underscore", "1st"]
        {
            let error = with(&format!("[{bad:?}]")).unwrap_err().to_string();
            assert!(
                error.contains("component.api.key_value_stores") && error.contains("kebab-case or snake_case"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn bad_versions_names_and_references_are_refused() {
        assert!(matches!(parse(&MINIMAL.replace("= 2", "= 1")), Err(ManifestError::Version(1))));
        let bad_ref = MINIMAL.replace("{{ db }}", "{{ nope }}");
        assert!(parse(&bad_ref).unwrap_err().to_string().contains("`nope`"));
        let bad_id = MINIMAL.replace("component.api", "component.Api").replace("\"api\"", "\"Api\"");
        assert!(parse(&bad_id).unwrap_err().to_string().contains("kebab-case"));
        let both = MINIMAL.replace("required = true", "required = true, default = \"x\"");
        assert!(parse(&both).unwrap_err().to_string().contains("both"));
        let unrouted = MINIMAL.replace("component = \"api\"", "component = \"missing\"");
        assert!(parse(&unrouted).unwrap_err().to_string().contains("missing"));
    }

    #[test]
    fn routes_with_a_dot_segment_are_refused_as_spin_misroutes_them() {
        for dotted in ["/.well-known/jwks.json", "/.x/...", "/api/.hidden"] {
            let manifest = MINIMAL.replace("route = \"/api/...\"", &format!("route = \"{dotted}\""));
            let error = parse(&manifest).unwrap_err().to_string();
            assert!(error.contains("misroute") && error.contains("trigger.http[0].route"), "{dotted}: {error}");
        }
        let dotted_file = MINIMAL.replace("route = \"/api/...\"", "route = \"/api/openapi.json\"");
        assert!(parse(&dotted_file).is_ok(), "a dot inside a segment is fine");
    }
}
