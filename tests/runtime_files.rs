//! The files an app under test starts with besides its manifest: the
//! runtime config (its key-value store) and the `--variable` file of the
//! values a test gives as Spin's static provider.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The runtime config file an app under test is started with (`spin up
/// --runtime-config-file`, `host up --runtime-config-file`): the key-value
/// store `cache` on the Redis that `redis_url` names in `variables` (the
/// `SPIN_VARIABLE_*` environment), or on spin.toml's default, as the README
/// tells operators to keep them. Written into `dir`.
pub fn write_runtime_config(dir: &Path, variables: &HashMap<String, String>) -> std::io::Result<PathBuf> {
    write_runtime_config_given(dir, variables, &BTreeMap::new())
}

/// [`write_runtime_config`] for an app whose `redis_url` may be given in a
/// `--variable` file instead of the environment.
pub fn write_runtime_config_given(
    dir: &Path,
    variables: &HashMap<String, String>,
    given: &BTreeMap<String, String>,
) -> std::io::Result<PathBuf> {
    let redis_url = given
        .get("redis_url")
        .or_else(|| variables.get("SPIN_VARIABLE_REDIS_URL"))
        .map(String::as_str)
        .unwrap_or("redis://127.0.0.1:6379");
    let path = dir.join(format!("runtime-config-{}.toml", uuid::Uuid::new_v4().simple()));
    let url = toml::Value::String(redis_url.to_owned());
    std::fs::write(&path, format!("[key_value_store.cache]\ntype = \"redis\"\nurl = {url}\n"))?;
    Ok(path)
}

/// Writes `values` as the TOML file `--variable @file.toml` reads (Spin's
/// static provider): names without the `SPIN_VARIABLE_` prefix.
pub fn write_given_variables(dir: &Path, values: &BTreeMap<String, String>) -> std::io::Result<PathBuf> {
    let path = dir.join(format!("variables-{}.toml", uuid::Uuid::new_v4().simple()));
    let text: String =
        values.iter().map(|(name, value)| format!("{name} = {}\n", toml::Value::String(value.clone()))).collect();
    std::fs::write(&path, text)?;
    Ok(path)
}
