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
//! Requests first queue in this process; with `SESSION_LOCK=redis` the turn
//! is also taken in Redis, so requests of one session spread over several
//! instances take turns as well. That costs two more Redis round trips per
//! change, so it is for deployments that run more than one instance.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions_redis_store::fred::prelude::{KeysInterface, LuaInterface, Pool};
use tower_sessions_redis_store::fred::types::{Expiration, SetOptions};

use crate::error::{ApiError, ProblemKind};

/// Releases a Redis lock only if this request still holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

#[derive(Debug)]
struct RedisLock {
    pool: Pool,
    /// How long a lock outlives a crashed holder.
    ttl: Duration,
    /// How long a request waits for its turn.
    wait: Duration,
}

#[derive(Debug)]
pub struct SessionLocks {
    cookie_name: String,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    redis: Option<RedisLock>,
}

impl SessionLocks {
    /// Locks within this process only.
    pub fn new(cookie_name: &str) -> Arc<Self> {
        Arc::new(SessionLocks {
            cookie_name: cookie_name.to_owned(),
            locks: Mutex::new(HashMap::new()),
            redis: None,
        })
    }

    /// Locks within this process, then in Redis. `request_timeout` bounds
    /// both the wait for a turn and how long a lock can be held.
    pub fn with_redis(cookie_name: &str, pool: Pool, request_timeout: Duration) -> Arc<Self> {
        Arc::new(SessionLocks {
            cookie_name: cookie_name.to_owned(),
            locks: Mutex::new(HashMap::new()),
            redis: Some(RedisLock {
                pool,
                ttl: request_timeout + Duration::from_secs(5),
                wait: request_timeout,
            }),
        })
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(key.to_owned()).or_default().clone()
    }

    /// How many sessions have an entry: requests holding or waiting for a turn.
    pub fn in_use(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Drops the entry once nobody holds or waits for it.
    fn release(&self, key: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.get(key).is_some_and(|l| Arc::strong_count(l) == 1) {
            locks.remove(key);
        }
    }

    fn session_cookie(&self, req: &Request) -> Option<String> {
        super::request_cookie(req.headers(), &self.cookie_name)
    }
}

impl RedisLock {
    /// Waits for the session's Redis lock; returns the token that holds it.
    async fn acquire(&self, key: &str) -> Result<String, ApiError> {
        let token = format!("{:032x}", rand::random::<u128>());
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let deadline = Instant::now() + self.wait;
        let mut pause = Duration::from_millis(1);
        loop {
            let taken: Option<String> = self
                .pool
                .set(
                    key,
                    token.as_str(),
                    Some(Expiration::PX(ttl_ms)),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(|e| ApiError::unavailable("session store", e))?;
            if taken.is_some() {
                return Ok(token);
            }
            if Instant::now() + pause > deadline {
                return Err(ApiError::new(
                    ProblemKind::ServiceUnavailable,
                    "Another change to this session is still running; try again in a moment.",
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    async fn release(&self, key: &str, token: &str) {
        Self::release_with(&self.pool, key, token).await;
    }

    async fn release_with(pool: &Pool, key: &str, token: &str) {
        let released: Result<i64, _> = pool
            .eval(RELEASE, vec![key.to_owned()], vec![token.to_owned()])
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "releasing a session lock failed; it expires by itself");
        }
    }
}

/// A signed session cookie is 66 characters; anything much longer is not
/// ours, and the session layer will ignore it, so it needs no turn.
const MAX_COOKIE_LEN: usize = 128;

/// A request's turn on one session. Dropping it, also when the request is
/// cancelled (a timeout, a client gone), gives the turn up and forgets the
/// session's entry once nobody waits for it.
struct Turn {
    locks: Arc<SessionLocks>,
    key: String,
    local: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The Redis lock key and the token holding it, until released.
    redis: Option<(String, String)>,
}

impl Turn {
    async fn take(locks: &Arc<SessionLocks>, key: String) -> Result<Turn, ApiError> {
        let local = locks.lock_for(&key).lock_owned().await;
        let mut turn = Turn {
            locks: locks.clone(),
            key,
            local: Some(local),
            redis: None,
        };
        if let Some(redis) = &locks.redis {
            let redis_key = format!("km:session-lock:{}", turn.key);
            let token = redis.acquire(&redis_key).await?;
            turn.redis = Some((redis_key, token));
        }
        Ok(turn)
    }

    /// Gives the Redis lock back before the next local waiter goes for it.
    async fn finish(mut self) {
        if let (Some((redis_key, token)), Some(redis)) = (self.redis.take(), &self.locks.redis) {
            redis.release(&redis_key, &token).await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let (Some((redis_key, token)), Some(redis)) = (self.redis.take(), &self.locks.redis) {
            // Cancelled mid-request: release in the background (the lock
            // also expires by itself).
            let pool = redis.pool.clone();
            tokio::spawn(async move {
                RedisLock::release_with(&pool, &redis_key, &token).await;
            });
        }
        drop(self.local.take());
        self.locks.release(&self.key);
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
    let Some(key) = locks
        .session_cookie(&req)
        .filter(|k| k.len() <= MAX_COOKIE_LEN)
    else {
        return next.run(req).await;
    };
    match Turn::take(&locks, key).await {
        Ok(turn) => {
            let response = next.run(req).await;
            turn.finish().await;
            response
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::body::Body;
    use axum::http::header;
    use axum::routing::post;
    use tower::ServiceExt;

    use super::*;

    fn request(cookie: &str) -> Request {
        Request::builder()
            .method("POST")
            .uri("/")
            .header(header::COOKIE, format!("km_session={cookie}"))
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    async fn a_cancelled_request_gives_its_turn_back_and_leaves_no_entry() {
        let locks = SessionLocks::new("km_session");
        let app = Router::new()
            .route("/", post(std::future::pending::<&'static str>))
            .layer(axum::middleware::from_fn_with_state(
                locks.clone(),
                serialize_session_writes,
            ));

        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            app.clone().oneshot(request("abc")),
        )
        .await;
        assert!(cancelled.is_err(), "the handler never answers");
        assert_eq!(locks.in_use(), 0, "the cancelled request's entry is gone");
    }

    #[tokio::test]
    async fn writes_of_one_session_take_turns_and_others_do_not_wait() {
        let locks = SessionLocks::new("km_session");
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (i, m) = (inside.clone(), most.clone());
        let app = Router::new()
            .route(
                "/",
                post(move || {
                    let (i, m) = (i.clone(), m.clone());
                    async move {
                        let now = i.fetch_add(1, Ordering::SeqCst) + 1;
                        m.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        i.fetch_sub(1, Ordering::SeqCst);
                        "ok"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                locks.clone(),
                serialize_session_writes,
            ));

        let same: Vec<_> = (0..8)
            .map(|_| app.clone().oneshot(request("one")))
            .collect();
        futures_util::future::join_all(same).await;
        assert_eq!(
            most.load(Ordering::SeqCst),
            1,
            "one session's writes ran one at a time"
        );

        most.store(0, Ordering::SeqCst);
        let different: Vec<_> = (0..8)
            .map(|n| app.clone().oneshot(request(&format!("s{n}"))))
            .collect();
        futures_util::future::join_all(different).await;
        assert!(
            most.load(Ordering::SeqCst) > 1,
            "different sessions ran side by side"
        );
        assert_eq!(locks.in_use(), 0);
    }
}
