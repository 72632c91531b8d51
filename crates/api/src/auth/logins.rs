//! A signed-in session's life: started at sign-in, checked at every request
//! that asks who is signed in, ended at sign-out, by one of its limits, or by
//! its user from another session.
//!
//! Each sign-in is a row of `logins`, the authority on whether it still
//! stands: the check reads it (not the cookie, not the session record) and
//! enforces the idle limit (from its `last_seen_at`), the absolute limit
//! (from its `created_at`) and, with `SESSION_BIND_IP`, its client IP. The
//! session record holds only a [`SignIn`] naming that row.
//!
//! A read must not turn into a write of the session record (a GET takes no
//! turn on the session, and a record written by one could put back what a
//! concurrent change removed; see `session/lock.rs`). So a read keeps a
//! signed-in session alive in the `logins` row, at most once a minute, and
//! the record's own expiry is fixed at sign-in: the absolute limit (plus
//! [`RECORD_GRACE`]), set again each time the record is written.
//!
//! A user's sessions are listed and ended by the row's public `handle`,
//! never by the session id.
//!
//! The row also keeps the session id (`session_id`), and that is on
//! purpose. Ending a session from another one (a password change,
//! `DELETE /auth/sessions[/{handle}]`) deletes its record from the store at
//! once, on every store, and a store finds a record only by its raw id (the
//! key *is* the id, so a hash of it could not delete anything). Without the
//! id the check would still end the session at its next request (its row is
//! gone), but its record (the account's sign-in, the visits, the orders it
//! remembers) would stay in the store until it expires, up to
//! `REMEMBER_ME_AGE` plus [`RECORD_GRACE`], and a session never used again
//! would never be cleaned. How the copy is protected:
//! - it alone does not open the session: a cookie is the id *signed* with
//!   `SECRET_KEY`, and the service accepts no unsigned one, so whoever reads
//!   the table (a backup, a replica) also needs the key, as with the store;
//! - it never leaves the service: no answer, log line or spec names it;
//!   clients and the log see the `handle`;
//! - it is short-lived: replaced when the session gets a new id
//!   ([`renewed`]) and deleted with the row at sign-out, when a limit or the
//!   user ends the session, and by [`delete_ended`] after the absolute limit.

use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

use crate::auth::{CurrentUser, SessionEnded, SignInState};
use crate::db::entities::{login, user};
use crate::db::users;
use crate::error::ApiError;
use crate::session::CookieLifetime;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

/// How long a session's record outlives its absolute limit in the store, so
/// that a request just after the limit is told which limit ended it (the
/// check then ends the session) rather than meeting an anonymous session.
pub const RECORD_GRACE: Duration = Duration::hours(1);

/// A read writes `last_seen_at` only when it is older than this: the idle
/// limit counts from the last request, to the minute.
pub const TOUCH_EVERY: Duration = Duration::minutes(1);

/// The most of a user agent a sign-in keeps, in characters.
pub const MAX_USER_AGENT_CHARS: usize = 256;

/// What the session record holds about its sign-in: the row that says
/// whether it stands, and the two facts fixed at sign-in that the record's
/// lifetime and its cookie's depend on (so that writing the record needs no
/// database read). Whether the sign-in still stands is never judged from
/// these: only the row says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SignIn {
    /// The `logins` row's public handle.
    pub handle: String,
    pub user_id: i32,
    /// When the sign-in reaches its absolute limit.
    #[serde(with = "time::serde::timestamp")]
    pub ends_at: OffsetDateTime,
    /// Whether the cookie is persistent (until `ends_at`) rather than a
    /// browser-session cookie.
    pub remember_me: bool,
}

impl SignIn {
    /// When the store may forget the record.
    pub fn record_expiry(&self) -> OffsetDateTime {
        self.ends_at.saturating_add(RECORD_GRACE)
    }

    /// How long the browser keeps the session cookie.
    pub fn cookie_lifetime(&self) -> CookieLifetime {
        if self.remember_me {
            CookieLifetime::Until(self.ends_at)
        } else {
            CookieLifetime::BrowserSession
        }
    }
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
    pub signed_in_at: OffsetDateTime,
    /// When it ends unless a request comes first (the idle timeout).
    pub idle_ends_at: OffsetDateTime,
    /// When it ends whatever happens (the absolute timeout).
    pub absolute_ends_at: OffsetDateTime,
    pub remember_me: bool,
}

/// One of a user's sign-ins, as the user sees it.
#[derive(Debug, Clone)]
pub struct Login {
    pub handle: String,
    pub created_at: OffsetDateTime,
    pub last_seen_at: OffsetDateTime,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub remember_me: bool,
    /// Whether it is the session that asks.
    pub current: bool,
    /// False for one past its idle or absolute limit: it ends at its next
    /// request, and its row is kept until then (or until [`delete_ended`]).
    pub active: bool,
}

/// The idle and absolute limits of a sign-in.
fn limits(state: &AppState, remember_me: bool) -> (Duration, Duration) {
    let limits = &state.sign_in;
    let (idle, absolute) = if remember_me {
        (limits.remember_me, limits.remember_me)
    } else {
        (limits.idle, limits.absolute)
    };
    let span = |d: std::time::Duration| Duration::try_from(d).unwrap_or(Duration::MAX);
    (span(idle), span(absolute))
}

/// When the row's sign-in ends unless a request comes first, when it ends
/// whatever happens, and which limit comes first.
fn ends(state: &AppState, row: &login::Model) -> (OffsetDateTime, OffsetDateTime) {
    let (idle, absolute) = limits(state, row.remember_me);
    let absolute_end = row.created_at.saturating_add(absolute);
    let idle_end = row.last_seen_at.saturating_add(idle).min(absolute_end);
    (idle_end, absolute_end)
}

/// A fresh public handle: 128 bits from the operating system's CSPRNG,
/// URL-safe base64 (22 characters).
fn new_handle() -> String {
    let mut bytes = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An IP address as stored and compared: an IPv4-mapped IPv6 address is the
/// IPv4 address it maps.
fn ip_text(ip: IpAddr) -> String {
    ip.to_canonical().to_string()
}

/// The user agent as kept: control characters dropped, at most
/// [`MAX_USER_AGENT_CHARS`] characters, nothing when blank.
fn user_agent_text(given: Option<&str>) -> Option<String> {
    let kept: String = given?
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USER_AGENT_CHARS)
        .collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

/// The session's store id, saving it first if it has none yet.
async fn saved_id(session: &VisitorSession) -> Result<Id, ApiError> {
    if let Some(id) = session.id() {
        return Ok(id);
    }
    session.save().await?;
    session
        .id()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("a saved session has no id")))
}

async fn row_of(state: &AppState, sign_in: &SignIn) -> Result<Option<login::Model>, ApiError> {
    Ok(login::Entity::find()
        .filter(login::Column::Handle.eq(&sign_in.handle))
        .filter(login::Column::UserId.eq(sign_in.user_id))
        .one(&state.db)
        .await?)
}

/// Deletes a session's record from the store.
async fn delete_record(state: &AppState, id: &Id) -> Result<(), ApiError> {
    state
        .sessions
        .delete(id)
        .await
        .map_err(|e| ApiError::unavailable("session store", e))
}

/// The times of the sign-in `session` carries; `None` when anonymous.
pub async fn times(
    state: &AppState,
    session: &VisitorSession,
) -> Result<Option<LoginTimes>, ApiError> {
    let Some(sign_in) = session.sign_in().await? else {
        return Ok(None);
    };
    let Some(row) = row_of(state, &sign_in).await? else {
        return Ok(None);
    };
    let (idle_ends_at, absolute_ends_at) = ends(state, &row);
    Ok(Some(LoginTimes {
        signed_in_at: row.created_at,
        idle_ends_at,
        absolute_ends_at,
        remember_me: row.remember_me,
    }))
}

/// Records the sign-in of `user` in `session`, which already has its new id
/// (it is saved first if it has none yet): a `logins` row, and the
/// [`SignIn`] in the session. The record's expiry and the cookie's lifetime
/// follow from it (`session::fit_lifetime_to_sign_in`).
pub async fn start(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
    options: &LoginOptions,
) -> Result<(), ApiError> {
    let session_id = saved_id(session).await?;
    let now = state.clock.now();
    let (_, absolute) = limits(state, options.remember_me);
    let sign_in = SignIn {
        handle: new_handle(),
        user_id: user.id,
        ends_at: now.saturating_add(absolute),
        remember_me: options.remember_me,
    };
    login::Entity::insert(login::ActiveModel {
        id: NotSet,
        handle: Set(sign_in.handle.clone()),
        user_id: Set(user.id),
        session_id: Set(session_id.to_string()),
        created_at: Set(now),
        last_seen_at: Set(now),
        remember_me: Set(options.remember_me),
        client_ip: Set(ip_text(options.client_ip)),
        user_agent: Set(user_agent_text(options.user_agent.as_deref())),
    })
    .exec(&state.db)
    .await?;
    session.set_sign_in(Some(&sign_in)).await?;
    Ok(())
}

/// Takes back a sign-in [`start`] recorded when a later step of signing in
/// failed: the session is anonymous again (in memory, written when the
/// response goes out) and its row is deleted. Never fails: a row left
/// behind names a handle no session carries, and is deleted in time by
/// [`delete_ended`].
pub async fn abandon(state: &AppState, session: &VisitorSession) {
    let sign_in = session.sign_in().await.ok().flatten();
    if let Err(e) = session.set_sign_in(None).await {
        tracing::warn!(error = ?e, "forgetting an unfinished sign-in failed");
    }
    if let Some(sign_in) = sign_in {
        let deleted = login::Entity::delete_many()
            .filter(login::Column::Handle.eq(&sign_in.handle))
            .exec(&state.db)
            .await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e, handle = %sign_in.handle, "deleting an unfinished sign-in failed");
        }
    }
}

/// Forgets the sign-in of `session`: at sign-out, before the session ends.
pub async fn end(state: &AppState, session: &VisitorSession) -> Result<(), ApiError> {
    if let Some(sign_in) = session.sign_in().await? {
        login::Entity::delete_many()
            .filter(login::Column::Handle.eq(&sign_in.handle))
            .exec(&state.db)
            .await?;
        tracing::info!(user_id = sign_in.user_id, handle = %sign_in.handle, "signed out");
    }
    session.set_sign_in(None).await
}

/// Ends every other session of `user`: at a password change, and when the
/// user asks (`DELETE /auth/sessions`), at forget-me. Their records are
/// deleted from the store, each in its session's turn (see [`end_row`]).
pub async fn end_others(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
) -> Result<(), ApiError> {
    let current = session.sign_in().await?.map(|s| s.handle);
    let mut others = login::Entity::find().filter(login::Column::UserId.eq(user.id));
    if let Some(handle) = &current {
        others = others.filter(login::Column::Handle.ne(handle.as_str()));
    }
    let others = others.all(&state.db).await?;
    for row in &others {
        end_row(state, row).await?;
    }
    if !others.is_empty() {
        tracing::info!(
            user_id = user.id,
            ended = others.len(),
            "other sessions ended"
        );
    }
    Ok(())
}

/// Ends the session of another row: its record, then the row. The record
/// is deleted holding that session's turn, as a change of it would hold
/// it: a request of that session in flight (the phone's cart change, say)
/// saves its record before the delete, never after it, so nothing it
/// writes outlives the end (nor an erased account's data, at forget-me).
/// Two sessions ending each other at the same moment wait for each other's
/// turn until one of them gives up (503, worth a retry).
async fn end_row(state: &AppState, row: &login::Model) -> Result<(), ApiError> {
    if let Ok(id) = Id::from_str(&row.session_id) {
        state
            .session_locks
            .with_turn(id, delete_record(state, &id))
            .await??;
    }
    login::Entity::delete_by_id(row.id).exec(&state.db).await?;
    Ok(())
}

/// Tells the sign-in record that `session` got a new id (password change).
pub async fn renewed(state: &AppState, session: &VisitorSession) -> Result<(), ApiError> {
    let Some(sign_in) = session.sign_in().await? else {
        return Ok(());
    };
    let session_id = saved_id(session).await?;
    login::Entity::update_many()
        .col_expr(
            login::Column::SessionId,
            Expr::value(session_id.to_string()),
        )
        .filter(login::Column::Handle.eq(&sign_in.handle))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// The sign-in check, run once per request by [`crate::auth::current`]:
/// whether `session` is signed in, and as whom. A session past a limit, used
/// from another IP (with `SESSION_BIND_IP`), whose row was deleted or whose
/// user was disabled is ended: its row deleted, its record replaced by the
/// short tombstone every ended session leaves (`VisitorSession::close`), its
/// cookie removed; the request goes on as anonymous and the answer says why.
pub async fn check(
    state: &AppState,
    session: &VisitorSession,
    client_ip: IpAddr,
) -> Result<SignInState, ApiError> {
    let Some(sign_in) = session.sign_in().await? else {
        return Ok(SignInState::Anonymous);
    };
    let now = state.clock.now();
    // The row and its account in one query: every request of a signed-in
    // session waits for it, so it waits no longer than the database timeout.
    let query = login::Entity::find()
        .filter(login::Column::Handle.eq(&sign_in.handle))
        .filter(login::Column::UserId.eq(sign_in.user_id))
        .find_also_related(user::Entity);
    let found = crate::db::within(state.database_timeout, query.one(&state.db)).await?;
    let (row, account) = match found {
        Some((row, account)) => (Some(row), account),
        None => (None, None),
    };
    let why = match &row {
        None => SessionEnded::Revoked,
        Some(row) => {
            let (idle_end, absolute_end) = ends(state, row);
            if now >= absolute_end {
                // The idle end is capped by the absolute one: when both have
                // passed, the earlier one ended it.
                if idle_end < absolute_end {
                    SessionEnded::Idle
                } else {
                    SessionEnded::Absolute
                }
            } else if now >= idle_end {
                SessionEnded::Idle
            } else if state.sign_in.bind_ip && row.client_ip != ip_text(client_ip) {
                SessionEnded::IpChanged
            } else {
                match account.and_then(users::as_signed_in) {
                    Some(user) => {
                        touch(state, row, now).await?;
                        return Ok(SignInState::SignedIn(user));
                    }
                    None => SessionEnded::Revoked,
                }
            }
        }
    };
    if let Some(row) = &row {
        login::Entity::delete_by_id(row.id).exec(&state.db).await?;
    }
    session.close(state).await?;
    tracing::info!(
        user_id = sign_in.user_id,
        handle = %sign_in.handle,
        reason = ?why,
        "signed-in session ended"
    );
    Ok(SignInState::Ended {
        why,
        user_id: sign_in.user_id,
    })
}

/// Records a request in the row, at most once a minute: the condition makes
/// concurrent requests write it once.
async fn touch(state: &AppState, row: &login::Model, now: OffsetDateTime) -> Result<(), ApiError> {
    let stale = now - TOUCH_EVERY;
    if row.last_seen_at > stale {
        return Ok(());
    }
    let update = login::Entity::update_many()
        .col_expr(login::Column::LastSeenAt, Expr::value(now))
        .filter(login::Column::Id.eq(row.id))
        .filter(login::Column::LastSeenAt.lte(stale));
    crate::db::within(state.database_timeout, update.exec(&state.db)).await?;
    Ok(())
}

/// Deletes the rows of sign-ins whose records the store has forgotten too
/// (their absolute limit plus [`RECORD_GRACE`] is past): a session that
/// simply stops sending requests is never checked again. Until then, a row
/// stays so that the session's next request is told which limit ended it.
pub async fn delete_ended(state: &AppState) -> Result<u64, sea_orm::DbErr> {
    let now = state.clock.now();
    let forgotten = |remember_me: bool| {
        let (_, absolute) = limits(state, remember_me);
        let before = now.saturating_sub(absolute).saturating_sub(RECORD_GRACE);
        Condition::all()
            .add(login::Column::RememberMe.eq(remember_me))
            .add(login::Column::CreatedAt.lte(before))
    };
    let deleted = login::Entity::delete_many()
        .filter(Condition::any().add(forgotten(false)).add(forgotten(true)))
        .exec(&state.db)
        .await?
        .rows_affected;
    if deleted > 0 {
        tracing::debug!(deleted, "ended sign-ins deleted");
    }
    Ok(deleted)
}

/// The user's active sessions, the most recently used first.
pub async fn list(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
) -> Result<Vec<Login>, ApiError> {
    let mut logins = list_all(state, session, user).await?;
    // A session past a limit is ended at its next request; it is not
    // active meanwhile.
    logins.retain(|l| l.active);
    Ok(logins)
}

/// Every sign-in of the user the database keeps, ended ones whose rows are
/// not deleted yet too, the most recently used first: what the privacy
/// export owes the user.
pub async fn list_all(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
) -> Result<Vec<Login>, ApiError> {
    let current = session.sign_in().await?.map(|s| s.handle);
    let now = state.clock.now();
    let rows = login::Entity::find()
        .filter(login::Column::UserId.eq(user.id))
        .order_by_desc(login::Column::LastSeenAt)
        .order_by_desc(login::Column::Id)
        .all(&state.db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|row| Login {
            active: now < ends(state, &row).0,
            current: current.as_deref() == Some(row.handle.as_str()),
            handle: row.handle,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            client_ip: row.client_ip,
            user_agent: row.user_agent,
            remember_me: row.remember_me,
        })
        .collect())
}

/// What ending one session by its handle did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Another session of the user's was ended.
    Other,
    /// The session that asked was ended (signed out).
    This,
    /// The user has no session with that handle.
    NotFound,
}

/// Ends the user's session `handle`. Another user's handle is not found, as
/// an unknown one is.
pub async fn end_one(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
    handle: &str,
) -> Result<Ended, ApiError> {
    let row = login::Entity::find()
        .filter(login::Column::Handle.eq(handle))
        .filter(login::Column::UserId.eq(user.id))
        .one(&state.db)
        .await?;
    let Some(row) = row else {
        return Ok(Ended::NotFound);
    };
    let current = session.sign_in().await?.map(|s| s.handle);
    if current.as_deref() == Some(handle) {
        end(state, session).await?;
        session.close(state).await?;
        return Ok(Ended::This);
    }
    end_row(state, &row).await?;
    tracing::info!(user_id = user.id, handle = %row.handle, "session ended by its user");
    Ok(Ended::Other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_are_url_safe_and_different_each_time() {
        let a = new_handle();
        let b = new_handle();
        assert_eq!(a.len(), 22);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_ne!(a, b);
    }

    #[test]
    fn a_user_agent_is_kept_without_control_characters_and_cut_to_length() {
        assert_eq!(user_agent_text(None), None);
        assert_eq!(user_agent_text(Some("  ")), None);
        assert_eq!(
            user_agent_text(Some("curl/8.5\u{0}\n")),
            Some("curl/8.5".to_owned())
        );
        let long = "é".repeat(MAX_USER_AGENT_CHARS + 10);
        assert_eq!(
            user_agent_text(Some(&long)).map(|s| s.chars().count()),
            Some(MAX_USER_AGENT_CHARS)
        );
    }

    #[test]
    fn an_ipv4_mapped_address_is_stored_as_ipv4() {
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(ip_text(mapped), "192.0.2.7");
    }
}
