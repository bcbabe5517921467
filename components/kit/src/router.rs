//! The one router of every component: it finds a request's endpoint in the
//! endpoint table (`user_domain::api::endpoints`), answers 404 for a path
//! the component does not serve and 405 with `Allow` for a method it does
//! not serve there, refuses a request without the credentials the
//! endpoint's access needs (401, before any handler or database work), and
//! runs the handler under the `X-Request-ID` guard when the endpoint takes
//! one. A component only says which handler serves which [`Op`].

use user_domain::api::endpoints::{self, Access, Component, Endpoint, Op, Routed};
use user_domain::envelope::Reply;
use user_domain::{ApiError, UserId};

use crate::auth::{self, Caller, SignedIn};
use crate::cache::{Cache, CacheReader, LazyCache, LazyReader};
use crate::db::Db;
use crate::idempotency;
use crate::model::user::UserRecord;
use crate::request::ApiRequest;

/// What a handler gets besides the request.
pub struct Context<'a> {
    pub endpoint: &'static Endpoint,
    /// The path's `{…}` segments, in order.
    pub params: Vec<String>,
    /// Who presented a valid access token, for `Bearer` and `Staff` endpoints.
    caller: Option<Caller>,
    cache: LazyCache<'a>,
    reader: LazyReader<'a>,
}

impl Context<'_> {
    /// The caller whose access token the router checked (401 on an endpoint
    /// that takes none).
    pub fn caller(&self) -> Result<&Caller, ApiError> {
        self.caller.as_ref().ok_or(ApiError::Unauthorized("Authentication credentials were not provided"))
    }

    /// The caller's account as it is now (`auth::account_of`).
    pub fn account(&self) -> Result<(Db, UserRecord), ApiError> {
        auth::account_of(self.caller()?)
    }

    /// The caller's account and session (`auth::signed_in`).
    pub fn signed_in(&self) -> Result<SignedIn, ApiError> {
        auth::signed_in(self.caller()?)
    }

    /// The caller's account, staff now (`auth::staff_of`).
    pub fn staff(&self) -> Result<(Db, UserRecord), ApiError> {
        auth::staff_of(self.caller()?)
    }

    /// Redis, opened on first use (under `spin up` every open is a new connection).
    pub fn cache(&self) -> Option<&Cache> {
        self.cache.get()
    }

    /// Where the cached reads look (`cache_reads`): the key-value store, or
    /// the Redis of [`Self::cache`]; `None` without either.
    pub fn cache_reader(&self) -> Result<Option<CacheReader<'_>>, ApiError> {
        self.reader.get(&self.cache)
    }

    /// The path parameter at `index`.
    pub fn param(&self, index: usize) -> &str {
        self.params.get(index).map(String::as_str).unwrap_or_default()
    }

    /// The path parameter at `index` as a user id: anything else names no
    /// user (404).
    pub fn user_id(&self, index: usize) -> Result<UserId, ApiError> {
        UserId::parse(self.param(index)).map_err(|_| ApiError::NotFound("User"))
    }
}

/// A handler of one endpoint.
pub type Handler = fn(&ApiRequest, &Context) -> Result<Reply, ApiError>;

/// Serves `request` for `component`: `handler` names the handler of each of
/// the component's endpoints (`None` is a bug: the suite calls every
/// endpoint of the table and fails on a 500).
pub fn serve(
    request: &ApiRequest,
    component: Component,
    handler: fn(Op) -> Option<Handler>,
) -> Result<Reply, ApiError> {
    let (endpoint, params) = match endpoints::route(component, &request.method, &request.path) {
        Routed::Found(endpoint, params) => (endpoint, params.into_iter().map(str::to_owned).collect()),
        Routed::MethodNotAllowed(allow) => return Err(ApiError::MethodNotAllowed { allow }),
        Routed::NotFound => return Err(not_found()),
    };
    let handle = handler(endpoint.op).ok_or_else(|| ApiError::internal(format!("no handler for {:?}", endpoint.op)))?;
    // Without the credentials the endpoint needs, the answer is 401 at once:
    // no database, no idempotency key claimed or counted.
    let caller = match endpoint.access {
        Access::Public => None,
        Access::Bearer | Access::Staff => Some(auth::caller(request)?),
        Access::Service => {
            auth::service(request)?;
            None
        }
    };
    let context = Context {
        endpoint,
        params,
        caller,
        cache: LazyCache::new(&request.correlation_id),
        reader: LazyReader::new(&request.correlation_id),
    };
    if endpoint.guarded() {
        idempotency::guard(request, endpoint.access, || handle(request, &context))
    } else {
        handle(request, &context)
    }
}

/// 404 for a path this component does not serve.
pub fn not_found() -> ApiError {
    ApiError::NotFound("Endpoint")
}
