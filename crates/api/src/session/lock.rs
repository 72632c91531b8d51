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
//!
//! The turn is a [`SessionTurn`] in the request's extensions: work that must
//! finish even if the request is cancelled (checkout) takes a clone of it
//! into its own task, and the turn ends when the last clone is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_sessions_redis_store::fred::clients::Client;
use tower_sessions_redis_store::fred::prelude::{KeysInterface, LuaInterface, Pool};
use tower_sessions_redis_store::fred::types::{Expiration, SetOptions};

use crate::error::{ApiError, ProblemKind};

/// Releases a Redis lock only if this request still holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// How many entries the table may hold before finished ones are swept.
const SWEEP_AT: usize = 1024;

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
    /// Weak, so an entry never keeps a lock alive: a finished or cancelled
    /// request leaves at most a dead entry, swept away later.
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
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
        if let Some(live) = locks.get(key).and_then(Weak::upgrade) {
            return live;
        }
        if locks.len() >= SWEEP_AT {
            locks.retain(|_, lock| lock.strong_count() > 0);
        }
        let fresh = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(key.to_owned(), Arc::downgrade(&fresh));
        fresh
    }

    /// How many sessions have a request holding or waiting for a turn.
    pub fn in_use(&self) -> usize {
        let locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks
            .values()
            .filter(|lock| lock.strong_count() > 0)
            .count()
    }

    /// Forgets the entry once nobody holds or waits for it.
    fn release(&self, key: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.get(key).is_some_and(|lock| lock.strong_count() == 0) {
            locks.remove(key);
        }
    }

    fn session_cookie(&self, req: &Request) -> Option<String> {
        super::request_cookie(req.headers(), &self.cookie_name)
    }
}

impl RedisLock {
    /// Waits until `token` holds the lock `key`, through `client`.
    async fn acquire(&self, client: &Client, key: &str, token: &str) -> Result<(), ApiError> {
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
        let deadline = Instant::now() + self.wait;
        let mut pause = Duration::from_millis(1);
        loop {
            let taken: Option<String> = client
                .set(
                    key,
                    token,
                    Some(Expiration::PX(ttl_ms)),
                    Some(SetOptions::NX),
                    false,
                )
                .await
                .map_err(|e| ApiError::unavailable("session store", e))?;
            if taken.is_some() {
                return Ok(());
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

    /// Deletes the lock if `token` still holds it. Sent through the client
    /// that took it, so it cannot overtake the `SET` on another connection.
    async fn release(client: &Client, key: &str, token: &str) {
        let released: Result<i64, _> = client
            .eval(RELEASE, vec![key.to_owned()], vec![token.to_owned()])
            .await;
        if let Err(e) = released {
            tracing::warn!(error = %e, "releasing a session lock failed; it expires by itself");
        }
    }
}

/// FNV-1a, 64 bits: stable across builds, so every instance names a
/// session's lock alike.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A signed session cookie is 66 characters; anything much longer is not
/// ours, and the session layer will ignore it, so it needs no turn.
const MAX_COOKIE_LEN: usize = 128;

/// A Redis lock: its key, the token that holds (or is taking) it, and the
/// connection it goes through.
struct HeldInRedis {
    client: Client,
    key: String,
    token: String,
}

/// A request's turn on one session. Dropping the last handle to it, also
/// when the request is cancelled (a timeout, a client gone), gives the turn
/// up and forgets the session's entry once nobody waits for it.
struct Turn {
    locks: Arc<SessionLocks>,
    key: String,
    local: Option<tokio::sync::OwnedMutexGuard<()>>,
    redis: Option<HeldInRedis>,
}

/// A handle on the current request's turn, in its extensions. Clone it into
/// a task that must finish its session change even if the request does not.
#[derive(Clone)]
pub struct SessionTurn(#[allow(dead_code)] Arc<Turn>);

impl Turn {
    async fn take(locks: &Arc<SessionLocks>, key: String) -> Result<Turn, ApiError> {
        // Built before any wait, so that a cancelled wait still cleans up.
        let mut turn = Turn {
            locks: locks.clone(),
            key,
            local: None,
            redis: None,
        };
        turn.local = Some(locks.lock_for(&turn.key).lock_owned().await);
        if let Some(redis) = &locks.redis {
            // Recorded before the SET goes out: if this request is cancelled
            // mid-acquire, the drop still releases whatever the SET took.
            let held = turn.redis.insert(HeldInRedis {
                client: redis.pool.next().clone(),
                // Hashed: the cookie itself is a credential and stays out of key names.
                key: format!("km:session-lock:{:016x}", fnv1a(turn.key.as_bytes())),
                token: format!("{:032x}", rand::random::<u128>()),
            });
            redis.acquire(&held.client, &held.key, &held.token).await?;
        }
        Ok(turn)
    }

    /// Gives the Redis lock back before the next local waiter goes for it.
    async fn finish(mut self) {
        if let Some(held) = self.redis.take() {
            RedisLock::release(&held.client, &held.key, &held.token).await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(held) = self.redis.take() {
            // Cancelled, or outlived by a task: release in the background
            // (the lock also expires by itself).
            tokio::spawn(async move {
                RedisLock::release(&held.client, &held.key, &held.token).await;
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
    mut req: Request,
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
    let turn = match Turn::take(&locks, key).await {
        Ok(turn) => Arc::new(turn),
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(SessionTurn(turn.clone()));
    let response = next.run(req).await;
    // Still shared when a task the handler started carries on with the
    // turn; it then ends when that task drops its handle.
    if let Ok(turn) = Arc::try_unwrap(turn) {
        turn.finish().await;
    }
    response
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

    #[tokio::test]
    async fn a_task_holding_the_turn_keeps_the_session_until_it_ends() {
        use axum::Extension;
        use std::sync::atomic::AtomicBool;

        let locks = SessionLocks::new("km_session");
        let task_done = Arc::new(AtomicBool::new(false));
        let seen_done = Arc::new(AtomicBool::new(false));
        let (done, seen) = (task_done.clone(), seen_done.clone());
        let app = Router::new()
            .route(
                "/first",
                post(move |Extension(turn): Extension<SessionTurn>| {
                    let done = done.clone();
                    async move {
                        // Like checkout: work that outlives the response keeps the turn.
                        tokio::spawn(async move {
                            let _turn = turn;
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            done.store(true, Ordering::SeqCst);
                        });
                        "answered"
                    }
                }),
            )
            .route(
                "/second",
                post(move || {
                    let (done, seen) = (task_done.clone(), seen.clone());
                    async move {
                        seen.store(done.load(Ordering::SeqCst), Ordering::SeqCst);
                        "ok"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                locks.clone(),
                serialize_session_writes,
            ));

        let at = |path: &str| {
            Request::builder()
                .method("POST")
                .uri(path)
                .header(header::COOKIE, "km_session=same")
                .body(Body::empty())
                .unwrap()
        };
        app.clone().oneshot(at("/first")).await.unwrap();
        app.clone().oneshot(at("/second")).await.unwrap();
        assert!(
            seen_done.load(Ordering::SeqCst),
            "the second change started before the first one's task ended"
        );
        assert_eq!(locks.in_use(), 0);
    }
}
