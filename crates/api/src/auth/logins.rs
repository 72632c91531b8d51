//! A signed-in session's life: started at sign-in, checked at every
//! request, ended at sign-out.
//!
//! SKELETON: the session remembers the user's id and nothing else; no
//! timeouts, no list of sessions. The finished version keeps each sign-in
//! in the database and enforces the idle and absolute timeouts there.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::auth::{CurrentUser, SessionEnded, SignInState};
use crate::db::users;
use crate::error::ApiError;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

/// What the session record holds about its sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    pub user_id: i32,
}

/// How the visitor signed in.
#[derive(Debug, Clone)]
pub struct LoginOptions {
    pub remember_me: bool,
    pub client_ip: IpAddr,
    pub user_agent: Option<String>,
}

/// When a signed-in session began and when it will end, for `GET /auth/me`.
#[derive(Debug, Clone)]
pub struct LoginTimes {
    pub signed_in_at: time::OffsetDateTime,
    /// When it ends unless a request comes first (the idle timeout).
    pub idle_ends_at: time::OffsetDateTime,
    /// When it ends whatever happens (the absolute timeout).
    pub absolute_ends_at: time::OffsetDateTime,
    pub remember_me: bool,
}

/// The times of the sign-in `session` carries; `None` when anonymous.
pub async fn times(
    state: &AppState,
    session: &VisitorSession,
) -> Result<Option<LoginTimes>, ApiError> {
    let _ = (state, session);
    Ok(None)
}

/// Records the sign-in of `user` in `session`, which already has its new id
/// (and has been saved under it).
pub async fn start(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
    options: &LoginOptions,
) -> Result<(), ApiError> {
    let _ = (state, options);
    session
        .set_sign_in(Some(&SignIn { user_id: user.id }))
        .await
}

/// Forgets the sign-in of `session`: at sign-out, before the session ends.
pub async fn end(state: &AppState, session: &VisitorSession) -> Result<(), ApiError> {
    let _ = state;
    session.set_sign_in(None).await
}

/// Ends every other session of `user`: at a password change.
pub async fn end_others(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
) -> Result<(), ApiError> {
    let _ = (state, session, user);
    Ok(())
}

/// Tells the sign-in record that `session` got a new id (password change).
pub async fn renewed(state: &AppState, session: &VisitorSession) -> Result<(), ApiError> {
    let _ = (state, session);
    Ok(())
}

/// The sign-in check, run once per request by [`crate::auth::current`]:
/// whether `session` is signed in, and as whom. The finished check ends a
/// session that reached a limit (and says which).
pub async fn check(
    state: &AppState,
    session: &VisitorSession,
    client_ip: IpAddr,
) -> Result<SignInState, ApiError> {
    let _ = client_ip;
    let Some(sign_in) = session.sign_in().await? else {
        return Ok(SignInState::Anonymous);
    };
    Ok(match users::signed_in(&state.db, sign_in.user_id).await? {
        Some(user) => SignInState::SignedIn(user),
        None => SignInState::Ended(SessionEnded::Revoked),
    })
}
