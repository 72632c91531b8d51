//! A user's own signed-in sessions: `/auth/sessions`. Each is named by a
//! public handle, never by its session id.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::auth::NotSignedIn;
use crate::auth::AuthUser;
use crate::auth::logins::{self, Ended, Login};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::AppPath;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions, end_other_sessions))
        .routes(routes!(end_one_session))
}

/// One of the user's signed-in sessions.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "handle": "q8W0x3kV2mZ7bT1yR5nC4A", "created_at": "2026-11-26T09:00:00Z",
    "last_seen_at": "2026-11-26T09:42:00Z", "client_ip": "192.0.2.7",
    "user_agent": "Mozilla/5.0 (X11; Linux x86_64)", "remember_me": false, "current": true
}))]
pub struct SessionView {
    /// Names the session in `DELETE /api/v1/auth/sessions/{handle}`; it is
    /// not the session cookie and cannot be used as one.
    pub handle: String,
    /// When it signed in.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// Its last request, to the minute.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: OffsetDateTime,
    /// The address it signed in from.
    pub client_ip: String,
    /// The browser or client it signed in with, as it named itself (at most
    /// 256 characters).
    pub user_agent: Option<String>,
    /// Whether it was signed in with "remember me" (a persistent cookie).
    pub remember_me: bool,
    /// Whether it is the session making this request.
    pub current: bool,
}

impl From<Login> for SessionView {
    fn from(l: Login) -> Self {
        SessionView {
            handle: l.handle,
            created_at: l.created_at,
            last_seen_at: l.last_seen_at,
            client_ip: l.client_ip,
            user_agent: l.user_agent,
            remember_me: l.remember_me,
            current: l.current,
        }
    }
}

/// The user's active sessions.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionList {
    /// The most recently used first.
    pub items: Vec<SessionView>,
}

/// The user has no session with this handle.
#[derive(IntoResponses)]
#[response(status = 404, description = "None of your sessions has this handle", content_type = PROBLEM_JSON)]
struct NoSuchSession(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// Your signed-in sessions, on every device: when each signed in, when it
/// was last used, from where and with what, and which one is this.
#[utoipa::path(get, path = "/auth/sessions", tag = "auth",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "Your active sessions", body = SessionList),
        NotSignedIn,
    ))]
async fn list_sessions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    session: VisitorSession,
) -> Result<Json<SessionList>, ApiError> {
    let items = logins::list(&state, &session, &user)
        .await?
        .into_iter()
        .map(SessionView::from)
        .collect();
    Ok(Json(SessionList { items }))
}

/// Sign out one of your sessions, by its handle: its next request is
/// anonymous. Ending this session's own handle signs this session out.
#[utoipa::path(delete, path = "/auth/sessions/{handle}", tag = "auth",
    security(("session_cookie" = [])),
    params(("handle" = String, Path, description = "The session's handle, from `GET /api/v1/auth/sessions`")),
    responses(
        (status = 204, description = "The session is ended"),
        NotSignedIn,
        NoSuchSession,
    ))]
async fn end_one_session(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    session: VisitorSession,
    AppPath(handle): AppPath<String>,
) -> Result<StatusCode, ApiError> {
    match logins::end_one(&state, &session, &user, &handle).await? {
        Ended::Other | Ended::This => Ok(StatusCode::NO_CONTENT),
        Ended::NotFound => Err(ApiError::not_found(
            "None of your sessions has this handle; GET /api/v1/auth/sessions lists them.",
        )),
    }
}

/// Sign out every other session of yours, on every device; this one stays
/// signed in.
#[utoipa::path(delete, path = "/auth/sessions", tag = "auth",
    security(("session_cookie" = [])),
    responses(
        (status = 204, description = "Every other session is ended"),
        NotSignedIn,
    ))]
async fn end_other_sessions(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    session: VisitorSession,
) -> Result<StatusCode, ApiError> {
    logins::end_others(&state, &session, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
