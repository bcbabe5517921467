//! # docs component
//!
//! `GET /api/v1/openapi.json`: the OpenAPI 3 document of the whole API (the
//! file `components/docs/openapi.json`, compiled in). `GET /api/v1/docs/`:
//! the same document rendered as a page for people. The page is rendered
//! here rather than by a browser-side viewer so it needs nothing from the
//! internet and works wherever the service runs.

use component_kit::reply::{not_found, respond};
use component_kit::{ApiError, ApiRequest, Reply};
use serde_json::Value;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

const DOCUMENT: &str = include_str!("../openapi.json");

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let request = ApiRequest::read(request).await;
    let result = match (request.method.as_str(), request.route_path().as_str()) {
        ("GET" | "HEAD", "/api/v1/openapi.json/") => Ok(Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: DOCUMENT.as_bytes().to_vec(),
        }),
        ("GET" | "HEAD", "/api/v1/docs/") => page(),
        (_, "/api/v1/openapi.json/" | "/api/v1/docs/") => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
        _ => Err(not_found()),
    };
    respond(&request, result)
}

fn page() -> Result<Reply, ApiError> {
    let document: Value = serde_json::from_str(DOCUMENT).map_err(ApiError::internal)?;
    Ok(Reply {
        status: 200,
        headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
        body: render(&document).into_bytes(),
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// A schema reference or inline type, as a short readable name.
fn schema_name(schema: &Value) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return format!("<a href=\"#schema-{0}\">{0}</a>", escape(name));
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => format!("array of {}", schema.get("items").map(schema_name).unwrap_or_default()),
        Some(kind) => escape(kind),
        None => "object".into(),
    }
}

fn render(document: &Value) -> String {
    let info = &document["info"];
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}}\
         .op{{border:1px solid #ccd;border-radius:6px;margin:1rem 0;padding:.5rem 1rem}}\
         .m{{font-weight:bold;font-family:monospace;padding:.1rem .4rem;border-radius:4px;background:#eef}}\
         code{{background:#f4f4f8;padding:0 .2rem}}table{{border-collapse:collapse}}td,th{{border:1px solid #ddd;padding:.2rem .5rem;text-align:left}}</style>\
         </head><body><h1>{title} <small>{version}</small></h1><p>{description}</p>\
         <p>Machine-readable: <a href=\"/api/v1/openapi.json\">/api/v1/openapi.json</a></p>",
        title = escape(text(info, "title")),
        version = escape(text(info, "version")),
        description = escape(text(info, "description")),
    );
    if let Some(paths) = document["paths"].as_object() {
        for (path, operations) in paths {
            for (method, operation) in operations.as_object().into_iter().flatten() {
                html += &format!(
                    "<div class=\"op\"><p><span class=\"m\">{}</span> <code>{}</code> — {}</p>",
                    escape(&method.to_uppercase()),
                    escape(path),
                    escape(text(operation, "summary"))
                );
                if !text(operation, "description").is_empty() {
                    html += &format!("<p>{}</p>", escape(text(operation, "description")));
                }
                if let Some(security) = operation.get("security").and_then(Value::as_array) {
                    let schemes: Vec<String> =
                        security.iter().filter_map(Value::as_object).flat_map(|s| s.keys().cloned()).collect();
                    if !schemes.is_empty() {
                        html += &format!("<p>Requires: {}</p>", escape(&schemes.join(", ")));
                    }
                }
                if let Some(parameters) = operation.get("parameters").and_then(Value::as_array) {
                    html += "<table><tr><th>parameter</th><th>in</th><th>description</th></tr>";
                    for p in parameters {
                        html += &format!(
                            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                            escape(text(p, "name")),
                            escape(text(p, "in")),
                            escape(text(p, "description"))
                        );
                    }
                    html += "</table>";
                }
                if let Some(schema) = operation.pointer("/requestBody/content/application~1json/schema") {
                    html += &format!("<p>Body: {}</p>", schema_name(schema));
                }
                if let Some(responses) = operation.get("responses").and_then(Value::as_object) {
                    html += "<ul>";
                    for (status, response) in responses {
                        html +=
                            &format!("<li><b>{}</b> {}</li>", escape(status), escape(text(response, "description")));
                    }
                    html += "</ul>";
                }
                html += "</div>";
            }
        }
    }
    if let Some(schemas) = document.pointer("/components/schemas").and_then(Value::as_object) {
        html += "<h2>Schemas</h2>";
        for (name, schema) in schemas {
            html +=
                &format!("<h3 id=\"schema-{0}\">{0}</h3><p>{1}</p>", escape(name), escape(text(schema, "description")));
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                html += "<table><tr><th>field</th><th>type</th><th>description</th></tr>";
                for (field, property) in properties {
                    html += &format!(
                        "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
                        escape(field),
                        schema_name(property),
                        escape(text(property, "description"))
                    );
                }
                html += "</table>";
            }
        }
    }
    html + "</body></html>"
}
