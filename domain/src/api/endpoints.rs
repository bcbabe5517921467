//! Every endpoint of the API, declared once: its name ([`Op`]), method,
//! path, the component that serves it and who may call it. The components
//! dispatch from this table (`component_kit::router` works out 404, 405
//! with `Allow`, and the `X-Request-ID` guard from it), the OpenAPI
//! document walks it, the tests call endpoints by name, and a test checks
//! `spin.toml`'s routes against it. Adding an endpoint is a line here, one
//! handler, its operation in the document, and its test.

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Public,
    /// `Authorization: Bearer <access token>` of a live session of an active account.
    Bearer,
    /// [`Access::Bearer`] of a staff account (and, with `mfa_required_for_staff`,
    /// a session that proved a second factor).
    Staff,
    /// `X-Service-Key`.
    Service,
}

/// The Spin component that serves an endpoint (`spin.toml`'s `[component.…]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    Health,
    Auth,
    Users,
    Preferences,
    Docs,
}

impl Component {
    /// Its id in `spin.toml`.
    pub fn id(self) -> &'static str {
        match self {
            Component::Health => "health",
            Component::Auth => "auth",
            Component::Users => "users",
            Component::Preferences => "preferences",
            Component::Docs => "docs",
        }
    }
}

/// An HTTP method the API serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }

    /// Whether requests change something (and so may carry `X-Request-ID`).
    pub fn is_mutating(self) -> bool {
        !matches!(self, Method::Get)
    }
}

/// Each endpoint's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    // health
    Health,
    Ready,
    Live,
    // docs
    OpenApi,
    DocsPage,
    DocsStart,
    DocsBundle,
    DocsStyle,
    // auth
    Jwks,
    JwksUnderApi,
    Login,
    LoginMfa,
    Refresh,
    Logout,
    VerifyEmail,
    ResendVerification,
    RequestPasswordReset,
    ConfirmPasswordReset,
    RequestEmailCode,
    VerifyEmailCode,
    ChangePassword,
    Introspect,
    ListOwnSessions,
    EndOwnSession,
    OwnAudit,
    StartMfa,
    DisableMfa,
    ConfirmMfa,
    ReplaceRecoveryCodes,
    PasskeyRegisterOptions,
    RegisterPasskey,
    PasskeyLoginOptions,
    PasskeyLogin,
    ListPasskeys,
    RemovePasskey,
    // users
    Register,
    ListUsers,
    GetProfile,
    PatchProfile,
    PutProfile,
    DeactivateProfile,
    RegisterDevice,
    ListDevices,
    RemoveDevice,
    GetUser,
    PatchUser,
    EraseUser,
    ListUserSessions,
    EndUserSessions,
    EndUserSession,
    ResetUserMfa,
    ListUserDevices,
    UserAudit,
    InternalUser,
    LookupUsers,
    TestNotification,
    // preferences
    GetPreferences,
    PatchPreferences,
    PutPreferences,
    ServicePreferences,
}

/// One endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    pub op: Op,
    pub method: Method,
    /// As documented: `{name}` stands for one path segment.
    pub path: &'static str,
    pub component: Component,
    pub access: Access,
    /// A mutating request honours `X-Request-ID`; introspection, a read
    /// that POSTs, does not (a replayed `active: true` could outlive the session).
    pub idempotent: bool,
    /// `HEAD` is served as `GET` (probes, the key set, the docs' files).
    pub head: bool,
    /// In the OpenAPI document (the docs page's script and styles are not).
    pub documented: bool,
}

const fn endpoint(op: Op, method: Method, path: &'static str, component: Component, access: Access) -> Endpoint {
    Endpoint { op, method, path, component, access, idempotent: true, head: false, documented: true }
}

impl Endpoint {
    const fn with_head(mut self) -> Self {
        self.head = true;
        self
    }

    const fn not_idempotent(mut self) -> Self {
        self.idempotent = false;
        self
    }

    const fn undocumented(mut self) -> Self {
        self.documented = false;
        self
    }

    /// Whether the `X-Request-ID` guard applies.
    pub fn guarded(&self) -> bool {
        self.method.is_mutating() && self.idempotent
    }

    /// The path with `params` in place of its `{…}` segments, in order.
    pub fn path_with(&self, params: &[&str]) -> String {
        let mut params = params.iter();
        self.path
            .split('/')
            .map(|segment| if is_param(segment) { params.next().copied().unwrap_or(segment) } else { segment })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// The path's `{…}` segments matched against `path`'s, or `None` if
    /// `path` is not this endpoint's (a trailing slash is optional).
    pub fn matches<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        // The router asks every endpoint of a component on every request:
        // a template without parameters is one comparison, and one with
        // them must at least share its literal start with the path.
        let (template, given) = (self.path.trim_end_matches('/'), path.trim_end_matches('/'));
        match template.find('{') {
            None => return (template == given).then(Vec::new),
            Some(literal) if !given.starts_with(&template[..literal]) => return None,
            Some(_) => {}
        }
        // Segment by segment, allocating only for parameters.
        let mut template = template.split('/');
        let mut given = given.split('/');
        let mut params = Vec::new();
        loop {
            match (template.next(), given.next()) {
                (None, None) => return Some(params),
                (Some(expected), Some(actual)) if is_param(expected) => {
                    if actual.is_empty() {
                        return None;
                    }
                    params.push(actual);
                }
                (Some(expected), Some(actual)) if expected == actual => {}
                _ => return None,
            }
        }
    }
}

/// A template's parameter segments as bits, its first segment the highest.
/// Templates that match one path have as many segments, so the smaller
/// shape is the more literal: a literal where the other has a parameter at
/// the first place they differ. (Templates have far fewer than 64 segments;
/// a test holds the table to it.)
fn shape(template: &str) -> u64 {
    template.split('/').fold(0, |bits, segment| bits << 1 | u64::from(is_param(segment)))
}

fn is_param(segment: &str) -> bool {
    segment.starts_with('{') && segment.ends_with('}')
}

use Access::{Bearer, Public, Service, Staff};
use Component::{Auth, Docs, Health, Preferences, Users};
use Method::{Delete, Get, Patch, Post, Put};

/// The table: every endpoint, each once.
pub const ENDPOINTS: &[Endpoint] = &[
    endpoint(Op::Health, Get, "/api/v1/health/", Health, Public).with_head(),
    endpoint(Op::Ready, Get, "/api/v1/health/ready/", Health, Public).with_head(),
    endpoint(Op::Live, Get, "/api/v1/health/live/", Health, Public).with_head(),
    endpoint(Op::OpenApi, Get, "/api/v1/openapi.json", Docs, Public).with_head(),
    endpoint(Op::DocsPage, Get, "/api/v1/docs/", Docs, Public).with_head(),
    endpoint(Op::DocsStart, Get, "/api/v1/docs/start.js", Docs, Public).with_head().undocumented(),
    endpoint(Op::DocsBundle, Get, "/api/v1/docs/swagger-ui-bundle.js", Docs, Public).with_head().undocumented(),
    endpoint(Op::DocsStyle, Get, "/api/v1/docs/swagger-ui.css", Docs, Public).with_head().undocumented(),
    endpoint(Op::Jwks, Get, "/.well-known/jwks.json", Auth, Public).with_head(),
    endpoint(Op::JwksUnderApi, Get, "/api/v1/auth/jwks.json", Auth, Public).with_head(),
    endpoint(Op::Register, Post, "/api/v1/users/", Users, Public),
    endpoint(Op::ListUsers, Get, "/api/v1/users/", Users, Staff),
    endpoint(Op::Login, Post, "/api/v1/auth/login/", Auth, Public),
    endpoint(Op::LoginMfa, Post, "/api/v1/auth/login/mfa/", Auth, Public),
    endpoint(Op::Refresh, Post, "/api/v1/auth/refresh/", Auth, Public),
    endpoint(Op::Logout, Post, "/api/v1/auth/logout/", Auth, Public),
    endpoint(Op::VerifyEmail, Post, "/api/v1/auth/verify-email/", Auth, Public),
    endpoint(Op::ResendVerification, Post, "/api/v1/auth/verify-email/resend/", Auth, Bearer),
    endpoint(Op::RequestPasswordReset, Post, "/api/v1/auth/password-reset/", Auth, Public),
    endpoint(Op::ConfirmPasswordReset, Post, "/api/v1/auth/password-reset/confirm/", Auth, Public),
    endpoint(Op::RequestEmailCode, Post, "/api/v1/auth/email-code/", Auth, Public),
    endpoint(Op::VerifyEmailCode, Post, "/api/v1/auth/email-code/verify/", Auth, Public),
    endpoint(Op::ChangePassword, Post, "/api/v1/auth/password-change/", Auth, Bearer),
    endpoint(Op::Introspect, Post, "/api/v1/auth/introspect/", Auth, Service).not_idempotent(),
    endpoint(Op::ListOwnSessions, Get, "/api/v1/auth/sessions/", Auth, Bearer),
    endpoint(Op::EndOwnSession, Delete, "/api/v1/auth/sessions/{id}/", Auth, Bearer),
    endpoint(Op::OwnAudit, Get, "/api/v1/auth/audit/", Auth, Bearer),
    endpoint(Op::StartMfa, Post, "/api/v1/auth/mfa/totp/", Auth, Bearer),
    endpoint(Op::DisableMfa, Delete, "/api/v1/auth/mfa/totp/", Auth, Bearer),
    endpoint(Op::ConfirmMfa, Post, "/api/v1/auth/mfa/totp/confirm/", Auth, Bearer),
    endpoint(Op::ReplaceRecoveryCodes, Post, "/api/v1/auth/mfa/recovery-codes/", Auth, Bearer),
    endpoint(Op::PasskeyRegisterOptions, Post, "/api/v1/auth/passkeys/register/options/", Auth, Bearer),
    endpoint(Op::RegisterPasskey, Post, "/api/v1/auth/passkeys/register/", Auth, Bearer),
    endpoint(Op::PasskeyLoginOptions, Post, "/api/v1/auth/passkeys/login/options/", Auth, Public),
    endpoint(Op::PasskeyLogin, Post, "/api/v1/auth/passkeys/login/", Auth, Public),
    endpoint(Op::ListPasskeys, Get, "/api/v1/auth/passkeys/", Auth, Bearer),
    endpoint(Op::RemovePasskey, Delete, "/api/v1/auth/passkeys/{id}/", Auth, Bearer),
    endpoint(Op::GetProfile, Get, "/api/v1/users/profile/", Users, Bearer),
    endpoint(Op::PatchProfile, Patch, "/api/v1/users/profile/", Users, Bearer),
    endpoint(Op::PutProfile, Put, "/api/v1/users/profile/", Users, Bearer),
    endpoint(Op::DeactivateProfile, Delete, "/api/v1/users/profile/", Users, Bearer),
    endpoint(Op::RegisterDevice, Post, "/api/v1/users/devices/", Users, Bearer),
    endpoint(Op::ListDevices, Get, "/api/v1/users/devices/", Users, Bearer),
    endpoint(Op::RemoveDevice, Delete, "/api/v1/users/devices/{id}/", Users, Bearer),
    endpoint(Op::GetPreferences, Get, "/api/v1/users/preferences/", Preferences, Bearer),
    endpoint(Op::PatchPreferences, Patch, "/api/v1/users/preferences/", Preferences, Bearer),
    endpoint(Op::PutPreferences, Put, "/api/v1/users/preferences/", Preferences, Bearer),
    endpoint(Op::GetUser, Get, "/api/v1/users/{id}/", Users, Staff),
    endpoint(Op::PatchUser, Patch, "/api/v1/users/{id}/", Users, Staff),
    endpoint(Op::EraseUser, Delete, "/api/v1/users/{id}/", Users, Staff),
    endpoint(Op::ListUserSessions, Get, "/api/v1/users/{id}/sessions/", Users, Staff),
    endpoint(Op::EndUserSessions, Delete, "/api/v1/users/{id}/sessions/", Users, Staff),
    endpoint(Op::EndUserSession, Delete, "/api/v1/users/{id}/sessions/{session}/", Users, Staff),
    endpoint(Op::ResetUserMfa, Delete, "/api/v1/users/{id}/mfa/", Users, Staff),
    endpoint(Op::ListUserDevices, Get, "/api/v1/users/{id}/devices/", Users, Staff),
    endpoint(Op::UserAudit, Get, "/api/v1/users/{id}/audit/", Users, Staff),
    endpoint(Op::ServicePreferences, Get, "/api/v1/users/{id}/preferences/", Preferences, Service),
    endpoint(Op::InternalUser, Get, "/api/v1/internal/users/{id}/", Users, Service),
    endpoint(Op::LookupUsers, Post, "/api/v1/internal/users/lookup/", Users, Service).not_idempotent(),
    endpoint(Op::TestNotification, Post, "/api/v1/notifications/test/", Users, Staff),
];

/// The endpoint named `op`.
pub fn of(op: Op) -> &'static Endpoint {
    ENDPOINTS.iter().find(|e| e.op == op).expect("every Op is in the table (a test checks it)")
}

/// Where a request to one component goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Routed<'p> {
    /// This endpoint, with its path parameters in order.
    Found(&'static Endpoint, Vec<&'p str>),
    /// The path is the component's, not with this method: `Allow` lists
    /// those it serves there.
    MethodNotAllowed(String),
    /// No endpoint of the component has this path.
    NotFound,
}

/// Routes `method` and `path` (without its query) among `component`'s
/// endpoints. A literal segment beats a parameter, so
/// `/api/v1/users/profile/` is the profile, not a user called "profile".
pub fn route<'p>(component: Component, method: &str, path: &'p str) -> Routed<'p> {
    let mut candidates: Vec<(&'static Endpoint, Vec<&'p str>)> = ENDPOINTS
        .iter()
        .filter(|e| e.component == component)
        .filter_map(|e| e.matches(path).map(|params| (e, params)))
        .collect();
    // The most literal template wins the path: compared segment by
    // segment, a literal beats a parameter at the first place they differ
    // (`/users/devices/{id}/` over `/users/{id}/sessions/`). Candidates
    // that are one template under several methods need no comparing.
    if candidates.iter().any(|(e, _)| e.path != candidates[0].0.path) {
        let best = candidates.iter().map(|(e, _)| shape(e.path)).min();
        candidates.retain(|(e, _)| Some(shape(e.path)) == best);
    }
    if candidates.is_empty() {
        return Routed::NotFound;
    }
    let head_as_get = method == "HEAD";
    for (endpoint, params) in &candidates {
        if endpoint.method.as_str() == method || (head_as_get && endpoint.head && endpoint.method == Method::Get) {
            return Routed::Found(endpoint, params.clone());
        }
    }
    let mut methods: Vec<Method> = candidates.iter().map(|(e, _)| e.method).collect();
    methods.sort();
    methods.dedup();
    let mut allow: Vec<&str> = Vec::new();
    for method in methods {
        allow.push(method.as_str());
        if method == Method::Get && candidates.iter().any(|(e, _)| e.head) {
            allow.push("HEAD");
        }
    }
    Routed::MethodNotAllowed(allow.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_is_declared_once_and_every_method_and_path_once() {
        let mut seen = std::collections::HashSet::new();
        for endpoint in ENDPOINTS {
            assert!(
                seen.insert((endpoint.method, endpoint.path)),
                "{} {} twice",
                endpoint.method.as_str(),
                endpoint.path
            );
            assert_eq!(ENDPOINTS.iter().filter(|e| e.op == endpoint.op).count(), 1, "{:?}", endpoint.op);
            assert!(endpoint.path.starts_with('/'));
        }
    }

    #[test]
    fn literal_segments_beat_parameters_and_405_lists_the_paths_methods() {
        let Routed::Found(profile, params) = route(Component::Users, "GET", "/api/v1/users/profile/") else {
            panic!("the profile")
        };
        assert_eq!((profile.op, params.len()), (Op::GetProfile, 0));
        let Routed::Found(user, params) = route(Component::Users, "PATCH", "/api/v1/users/abc/") else { panic!() };
        assert_eq!((user.op, params), (Op::PatchUser, vec!["abc"]));
        assert_eq!(
            route(Component::Users, "POST", "/api/v1/users/profile"),
            Routed::MethodNotAllowed("GET, PATCH, PUT, DELETE".into())
        );
        assert_eq!(route(Component::Users, "PUT", "/api/v1/users/"), Routed::MethodNotAllowed("GET, POST".into()));
        assert_eq!(
            route(Component::Auth, "POST", "/.well-known/jwks.json"),
            Routed::MethodNotAllowed("GET, HEAD".into())
        );
        assert!(
            matches!(route(Component::Auth, "HEAD", "/.well-known/jwks.json/"), Routed::Found(e, _) if e.op == Op::Jwks)
        );
        assert_eq!(route(Component::Auth, "GET", "/api/v1/users/profile/"), Routed::NotFound, "another component's");
        assert_eq!(route(Component::Users, "GET", "/api/v1/users//sessions/"), Routed::NotFound, "an empty segment");
        assert_eq!(route(Component::Auth, "GET", "/api/v2/anything"), Routed::NotFound);
        // Both templates take this path; the one literal for longer wins.
        let Routed::Found(device, _) = route(Component::Users, "DELETE", "/api/v1/users/devices/sessions/") else {
            panic!()
        };
        assert_eq!(device.op, Op::RemoveDevice);
    }

    #[test]
    fn every_template_fits_a_shape_and_matches_as_it_did_segment_by_segment() {
        for endpoint in ENDPOINTS {
            assert!(endpoint.path.split('/').count() < 64, "{}", endpoint.path);
        }
        // The cheap refusals (a literal template is one comparison, one
        // with parameters needs its literal start) refuse nothing a
        // segment-by-segment match takes, nor take what it refuses.
        let paths = [
            "/api/v1/users/",
            "/api/v1/users",
            "/api/v1/users/x/",
            "/api/v1/users/x/sessions/",
            "/",
            "",
            "/api/v1/users/devices/x/",
            "/api/v1/users//",
            "/api/v1/auth/login/",
            "/api/v1/usersx/",
            "/api/v1/users/{id}/",
        ];
        for endpoint in ENDPOINTS {
            for path in paths {
                let template: Vec<&str> = endpoint.path.trim_end_matches('/').split('/').collect();
                let given: Vec<&str> = path.trim_end_matches('/').split('/').collect();
                let expected = (template.len() == given.len()
                    && template.iter().zip(&given).all(|(t, g)| if is_param(t) { !g.is_empty() } else { t == g }))
                .then(|| template.iter().zip(&given).filter(|(t, _)| is_param(t)).map(|(_, g)| *g).collect::<Vec<_>>());
                assert_eq!(endpoint.matches(path), expected, "{} against {path}", endpoint.path);
            }
        }
    }

    #[test]
    fn paths_are_filled_in_order() {
        assert_eq!(of(Op::EndUserSession).path_with(&["u1", "s2"]), "/api/v1/users/u1/sessions/s2/");
        assert_eq!(of(Op::Login).path_with(&[]), "/api/v1/auth/login/");
    }

    #[test]
    fn only_the_reads_that_post_go_without_the_request_id_guard() {
        let unguarded: Vec<Op> =
            ENDPOINTS.iter().filter(|e| e.method.is_mutating() && !e.guarded()).map(|e| e.op).collect();
        assert_eq!(unguarded, [Op::Introspect, Op::LookupUsers]);
    }
}
