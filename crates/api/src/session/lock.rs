//! Serializes the requests that may change one session.
//!
//! The session layer loads a session's record at the start of a request and
//! writes the whole record back at the end. Two changes sent in parallel by
//! one visitor (an SPA firing two "add to cart" calls) would each start from
//! the same record, and the later write would silently drop the earlier
//! change: the lost update of Django's cache and database session backends.
//! Holding a per-session lock from before the load until after the save makes
//! such requests take turns, so each sees the previous one's result.
//!
//! The lock lives in this process: it covers every request that reaches this
//! instance. Requests for one session spread over several instances are not
//! serialized by it (see the README).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug, Default)]
pub struct SessionLocks {
    cookie_name: String,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl SessionLocks {
    pub fn new(cookie_name: &str) -> Arc<Self> {
        Arc::new(SessionLocks {
            cookie_name: cookie_name.to_owned(),
            locks: Mutex::new(HashMap::new()),
        })
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(key.to_owned()).or_default().clone()
    }

    /// Drops the entry once nobody holds or waits for it.
    fn release(&self, key: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(key);
        }
    }

    /// How many sessions have a request in flight or waiting (for tests and metrics).
    pub fn in_use(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn session_cookie(&self, req: &Request) -> Option<String> {
        req.headers()
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == self.cookie_name)
            .map(|(_, value)| value.to_owned())
    }
}

/// Middleware, outside the session layer: a request that may write (any
/// method but GET, HEAD and OPTIONS) and carries a session cookie waits for
/// the other writes of that session to finish.
pub async fn serialize_session_writes(
    State(locks): State<Arc<SessionLocks>>,
    req: Request,
    next: Next,
) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let Some(key) = locks.session_cookie(&req) else {
        return next.run(req).await;
    };
    let lock = locks.lock_for(&key);
    let response = {
        let _turn = lock.lock().await;
        next.run(req).await
    };
    drop(lock);
    locks.release(&key);
    response
}
