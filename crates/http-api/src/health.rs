use axum::{
    extract::State,
    http::{HeaderValue, Method, StatusCode, header},
    response::{IntoResponse, Response},
};
use switchyard_api_types::HealthRes;

use crate::params::Auth;
use crate::{Api, AppState, doc};

pub fn routes(a: Api) -> Api {
    a.route(
        Method::GET,
        "/health",
        doc("health", "Service health")
            .auth(Auth::Public)
            .media("application/health+json")
            .ok(200, Some("HealthRes")),
        health,
    )
    .route(
        Method::GET,
        "/metrics",
        doc("health", "Prometheus metrics").auth(Auth::Optional),
        metrics,
    )
}

async fn health(State(s): State<AppState>) -> Response {
    let store_ok = s.core.store_healthy().await;
    let body = HealthRes {
        status: if store_ok { "pass" } else { "fail" }.into(),
        version: s.cfg.version.clone(),
        commit: s.cfg.commit.clone(),
        description: "switchyard service".into(),
        build_time: String::new(),
        instance_id: s.cfg.instance_id.clone(),
        store: s.core.store_backend().into(),
        bus: s.core.bus().kind().into(),
        uptime_seconds: s.started.elapsed().as_secs(),
    };
    let status = if store_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/health+json"),
        )],
        serde_json::to_string(&body).unwrap_or_default(),
    )
        .into_response()
}

async fn metrics(State(s): State<AppState>, parts: axum::http::request::Parts) -> Response {
    // With a token configured, Prometheus must present it (`bearer_token` in its
    // scrape config); the series tell an outsider how busy the deployment is.
    if let Some(want) = s.cfg.metrics_token.as_deref() {
        use subtle::ConstantTimeEq;
        let given = crate::extract::bearer(&parts).unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(want.as_bytes())) {
            return crate::error::message(
                axum::http::StatusCode::UNAUTHORIZED,
                "missing or invalid metrics token",
            );
        }
    }
    let text = s.metrics.as_ref().map(|h| h.render()).unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4"),
        )],
        text,
    )
        .into_response()
}
