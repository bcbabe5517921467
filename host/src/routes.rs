//! HTTP routing with Spin's rules: a trailing `/...` is a wildcard, `:name`
//! captures one segment, an exact route beats a wildcard, the longest
//! wildcard prefix wins, and of two identical routes the last one wins.
//! Like Spin, a trailing slash on a request path does not change which route
//! matches, but it is kept in `spin-path-info`.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Capture(String),
}

#[derive(Debug, Clone)]
struct Route {
    /// As written in the manifest, for `spin-raw-component-route`.
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
    component: String,
}

/// What a request path matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    pub component: String,
    /// The route as written, e.g. `/api/v1/auth/...`.
    pub raw_route: String,
    /// `spin-path-info`: the part of the path the wildcard took.
    pub path_info: String,
    /// `spin-path-match-<name>` values.
    pub captures: BTreeMap<String, String>,
}

impl RouteMatch {
    /// The route without its trailing wildcard (`spin-component-route`).
    pub fn component_route(&self) -> &str {
        self.raw_route.strip_suffix("/...").unwrap_or(&self.raw_route)
    }
}

#[derive(Debug, Default, Clone)]
pub struct Router {
    routes: Vec<Route>,
}

/// A route that was declared again and so is unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRoute {
    pub route: String,
    pub replaced: String,
    pub effective: String,
}

impl Router {
    /// Builds the router; returns the duplicates it dropped, for a warning.
    pub fn build<'a>(routes: impl IntoIterator<Item = (&'a str, &'a str)>) -> (Self, Vec<DuplicateRoute>) {
        let mut kept: Vec<Route> = Vec::new();
        let mut duplicates = Vec::new();
        for (raw, component) in routes {
            let (path, wildcard) = match raw.strip_suffix("/...") {
                Some(prefix) => (prefix, true),
                None => (raw, false),
            };
            let route = Route {
                raw: raw.to_owned(),
                segments: parse_segments(path),
                wildcard,
                component: component.to_owned(),
            };
            if let Some(existing) =
                kept.iter_mut().find(|r| r.segments == route.segments && r.wildcard == route.wildcard)
            {
                duplicates.push(DuplicateRoute {
                    route: raw.to_owned(),
                    replaced: existing.component.clone(),
                    effective: route.component.clone(),
                });
                *existing = route;
            } else {
                kept.push(route);
            }
        }
        (Self { routes: kept }, duplicates)
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let request: Vec<&str> = split(path);
        self.routes
            .iter()
            .filter_map(|route| route.matches(&request).map(|captures| (route, captures)))
            .max_by_key(|(route, captures)| (!route.wildcard, route.segments.len(), usize::MAX - captures.len()))
            .map(|(route, captures)| RouteMatch {
                component: route.component.clone(),
                raw_route: route.raw.clone(),
                path_info: if route.wildcard {
                    path_info(&request[route.segments.len()..], path)
                } else {
                    String::new()
                },
                captures,
            })
    }
}

impl Route {
    fn matches(&self, request: &[&str]) -> Option<BTreeMap<String, String>> {
        let fits =
            if self.wildcard { request.len() >= self.segments.len() } else { request.len() == self.segments.len() };
        if !fits {
            return None;
        }
        let mut captures = BTreeMap::new();
        for (segment, actual) in self.segments.iter().zip(request) {
            match segment {
                Segment::Literal(literal) if literal == actual => {}
                Segment::Literal(_) => return None,
                Segment::Capture(name) => {
                    captures.insert(name.clone(), (*actual).to_owned());
                }
            }
        }
        Some(captures)
    }
}

fn parse_segments(path: &str) -> Vec<Segment> {
    split(path)
        .into_iter()
        .map(|s| match s.strip_prefix(':') {
            Some(name) => Segment::Capture(name.to_owned()),
            None => Segment::Literal(s.to_owned()),
        })
        .collect()
}

/// Path segments, ignoring the one empty segment a trailing slash makes.
fn split(path: &str) -> Vec<&str> {
    let path = path.split('?').next().unwrap_or_default();
    let path = path.strip_prefix('/').unwrap_or(path);
    let path = path.strip_suffix('/').unwrap_or(path);
    if path.is_empty() { Vec::new() } else { path.split('/').collect() }
}

/// Spin keeps the trailing slash in the wildcard's share of the path.
fn path_info(rest: &[&str], path: &str) -> String {
    let trailing_slash = path.split('?').next().unwrap_or_default().ends_with('/');
    match (rest.is_empty(), trailing_slash) {
        (true, false) => String::new(),
        (true, true) => "/".to_owned(),
        (false, false) => format!("/{}", rest.join("/")),
        (false, true) => format!("/{}/", rest.join("/")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        Router::build(routes.iter().map(|(route, component)| (*route, *component))).0
    }

    fn component(router: &Router, path: &str) -> Option<String> {
        router.route(path).map(|m| m.component)
    }

    #[test]
    fn exact_beats_wildcard() {
        let r = router(&[("/...", "all"), ("/one", "exact")]);
        assert_eq!(component(&r, "/one").as_deref(), Some("exact"));
        assert_eq!(component(&r, "/one/two").as_deref(), Some("all"));
    }

    #[test]
    fn longest_wildcard_prefix_wins_regardless_of_order() {
        for order in [["/one/...", "/one/two/..."], ["/one/two/...", "/one/..."]] {
            let r = router(&[(order[0], order[0]), (order[1], order[1])]);
            assert_eq!(component(&r, "/one/two/three").as_deref(), Some("/one/two/..."));
            assert_eq!(component(&r, "/one/x").as_deref(), Some("/one/..."));
        }
    }

    #[test]
    fn duplicate_routes_last_one_wins() {
        let (r, duplicates) = Router::build([("/foo", "first"), ("/foo", "second")]);
        assert_eq!(component(&r, "/foo").as_deref(), Some("second"));
        assert_eq!(
            duplicates,
            vec![DuplicateRoute { route: "/foo".into(), replaced: "first".into(), effective: "second".into() }]
        );
    }

    #[test]
    fn no_route_means_no_match() {
        let r = router(&[("/api/...", "api")]);
        assert_eq!(component(&r, "/other"), None);
        assert_eq!(component(&r, "/apix"), None);
    }

    #[test]
    fn trailing_slashes_do_not_change_the_match() {
        let r = router(&[("/api/v1/users/", "users"), ("/health", "health")]);
        assert_eq!(component(&r, "/api/v1/users").as_deref(), Some("users"));
        assert_eq!(component(&r, "/api/v1/users/").as_deref(), Some("users"));
        assert_eq!(component(&r, "/health/").as_deref(), Some("health"));
    }

    #[test]
    fn path_info_keeps_spins_trailing_slash_rules() {
        let r = router(&[("/foo/...", "foo")]);
        let info = |path| r.route(path).unwrap().path_info;
        assert_eq!(info("/foo"), "");
        assert_eq!(info("/foo/"), "/");
        assert_eq!(info("/foo/bar"), "/bar");
        assert_eq!(info("/foo/bar/"), "/bar/");
        assert_eq!(info("/foo/bar?x=1"), "/bar");
        assert_eq!(r.route("/foo/bar").unwrap().component_route(), "/foo");
    }

    #[test]
    fn named_segments_are_captured() {
        let r = router(&[("/users/:id/preferences", "prefs"), ("/users/:id/...", "user")]);
        let m = r.route("/users/42/preferences").unwrap();
        assert_eq!(m.component, "prefs");
        assert_eq!(m.captures["id"], "42");
        assert_eq!(r.route("/users/42/other").unwrap().captures["id"], "42");
    }

    #[test]
    fn the_root_wildcard_matches_everything() {
        let r = router(&[("/...", "all")]);
        assert_eq!(r.route("/").unwrap().path_info, "/");
        assert_eq!(r.route("/a/b").unwrap().path_info, "/a/b");
    }
}
