//! Health answers for load balancers, orchestrators and operators:
//! - `GET /api/v1/health/live/`: the instance can answer at all. It touches
//!   nothing (no variable, no database, no cache), so a liveness probe never
//!   restarts an instance because a dependency is down.
//! - `GET /api/v1/health/ready/` and the contract's `GET /api/v1/health/`:
//!   whether the service can do its work. It checks what every other
//!   endpoint needs — the database and the cache — and answers 503 when
//!   either is down, so a balancer takes the instance out of rotation. The
//!   checks' outcome is kept in Redis for a second (`cache_keys::readiness`),
//!   so however many balancers poll however many instances, the database
//!   sees about one check a second. When Redis itself is down nothing can be
//!   kept, and each poll checks the database (the answer is 503 anyway).

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::model::user::now_rfc3339;
use component_kit::reply::respond;
use component_kit::router::{self, Handler};
use component_kit::{ApiError, ApiRequest, Reply, config};
use serde::{Deserialize, Serialize};
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;
use user_domain::api::endpoints::{Component, Op};
use user_domain::api::responses::{CheckState, Health, HealthChecks, HealthStatus, Liveness, LivenessStatus};
use user_domain::{Envelope, cache_keys};

const SERVICE: &str = "user-service";

#[http_component]
async fn handle(request: IncomingRequest, out: ResponseOutparam) {
    let request = ApiRequest::read(request).await;
    let result = router::serve(&request, Component::Health, handler);
    respond(out, &request, result)
}

/// The handler of each of this component's endpoints.
fn handler(op: Op) -> Option<Handler> {
    Some(match op {
        Op::Live => |_, _| Ok(live()),
        Op::Health | Op::Ready => |request, _| ready(&request.correlation_id),
        _ => return None,
    })
}

fn live() -> Reply {
    let data = Liveness { service: SERVICE.to_owned(), status: LivenessStatus::Alive, timestamp: now_rfc3339() };
    Reply::ok(200, "Service is alive", data)
}

/// The outcome of one round of dependency checks, as kept in Redis.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Checks {
    database: bool,
    cache: bool,
    /// When the checks ran (RFC 3339): a cached answer says how old it is.
    checked_at: String,
}

fn check_database(url: &str) -> bool {
    Db::connect_to(url).and_then(|db| db.execute("SELECT 1", &[]).map(drop)).is_ok()
}

/// The checks, from the last second's answer when there is one.
fn checks(correlation_id: &str) -> Result<Checks, ApiError> {
    let database_url = config::database_url()?;
    let redis_url = config::redis_url()?;
    let key = cache_keys::readiness(&database_url, &redis_url);
    let cache = Cache::open(&redis_url, correlation_id).ok();
    if let Some(kept) = cache.as_ref().and_then(|c| c.get(&key))
        && let Ok(checks) = serde_json::from_slice::<Checks>(&kept)
    {
        return Ok(checks);
    }
    let checks = Checks {
        database: check_database(&database_url),
        cache: cache.as_ref().is_some_and(|c| c.ping().is_ok()),
        checked_at: now_rfc3339(),
    };
    if let Some(cache) = cache.as_ref().filter(|_| checks.cache) {
        let kept = serde_json::to_vec(&checks).map_err(ApiError::internal)?;
        cache.set_ex(&key, &kept, cache_keys::READINESS_SECS);
    }
    Ok(checks)
}

fn ready(correlation_id: &str) -> Result<Reply, ApiError> {
    let checks = checks(correlation_id)?;
    let state = |up: bool| if up { CheckState::Up } else { CheckState::Down };
    let healthy = checks.database && checks.cache;
    let data = Health {
        service: SERVICE.to_owned(),
        status: if healthy { HealthStatus::Healthy } else { HealthStatus::Unhealthy },
        timestamp: now_rfc3339(),
        checked_at: checks.checked_at.clone(),
        checks: HealthChecks { database: state(checks.database), cache: state(checks.cache) },
    };
    if healthy {
        return Ok(Reply::ok(200, "Service is healthy", data));
    }
    let down: Vec<&str> = [("database", checks.database), ("cache", checks.cache)]
        .into_iter()
        .filter(|(_, up)| !up)
        .map(|(name, _)| name)
        .collect();
    let failure = ApiError::Unavailable("dependency");
    let envelope = Envelope {
        success: false,
        message: "Service is unhealthy".into(),
        data: Some(data),
        meta: None,
        error: Some(format!("Unavailable: {}", down.join(", "))),
        code: Some(failure.code().to_owned()),
        details: None,
    };
    Ok(Reply::json(503, &envelope).with_header("retry-after", "5"))
}
