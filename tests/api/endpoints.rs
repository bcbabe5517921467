//! The endpoint table (`user_domain::api::endpoints`) against what runs:
//! `spin.toml` routes every endpoint to the component the table names, and
//! every endpoint of the table is served by its component (the router found
//! a handler: no 404, no 500), under the runtime `TEST_RUNTIME` names.

use api_tests::{Spawn, repo_root, spawn_with};
use user_domain::api::endpoints::ENDPOINTS;

/// A concrete path for an endpoint: each `{…}` segment a fresh UUID.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|segment| if segment.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { segment.to_owned() })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn spin_toml_routes_every_endpoint_to_the_component_the_table_names() {
    let app = host::manifest::App::from_file(&repo_root().join("spin.toml")).expect("spin.toml loads");
    let (router, duplicates) =
        host::routes::Router::build(app.routes.iter().map(|r| (r.route.as_str(), r.component.as_str())));
    assert!(duplicates.is_empty(), "{duplicates:?}");
    for endpoint in ENDPOINTS {
        let path = concrete(endpoint.path);
        let routed = router.route(&path).unwrap_or_else(|| panic!("{path} reaches no component"));
        assert_eq!(routed.component, endpoint.component.id(), "{} {}", endpoint.method.as_str(), endpoint.path);
        assert!(app.components.contains_key(endpoint.component.id()));
    }
}

#[tokio::test]
async fn every_endpoint_of_the_table_is_served_by_its_component() {
    let app = spawn_with(Spawn::default().variable("service_keys", "endpoints-test-key")).await;
    for endpoint in ENDPOINTS {
        let path = concrete(endpoint.path);
        let method = reqwest::Method::from_bytes(endpoint.method.as_str().as_bytes()).unwrap();
        // No credentials: a guarded endpoint says 401, a public one answers
        // or refuses the empty body; none is unknown, none lacks a handler.
        let answer = app.send(app.client.request(method, app.url(&path))).await;
        let text = &answer.text;
        assert!(
            answer.status != 404 || !text.contains("Endpoint not found"),
            "{} {path} is not served: {text}",
            endpoint.method.as_str()
        );
        assert!(
            answer.status < 500 || answer.status == 503,
            "{} {path}: {} {text}",
            endpoint.method.as_str(),
            answer.status
        );
        assert_ne!(answer.status, 405, "{} {path}: {text}", endpoint.method.as_str());
    }
}

/// The README's "Endpoints" table lists exactly the documented endpoints of
/// the table, each with the component and access the table gives it, so the
/// README cannot drift from what is served.
#[test]
fn the_readmes_endpoint_table_is_the_table() {
    use std::collections::BTreeSet;
    use user_domain::api::endpoints::Access;
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let section = readme.split("\n### Endpoints\n").nth(1).expect("the README has an \"### Endpoints\" section");
    let section = section.split("\n#").next().unwrap();
    let rows: BTreeSet<(String, String, String)> = section
        .lines()
        .filter(|line| line.starts_with("| `"))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            (cells[1].trim_matches('`').to_owned(), cells[2].to_owned(), cells[3].to_owned())
        })
        .collect();
    let access = |access: Access| match access {
        Access::Public => "public",
        Access::Bearer => "bearer",
        Access::Staff => "staff",
        Access::Service => "service key",
    };
    let table: BTreeSet<(String, String, String)> = ENDPOINTS
        .iter()
        .filter(|e| e.documented)
        .map(|e| {
            let endpoint = format!("{} {}", e.method.as_str(), e.path);
            (endpoint, e.component.id().to_owned(), access(e.access).to_owned())
        })
        .collect();
    let missing: Vec<_> = table.difference(&rows).collect();
    let extra: Vec<_> = rows.difference(&table).collect();
    assert!(missing.is_empty() && extra.is_empty(), "not in the README: {missing:?}; not in the table: {extra:?}");
}
