//! The incoming request as handlers see it. The body is read as a stream and
//! reading stops past the size limit, so an oversized upload costs the
//! component a bounded amount of memory and gets a 413, not a trap.

use futures::StreamExt;
use serde_json::Value;
use spin_sdk::http::IncomingRequest;
use std::net::IpAddr;

use user_domain::client_address::{TrustedProxies, client_address};
use user_domain::trace_context::{self, TraceParent};
use user_domain::{ApiError, correlation};

/// The contract's body limit.
pub use user_domain::api::MAX_BODY_BYTES;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Complete(Vec<u8>),
    TooLarge,
    /// The client went away mid-body.
    Broken,
}

#[derive(Debug, Clone)]
pub struct ApiRequest {
    /// Upper-case method.
    pub method: String,
    /// The path without the query string.
    pub path: String,
    pub query: String,
    /// Header names lower-cased.
    headers: Vec<(String, String)>,
    pub body: Body,
    pub correlation_id: String,
    /// See [`ApiRequest::client_ip`]: worked out on first use, since most
    /// reads never need it and it costs a variable lookup.
    client_ip: std::cell::OnceCell<String>,
    /// See [`ApiRequest::trace`]: worked out on first use (a new trace
    /// costs the random source a call).
    trace: std::cell::OnceCell<TraceParent>,
}

/// The `trusted_proxies` variable; a malformed list is logged and trusts none.
fn trusted_proxies(correlation_id: &str) -> TrustedProxies {
    crate::config::trusted_proxies().unwrap_or_else(|problem| {
        crate::log::error(correlation_id, "trusted_proxies ignored", serde_json::json!({"problem": problem}));
        TrustedProxies::default()
    })
}

/// The client's address from the peer's (`ip:port`, `[v6]:port`) and the
/// forwarded-for list, as `user_domain::client_address` rules.
fn client_ip(peer: Option<&str>, forwarded_for: &str, trusted: &TrustedProxies) -> String {
    let Some(peer) = peer else { return "unknown".into() };
    let host = match peer.rsplit_once(':') {
        Some((ip, _port)) if !ip.is_empty() => ip.trim_start_matches('[').trim_end_matches(']'),
        _ => peer,
    };
    match host.parse::<IpAddr>() {
        Ok(address) => {
            let forwarded = Some(forwarded_for).filter(|f| !f.is_empty());
            client_address(address, forwarded, trusted).to_string()
        }
        Err(_) => host.to_owned(),
    }
}

impl ApiRequest {
    pub async fn read(request: IncomingRequest) -> Self {
        let method = request.method().to_string().to_ascii_uppercase();
        let path_and_query = request.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p.to_owned(), q.to_owned()),
            None => (path_and_query.clone(), String::new()),
        };
        let headers: Vec<(String, String)> = request
            .headers()
            .entries()
            .into_iter()
            // Field names are tokens (ASCII), and a value is nearly always UTF-8.
            .map(|(k, v)| {
                let value = String::from_utf8(v).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
                (k.to_ascii_lowercase(), value)
            })
            .collect();
        let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let correlation_id = correlation::resolve(find(correlation::HEADER).as_deref());

        // DELETE may carry a body (turning two-factor sign-in off takes the
        // password and a code).
        let body = if matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS") {
            // Bodies of these methods have no meaning here; do not read them.
            drop(request);
            Body::Complete(Vec::new())
        } else {
            read_capped(request).await
        };
        Self {
            method,
            path,
            query,
            headers,
            body,
            correlation_id,
            client_ip: std::cell::OnceCell::new(),
            trace: std::cell::OnceCell::new(),
        }
    }

    /// The trace this request belongs to (W3C Trace Context): the caller's
    /// `traceparent` if it sent a valid one, else a new trace. What the
    /// request writes to the outbox carries it (`model::event`), so the
    /// messages it causes continue the caller's trace.
    pub fn trace(&self) -> TraceParent {
        *self.trace.get_or_init(|| {
            self.header(trace_context::HEADER)
                .and_then(TraceParent::parse)
                .unwrap_or_else(|| TraceParent::start(&self.correlation_id))
        })
    }

    /// The client's address: the peer's, as Spin reports it in
    /// `spin-client-addr`, or behind a trusted proxy the one it forwarded.
    pub fn client_ip(&self) -> &str {
        self.client_ip.get_or_init(|| {
            let forwarded_for = self
                .headers
                .iter()
                .filter(|(k, _)| k == "x-forwarded-for")
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(",");
            client_ip(self.header("spin-client-addr"), &forwarded_for, &trusted_proxies(&self.correlation_id))
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the client takes a gzip-encoded body (its `Accept-Encoding`).
    pub fn accepts_gzip(&self) -> bool {
        gzip_acceptable(self.header("accept-encoding"))
    }

    /// The path with exactly one trailing slash, so `/a` and `/a/` route alike.
    pub fn route_path(&self) -> String {
        format!("{}/", self.path.trim_end_matches('/'))
    }

    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find_map(|(k, v)| (percent_decode(k) == name).then(|| percent_decode(v)))
    }

    /// The body as JSON: 413 past the limit, 415 without a JSON content
    /// type, 400 when it does not parse.
    pub fn json(&self) -> Result<Value, ApiError> {
        let bytes = match &self.body {
            Body::TooLarge => return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }),
            Body::Broken => return Err(ApiError::MalformedJson("the body could not be read".into())),
            Body::Complete(bytes) => bytes,
        };
        let content_type = self.header("content-type").unwrap_or_default().to_lowercase();
        let media_type = content_type.split(';').next().unwrap_or_default().trim();
        if media_type != "application/json" && !media_type.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType);
        }
        if bytes.is_empty() {
            return Err(ApiError::MalformedJson("the body is empty".into()));
        }
        let body: Value = serde_json::from_slice(bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        user_domain::carriable::check(&body)?;
        Ok(body)
    }

    /// The body as JSON, or a form (`application/x-www-form-urlencoded`,
    /// as OAuth endpoints such as introspection take it) read into a JSON
    /// object of strings (a name given twice: a list of them, which a field
    /// read as a string refuses); its values are checked as a JSON body's
    /// strings are (no NUL).
    pub fn form_or_json(&self) -> Result<Value, ApiError> {
        let content_type = self.header("content-type").unwrap_or_default().to_lowercase();
        if content_type.split(';').next().unwrap_or_default().trim() != "application/x-www-form-urlencoded" {
            return self.json();
        }
        let bytes = match &self.body {
            Body::TooLarge => return Err(ApiError::PayloadTooLarge { limit: MAX_BODY_BYTES }),
            Body::Broken => return Err(ApiError::MalformedJson("the body could not be read".into())),
            Body::Complete(bytes) => bytes,
        };
        let text = std::str::from_utf8(bytes).map_err(|_| ApiError::validation_of("body", "must be UTF-8"))?;
        let mut fields = serde_json::Map::new();
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = Value::String(percent_decode(value));
            // A repeated name becomes a list, which a field read as a
            // string refuses (a parameter must not repeat, RFC 6749
            // section 3.1); an unknown one is ignored like any other.
            match fields.entry(percent_decode(name)) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(value);
                }
                serde_json::map::Entry::Occupied(mut slot) => match slot.get_mut() {
                    Value::Array(values) => values.push(value),
                    first => *first = Value::Array(vec![first.take(), value]),
                },
            }
        }
        let body = Value::Object(fields);
        user_domain::carriable::check(&body)?;
        Ok(body)
    }

    /// The raw body bytes (empty when absent or unreadable).
    pub fn body_bytes(&self) -> &[u8] {
        match &self.body {
            Body::Complete(bytes) => bytes,
            _ => &[],
        }
    }

    /// The token of an `Authorization: Bearer …` header.
    pub fn bearer_token(&self) -> Option<&str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
    }

    pub fn is_mutating(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
    }
}

async fn read_capped(request: IncomingRequest) -> Body {
    let mut stream = Box::pin(request.into_body_stream());
    let mut body = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(chunk) => {
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Body::TooLarge;
                }
                body.extend_from_slice(&chunk);
            }
            Err(_) => return Body::Broken,
        }
    }
    Body::Complete(body)
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high * 16 + low);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether an `Accept-Encoding` value (RFC 9110, section 12.5.3) takes gzip:
/// `gzip` (or its alias `x-gzip`) with a quality above zero, else `*` with
/// one. No header, or a quality that does not parse, takes only identity.
pub fn gzip_acceptable(accept_encoding: Option<&str>) -> bool {
    let (mut gzip, mut any) = (None, None);
    for item in accept_encoding.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let quality = parts
            .find_map(|p| {
                let (name, value) = p.split_once('=')?;
                name.trim().eq_ignore_ascii_case("q").then(|| value.trim().parse::<f32>().unwrap_or(0.0))
            })
            .unwrap_or(1.0);
        match coding.as_str() {
            "gzip" | "x-gzip" => gzip = Some(quality > 0.0),
            "*" => any = Some(quality > 0.0),
            _ => {}
        }
    }
    gzip.or(any).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::{gzip_acceptable, percent_decode};

    #[test]
    fn gzip_is_taken_only_when_the_client_says_so() {
        for taken in ["gzip", "GZip", "br, gzip;q=0.5", "x-gzip", "*", "deflate, *;q=0.1", "gzip ; q=1.0"] {
            assert!(gzip_acceptable(Some(taken)), "{taken}");
        }
        for refused in ["", "identity", "br", "gzip;q=0", "*, gzip;q=0", "*;q=0", "gzip;q=nonsense", "gzipx"] {
            assert!(!gzip_acceptable(Some(refused)), "{refused}");
        }
        assert!(!gzip_acceptable(None));
    }

    #[test]
    fn query_values_are_percent_decoded_without_panicking() {
        assert_eq!(percent_decode("a%40b.com"), "a@b.com");
        assert_eq!(percent_decode("ada+lovelace"), "ada lovelace");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%é"), "%zz%é");
    }
}
