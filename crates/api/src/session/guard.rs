//! What guards every session route, run as one middleware outside the
//! session layer, inside the layer that makes every answer of these routes
//! `no-store` (also those the steps below make themselves). In order,
//! outermost first:
//!
//! 1. the cross-site write check ([`refuse_cross_site_writes`]), so a refused
//!    write touches nothing and is not counted as a new session;
//! 2. the session cookie's lifetime ([`super::session_cookie_lifetime`]),
//!    applied to the answer after the re-signing below added its cookie;
//! 3. re-signing a cookie made with a fallback key
//!    ([`resign_with_current_key`]);
//! 4. the limit on new sessions per client IP ([`limit_new_sessions`]),
//!    before a turn is taken or anything is loaded;
//! 5. turns for writes to one session ([`serialize_session_writes`]);
//! 6. a failed session save as a 503 ([`super::unavailable_when_save_fails`]),
//!    just outside the session layer.
//!
//! One middleware rather than six: a request clones, boxes and drops the
//! layers of its route, so each layer of its own cost every request an
//! allocation or two and a few atomic reference counts shared by both cores.
//! The steps are plain functions here, each taking the rest as a closure.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::keys::SessionCookieKeys;
use super::lock::{SessionLocks, serialize_session_writes};
use super::rotation::resign_with_current_key;
use super::{CookieLifetimes, session_cookie_lifetime, unavailable_when_save_fails};
use crate::limits::{NewSessionLimit, limit_new_sessions};
use crate::origin::{AllowedOrigins, refuse_cross_site_writes};

/// What the steps of [`guard`] need.
pub struct SessionGuard {
    pub origins: Arc<AllowedOrigins>,
    pub cookie_lifetimes: CookieLifetimes,
    pub keys: Arc<SessionCookieKeys>,
    pub new_sessions: NewSessionLimit,
    pub locks: Arc<SessionLocks>,
}

/// The middleware: see the module's documentation for its steps.
pub async fn guard(State(guard): State<Arc<SessionGuard>>, req: Request, next: Next) -> Response {
    let g = &*guard;
    refuse_cross_site_writes(&g.origins, req, |req| async move {
        let res = resign_with_current_key(&g.keys, req, |req| async move {
            limit_new_sessions(&g.new_sessions, req, |req| async move {
                serialize_session_writes(&g.locks, req, |req| async move {
                    unavailable_when_save_fails(next.run(req).await)
                })
                .await
            })
            .await
        })
        .await;
        session_cookie_lifetime(&g.cookie_lifetimes, res)
    })
    .await
}
