//! The state every handler shares.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio_util::task::TaskTracker;

use crate::client_ip::TrustedProxies;
use crate::clock::Clock;
use crate::config::SignInLimits;
use crate::cookies::CookieKit;
use crate::db::catalog::Catalog;
use crate::db::library::Library;
use crate::limits::RateLimits;
use crate::session::AnyStore;
use crate::session::lock::SessionLocks;

/// The state every handler shares, behind one `Arc`: cloning it for a
/// request is one atomic increment, however much it holds.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub db: DatabaseConnection,
    pub catalog: Arc<Catalog>,
    /// The library's books, read once at start (they change only by migration).
    pub library: Arc<Library>,
    pub sessions: AnyStore,
    pub cookies: Arc<CookieKit>,
    /// The time stamped on orders, visits and memberships.
    pub clock: Clock,
    /// How long a checkout waits for its commit's answer, and for its
    /// session to be saved, while holding its session's turn.
    pub checkout_limit: Duration,
    /// Work that must end even if its request does not (checkout's), and
    /// that a stop waits for.
    pub tasks: TaskTracker,
    /// How long a request waits for the database, at most (see
    /// [`crate::db::database_timeout`]).
    pub database_timeout: Duration,
    /// Whose `X-Forwarded-For` names the client (see [`crate::client_ip`]).
    pub trusted_proxies: Arc<TrustedProxies>,
    /// Sign-in, registration and new-session rate limits.
    pub limits: Arc<RateLimits>,
    /// How long a signed-in session lasts, and whether it is bound to its
    /// client IP.
    pub sign_in: SignInLimits,
    /// The sessions' turns: the session guard takes a request's; ending
    /// another session takes that one's (`auth::logins`).
    pub session_locks: Arc<SessionLocks>,
}
