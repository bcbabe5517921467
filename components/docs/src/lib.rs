//! # docs component
//!
//! `GET /api/v1/openapi.json`: the OpenAPI document of the whole API,
//! generated at build time from the request and response types
//! (`user_domain::api`, see `build.rs`). `GET /api/v1/docs/`: Swagger UI
//! rendering it, with try-it-out against this same origin. The viewer's
//! assets are vendored (`vendor/swagger-ui/`) and compiled in, so the page
//! needs nothing from the internet. The document and the viewer's files are
//! kept gzip-compressed (`build.rs`) and sent so to clients that take gzip.

use std::io::Read;

use component_kit::reply::respond;
use component_kit::router::{self, Handler};
use component_kit::{ApiError, ApiRequest, Reply};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use user_domain::api::endpoints::{self, Component, Op};

const DOCUMENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/openapi.json.gz"));

/// Our page: the viewer's stylesheet and script, then our start-up script,
/// at the paths the endpoint table gives them. No inline script, so the
/// policy below can forbid inline scripts.
fn page() -> String {
    let at = |op| endpoints::of(op).path;
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>User service API</title>
<link rel="stylesheet" href="{style}">
</head>
<body>
<noscript>This page needs JavaScript; the document itself is at <a href="{document}">{document}</a>.</noscript>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script src="{start}"></script>
</body>
</html>
"#,
        style = at(Op::DocsStyle),
        document = at(Op::OpenApi),
        bundle = at(Op::DocsBundle),
        start = at(Op::DocsStart),
    )
}

/// Points the viewer at the document on this origin. `validatorUrl: null`
/// keeps it from asking an online validator (no internet is assumed).
fn start() -> String {
    format!(
        r##"window.ui = SwaggerUIBundle({{
  url: "{document}",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  displayRequestDuration: true,
  tryItOutEnabled: false,
}});
"##,
        document = endpoints::of(Op::OpenApi).path
    )
}

const BUNDLE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js.gz"));
const STYLES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css.gz"));

/// What the viewer needs and no more: its own script and styles (Swagger UI
/// sets inline styles, and its icons are `data:` images), fetches to this
/// origin only (the document and try-it-out calls), never framed.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                      img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = ApiRequest::read(request).await;
    let result = router::serve(&request, Component::Docs, handler);
    respond(out, &request, result)
}

/// The handler of each of this component's endpoints.
fn handler(op: Op) -> Option<Handler> {
    Some(match op {
        Op::OpenApi => |request, _| compressed(request, "application/json", DOCUMENT, "no-cache"),
        Op::DocsPage => |_, _| Ok(asset("text/html; charset=utf-8", page().as_bytes(), "no-cache")),
        Op::DocsStart => |_, _| Ok(asset("text/javascript; charset=utf-8", start().as_bytes(), "no-cache")),
        // The vendored files change only with a new build; a day is plenty.
        Op::DocsBundle => {
            |request, _| compressed(request, "text/javascript; charset=utf-8", BUNDLE, "public, max-age=86400")
        }
        Op::DocsStyle => |request, _| compressed(request, "text/css; charset=utf-8", STYLES, "public, max-age=86400"),
        _ => return None,
    })
}

/// A gzip-compressed static answer: sent as it is to a client that takes
/// gzip (every browser), inflated for one that does not. Caches keep the
/// two apart (`Vary`).
fn compressed(request: &ApiRequest, content_type: &str, gz: &[u8], cache: &str) -> Result<Reply, ApiError> {
    let reply = if request.accepts_gzip() {
        asset(content_type, gz, cache).with_header("content-encoding", "gzip")
    } else {
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut plain).map_err(ApiError::internal)?;
        asset(content_type, &plain, cache)
    };
    Ok(reply.with_header("vary", "accept-encoding"))
}

/// A static answer with the headers every docs answer carries.
fn asset(content_type: &str, body: &[u8], cache: &str) -> Reply {
    Reply {
        status: 200,
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("cache-control".into(), cache.into()),
            ("content-security-policy".into(), POLICY.into()),
            ("x-content-type-options".into(), "nosniff".into()),
            ("referrer-policy".into(), "no-referrer".into()),
        ],
        body: body.to_vec(),
        replay: Default::default(),
    }
}
