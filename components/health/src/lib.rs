//! `GET /api/v1/health/`: whether the service can do its work, for load
//! balancers and operators. It checks what every other endpoint needs — the
//! database and the cache — and answers 503 when either is down, so a
//! balancer takes the instance out of rotation.

use component_kit::cache::Cache;
use component_kit::db::Db;
use component_kit::reply::{not_found, respond};
use component_kit::users::now_rfc3339;
use component_kit::{ApiError, ApiRequest, Reply, config};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use user_domain::Envelope;
use user_domain::api::responses::{CheckState, Health, HealthChecks, HealthStatus};

const PATH: &str = "/api/v1/health/";

#[http_component]
async fn handle(request: IncomingRequest) -> Response {
    let request = ApiRequest::read(request).await;
    let result = match (request.method.as_str(), request.route_path().as_str()) {
        ("GET" | "HEAD", PATH) => Ok(health()),
        (_, PATH) => Err(ApiError::MethodNotAllowed { allow: "GET, HEAD" }),
        _ => Err(not_found()),
    };
    respond(&request, result)
}

fn check_database() -> Result<(), String> {
    let url = config::var("database_url").map_err(|e| e.to_string())?;
    let db = Db::connect_to(&url).map_err(|e| e.to_string())?;
    db.execute("SELECT 1", &[]).map(drop).map_err(|e| e.to_string())
}

fn check_cache() -> Result<(), String> {
    let url = config::var("redis_url").map_err(|e| e.to_string())?;
    Cache::ping(&url)
}

fn health() -> Reply {
    let database = check_database();
    let cache = check_cache();
    let state = |r: &Result<(), String>| if r.is_ok() { CheckState::Up } else { CheckState::Down };
    let healthy = database.is_ok() && cache.is_ok();
    let data = Health {
        service: "user-service".to_owned(),
        status: if healthy { HealthStatus::Healthy } else { HealthStatus::Unhealthy },
        timestamp: now_rfc3339(),
        checks: HealthChecks { database: state(&database), cache: state(&cache) },
    };
    if healthy {
        return Reply::ok(200, "Service is healthy", data);
    }
    let down: Vec<&str> =
        [("database", &database), ("cache", &cache)].into_iter().filter(|(_, r)| r.is_err()).map(|(n, _)| n).collect();
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
    Reply::json(503, &envelope).with_header("retry-after", "5")
}
