//! A new session id at every change of privilege (sign-in, registration,
//! sign-out, password change), so an id someone learned before cannot ride
//! on the new privilege (session fixation), and the old id loads nothing.
//!
//! A change of the same session that was waiting for its turn (the turn is
//! keyed on the id its cookie carried: see [`super::lock`]) would otherwise
//! load nothing under the old id and go on as a fresh visitor, silently
//! dropping what it changes. So the old id keeps, for [`TOMBSTONE_TTL`], a
//! record that holds only a marker: a request that may change the session
//! and loads it is answered 409 `/problems/session-renewed` before anything
//! changes, and the client sends it again with its new cookie. A read sees
//! an empty, anonymous session. This costs nothing on requests that meet no
//! marker: the session layer loads the record anyway.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use tower_sessions::session::{Id, Record};

use super::visitor::VisitorSession;
use crate::error::{ApiError, ProblemKind};
use crate::state::AppState;

/// How long an old session id answers 409 to changes rather than nothing.
pub const TOMBSTONE_TTL: Duration = Duration::from_secs(30);

/// The key every tombstone record holds.
pub(super) const RENEWED: &str = "renewed";

/// The second key of the tombstone a session that ended leaves (sign-out,
/// forget-me, a sign-in check that ended it), as opposed to one whose
/// session lives on under a new id: see [`EndedIsDone`].
const ENDED: &str = "ended";

/// Put in a request's extensions by the one route for which a session id
/// that was *ended* is an answer rather than a conflict: forget-me
/// (`DELETE /privacy`) sent again with the same cookie, its first answer
/// lost, finds the tombstone its first call left and has nothing left to
/// forget. A session renewed (a sign-in, a password change) still answers
/// 409, as to every other change: its data lives on under the new id.
/// Taken as the handler's first extractor, before anything loads the
/// session.
#[derive(Debug, Clone, Copy)]
pub struct EndedIsDone;

impl<S: Send + Sync> FromRequestParts<S> for EndedIsDone {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.insert(EndedIsDone);
        Ok(EndedIsDone)
    }
}

/// The answer to a change sent with a session id that was just renewed.
pub fn renewed() -> ApiError {
    ApiError::new(
        ProblemKind::SessionRenewed,
        "Your session was renewed or ended (a sign-in, sign-out, password change or forget-me) while this request waited for its turn; nothing was changed. Send the request again.",
    )
}

impl VisitorSession {
    /// Gives the session a new id and stores it under that id at once (so
    /// what is recorded about the sign-in can name it); everything the
    /// session holds moves over. The old id keeps only a tombstone.
    pub async fn renew(&self, state: &AppState) -> Result<(), ApiError> {
        let old = self.stored_id().await;
        self.inner().cycle_id().await?;
        self.inner().save().await?;
        if let Some(old) = old {
            leave_tombstone(state, old, false).await;
        }
        Ok(())
    }

    /// Ends the session: its record is deleted from the store (the old id
    /// keeps only a tombstone) and the session cookie removed.
    ///
    /// The session goes on, empty, under a fresh id that is stored only if
    /// the request writes to it again: the old id's record is not reused
    /// (so a sign-in later in the same request cannot delete the tombstone
    /// with it, nor land under the old id should the tombstone not be stored).
    pub async fn close(&self, state: &AppState) -> Result<(), ApiError> {
        let old = self.stored_id().await;
        self.inner().clear().await;
        if let Some(old) = old {
            self.inner().cycle_id().await?;
            leave_tombstone(state, old, true).await;
        }
        Ok(())
    }

    /// Forgets everything the session holds (it is written, empty or
    /// refilled, at the end of the request).
    pub async fn clear(&self) {
        self.inner().clear().await;
    }

    /// The id of the stored record this request loaded; `None` when
    /// nothing is stored for it (no cookie, or an id the store forgot).
    async fn stored_id(&self) -> Option<Id> {
        // Loading the record tells whether one is stored under the cookie's
        // id (a store that fails here fails the renewal that follows).
        self.inner().is_empty().await;
        self.inner().id()
    }

    /// Whether this is the tombstone of a renewed session.
    pub(super) async fn is_tombstone(&self) -> Result<bool, ApiError> {
        Ok(self.inner().get::<bool>(RENEWED).await?.unwrap_or(false))
    }

    /// Whether this is the tombstone of a session that was ended
    /// ([`VisitorSession::close`]), not one that lives on under a new id.
    pub(super) async fn is_ended(&self) -> Result<bool, ApiError> {
        Ok(self.inner().get::<bool>(ENDED).await?.unwrap_or(false))
    }
}

/// Stores the tombstone of `old`. When the store refuses it, the renewal
/// still stands (the old id is already gone, which is what protects the
/// visitor): a change that waited then starts a fresh session, as it would
/// once the tombstone expired. Failing the request instead would leave the
/// visitor's things under a new id whose cookie never reaches them.
/// `ended`: the session ended rather than moved to a new id.
async fn leave_tombstone(state: &AppState, old: Id, ended: bool) {
    let mut data: std::collections::HashMap<String, serde_json::Value> =
        [(RENEWED.to_owned(), serde_json::Value::Bool(true))].into();
    if ended {
        data.insert(ENDED.to_owned(), serde_json::Value::Bool(true));
    }
    let record = Record {
        id: old,
        data,
        expiry_date: state.clock.now() + TOMBSTONE_TTL,
    };
    if let Err(e) = state.sessions.put(&record).await {
        tracing::warn!(error = %e, "storing the tombstone of a renewed session id failed");
    }
}
