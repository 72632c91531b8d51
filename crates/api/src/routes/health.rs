//! Liveness and readiness probes, outside `/api/v1` and outside the session layer.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiError, PROBLEM_JSON, Problem, ProblemKind};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ok"}))]
pub struct Health {
    pub status: &'static str,
}

// Which session store runs is for the operator, not the public: the log
// names it at start-up and in a readiness warning.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "ready", "database": "ok", "session_store": "ok"}))]
pub struct Readiness {
    pub status: &'static str,
    pub database: &'static str,
    pub session_store: &'static str,
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The service is alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the database and the session store both answer. When one
/// does not, the 503 names it in `unavailable` (`database`,
/// `session_store`).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Readiness),
        (status = 503, description = "The database or the session store does not answer; `unavailable` names which", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let (db, store) = tokio::join!(
        crate::db::within(state.database_timeout, state.db.ping()),
        state.sessions.ping()
    );
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database does not answer");
    }
    if let Err(e) = &store {
        tracing::warn!(
            error = %e,
            session_backend = state.sessions.backend_name(),
            "readiness: session store does not answer"
        );
    }
    // Each part that does not answer, named by its field in `Readiness`.
    let (unavailable, detail): (&'static [&'static str], _) = match (db.is_err(), store.is_err()) {
        (false, false) => {
            return Ok(Json(Readiness {
                status: "ready",
                database: "ok",
                session_store: "ok",
            }));
        }
        (true, false) => (&["database"], "the database does not answer"),
        (false, true) => (&["session_store"], "the session store does not answer"),
        (true, true) => (
            &["database", "session_store"],
            "the database and the session store do not answer",
        ),
    };
    Err(ApiError::new(
        ProblemKind::ServiceUnavailable,
        format!("Not ready: {detail}."),
    )
    .with_unavailable(unavailable))
}
