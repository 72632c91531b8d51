//! Who the visitor is signed in as, and the extractors handlers use to ask.
//!
//! The sign-in check runs the first time a request asks who is signed in
//! ([`current`], through the extractors below). When it ends a session
//! (idle, absolute limit, another client IP, revoked), it says why as a
//! [`SessionEnded`], so a route that needs a sign-in can say which limit
//! ended it.

pub mod logins;
pub mod password;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::client_ip::ClientIp;
use crate::error::{ApiError, ProblemKind};
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

/// What an account may do.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Role {
    Customer,
    Admin,
}

impl Role {
    /// The stored spelling (`customer`, `admin`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Reads the stored spelling; anything else is no role at all.
    pub fn parse(stored: &str) -> Option<Role> {
        match stored {
            "customer" => Some(Role::Customer),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentUser {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

/// Why the signed-in session this request carried was ended by it; the
/// request goes on as anonymous.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnded {
    /// No request for longer than the idle timeout.
    Idle,
    /// The absolute limit from sign-in was reached.
    Absolute,
    /// Used from another client IP while `SESSION_BIND_IP` is on.
    IpChanged,
    /// Ended by the user from another session, or by a password change.
    Revoked,
}

impl SessionEnded {
    /// The 401 a route that needs a sign-in answers.
    pub fn problem(self) -> ApiError {
        let (kind, detail) = match self {
            SessionEnded::Idle => (
                ProblemKind::SessionExpired,
                "Your session ended after a time without requests (the idle timeout). Sign in again.",
            ),
            SessionEnded::Absolute => (
                ProblemKind::SessionExpired,
                "Your session reached its time limit from sign-in (the absolute timeout). Sign in again.",
            ),
            SessionEnded::IpChanged => (
                ProblemKind::SessionIpChanged,
                "Your session was used from another network address and was ended to protect it. Sign in again.",
            ),
            SessionEnded::Revoked => (
                ProblemKind::SessionExpired,
                "Your session was ended from another of your sessions, or by a password change. Sign in again.",
            ),
        };
        ApiError::new(kind, detail)
    }
}

/// The 401 for a request that carries no signed-in session at all.
pub fn sign_in_required() -> ApiError {
    ApiError::new(
        ProblemKind::Unauthorized,
        "Sign in first: POST /api/v1/auth/login (or /api/v1/auth/register), then send the session cookie.",
    )
}

/// What the sign-in check found for this request; computed once, on first
/// use, and kept in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignInState {
    Anonymous,
    SignedIn(CurrentUser),
    /// The session was signed in (to the account `user_id`) and this
    /// request ended it.
    Ended {
        why: SessionEnded,
        user_id: i32,
    },
}

/// The signed-in user of this request. The first call runs the sign-in
/// check ([`logins::check`], which enforces the session's limits and ends it
/// when one is reached); later calls reuse its answer. Routes that never ask
/// cost no session load for it.
pub async fn current(parts: &mut Parts, state: &AppState) -> Result<SignInState, ApiError> {
    if let Some(checked) = parts.extensions.get::<SignInState>() {
        return Ok(checked.clone());
    }
    let session = VisitorSession::of_session(parts).await?;
    let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
    let checked = logins::check(state, &session, ip).await?;
    parts.extensions.insert(checked.clone());
    Ok(checked)
}

/// Checks that `given` is `user`'s current password, before a change that
/// needs it (a password change, erasing the account). Guessing it from a
/// session left open counts against the account like guessing at sign-in
/// (`LOGIN_LIMIT_PER_USERNAME`, 429 beyond). A wrong one is a 422 on
/// `field`, saying `wrong`; `action` names the change in the log.
pub async fn confirm_current_password(
    state: &AppState,
    user: &CurrentUser,
    given: String,
    field: &str,
    wrong: &str,
    action: &str,
) -> Result<(), ApiError> {
    state
        .limits
        .hit(crate::limits::Limit::LoginPerUsername, &user.username)
        .await?;
    let stored = crate::db::users::password_hash(&state.db, user.id).await?;
    if !password::verify(given, stored).await? {
        tracing::warn!(user_id = user.id, username = %user.username, action, "refused: wrong current password");
        return Err(ApiError::invalid_field(field, wrong));
    }
    Ok(())
}

/// The signed-in user, or a 401 saying why there is none.
pub struct AuthUser(pub CurrentUser);

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match current(parts, state).await? {
            SignInState::SignedIn(user) => Ok(AuthUser(user)),
            SignInState::Ended { why, .. } => Err(why.problem()),
            SignInState::Anonymous => Err(sign_in_required()),
        }
    }
}

/// A signed-in admin: 401 when not signed in, 403 for a customer.
pub struct AdminUser(pub CurrentUser);

impl FromRequestParts<AppState> for AdminUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let AuthUser(user) = AuthUser::from_request_parts(parts, state).await?;
        if user.role != Role::Admin {
            return Err(ApiError::new(
                ProblemKind::Forbidden,
                "Only an admin may do this; your account is a customer account.",
            ));
        }
        Ok(AdminUser(user))
    }
}

/// The signed-in user if there is one; anonymous visitors pass too.
pub struct MaybeUser(pub SignInState);

impl FromRequestParts<AppState> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(current(parts, state).await?))
    }
}
