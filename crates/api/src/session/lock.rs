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
//! The lock is keyed on the session id the session layer will use, read from
//! the cookie exactly as that layer reads it (see [`super::keys`]), so no
//! spelling of the cookie reaches a session without its turn.
//!
//! Requests first queue in this process; with `SESSION_LOCK=redis` the turn
//! is also taken in Redis, so requests of one session spread over several
//! instances take turns as well. That costs two more Redis round trips per
//! change, so it is for deployments that run more than one instance. A Redis
//! lock expires by itself (so a crashed instance cannot keep it), and a
//! watchdog extends it for as long as its holder runs.
//!
//! A request waits for its turn at most half the request timeout: one stuck
//! behind a change that does not end is told so (503 with `Retry-After`)
//! before the request timeout would answer a bare 408.
//!
//! The turn is a [`SessionTurn`] in the request's extensions: work that must
//! finish even if the request is cancelled (checkout) takes a clone of it
//! into its own task, and the turn ends when the last clone is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::task::AbortHandle;
use tokio::time::Instant;
use tower_sessions::session::Id;
use tower_sessions_redis_store::fred::clients::Client;
use tower_sessions_redis_store::fred::prelude::{KeysInterface, LuaInterface, Pool};
use tower_sessions_redis_store::fred::types::{Expiration, SetOptions};

use super::keys::SessionCookieKeys;
use crate::error::{ApiError, ProblemKind};

/// Releases a Redis lock only if this request still holds it.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Extends a Redis lock only if this request still holds it.
const RENEW: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end";

/// How long a Redis lock outlives a holder that stopped renewing it (a
/// crashed instance). Its holder renews it every third of this.
pub const REDIS_LOCK_TTL: Duration = Duration::from_secs(10);

/// How many entries the table may hold before finished ones are swept.
const SWEEP_AT: usize = 1024;

#[derive(Debug)]
struct RedisLock {
    pool: Pool,
    /// How long a lock outlives a holder that stopped renewing it.
    ttl: Duration,
}

pub struct SessionLocks {
    keys: Arc<SessionCookieKeys>,
    /// How long a request waits for its turn.
    wait: Duration,
    /// Weak, so an entry never keeps a lock alive: a finished or cancelled
    /// request leaves at most a dead entry, swept away later.
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    redis: Option<RedisLock>,
}

impl SessionLocks {
    /// Locks within this process only; a request waits at most `wait`.
    pub fn new(keys: Arc<SessionCookieKeys>, wait: Duration) -> Arc<Self> {
        Arc::new(SessionLocks {
            keys,
            wait,
            locks: Mutex::new(HashMap::new()),
            redis: None,
        })
    }

    /// Locks within this process, then in Redis; `wait` bounds both waits
    /// together, and a lock left by a crashed holder expires after `ttl`.
    pub fn with_redis(
        keys: Arc<SessionCookieKeys>,
        wait: Duration,
        pool: Pool,
        ttl: Duration,
    ) -> Arc<Self> {
        Arc::new(SessionLocks {
            keys,
            wait,
            locks: Mutex::new(HashMap::new()),
            redis: Some(RedisLock { pool, ttl }),
        })
    }

    /// How long a change may wait for its turn within a request that times
    /// out after `request_timeout`: half of it, so that waiting ends (503)
    /// before the request times out (408), and a change that gets its turn
    /// late still has time for its own work.
    pub fn wait_within(request_timeout: Duration) -> Duration {
        request_timeout / 2
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

    /// Every entry in the table, live or dead.
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.locks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Forgets the entry once nobody holds or waits for it.
    fn release(&self, key: &str) {
        let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        if locks.get(key).is_some_and(|lock| lock.strong_count() == 0) {
            locks.remove(key);
        }
    }
}

/// The answer to a change that did not get its turn in time.
fn busy() -> ApiError {
    ApiError::new(
        ProblemKind::ServiceUnavailable,
        "Another change to this session is still running; try again in a moment.",
    )
}

impl RedisLock {
    /// Waits until `token` holds the lock `key`, through `client`, until `deadline`.
    async fn acquire(
        &self,
        client: &Client,
        key: &str,
        token: &str,
        deadline: Instant,
    ) -> Result<(), ApiError> {
        let ttl_ms = i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX);
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
                return Err(busy());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(20));
        }
    }

    /// Extends the lock every third of its TTL while `token` holds it: the
    /// holder may run longer than the TTL (checkout's task outlives its
    /// request), and the lock must not expire under it.
    async fn keep_alive(client: Client, key: String, token: String, ttl: Duration) {
        let ttl_ms = ttl.as_millis().to_string();
        loop {
            tokio::time::sleep(ttl / 3).await;
            let renewed: Result<i64, _> = client
                .eval(
                    RENEW,
                    vec![key.clone()],
                    vec![token.clone(), ttl_ms.clone()],
                )
                .await;
            match renewed {
                Ok(1) => {}
                Ok(_) => {
                    tracing::warn!(
                        "a session lock expired while held (Redis was unreachable for its whole TTL); another change to the session may run alongside"
                    );
                    return;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "renewing a session lock failed; retrying");
                }
            }
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

/// The Redis key of a session's lock: the id hashed, since the id is a
/// credential and stays out of key names; SHA-256 names a session's lock
/// alike on every instance and build.
fn redis_key(id: &str) -> String {
    format!("km:session-lock:{:x}", Sha256::digest(id.as_bytes()))
}

/// A Redis lock: its key, the token that holds (or is taking) it, the
/// connection it goes through, and the watchdog that extends it.
struct HeldInRedis {
    client: Client,
    key: String,
    token: String,
    watchdog: Option<AbortHandle>,
}

impl HeldInRedis {
    /// Stops extending the lock and deletes it, in that order.
    async fn release(mut self) {
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
        RedisLock::release(&self.client, &self.key, &self.token).await;
    }
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
    async fn take(locks: &Arc<SessionLocks>, id: Id) -> Result<Turn, ApiError> {
        let deadline = Instant::now() + locks.wait;
        // Built before any wait, so that a cancelled wait still cleans up.
        let mut turn = Turn {
            locks: locks.clone(),
            key: id.to_string(),
            local: None,
            redis: None,
        };
        let local = locks.lock_for(&turn.key);
        let guard = tokio::time::timeout_at(deadline, local.lock_owned())
            .await
            .map_err(|_| busy())?;
        turn.local = Some(guard);
        if let Some(redis) = &locks.redis {
            // Recorded before the SET goes out: if this request is cancelled
            // mid-acquire, the drop still releases whatever the SET took.
            let held = turn.redis.insert(HeldInRedis {
                client: redis.pool.next().clone(),
                key: redis_key(&turn.key),
                token: format!("{:032x}", rand::random::<u128>()),
                watchdog: None,
            });
            redis
                .acquire(&held.client, &held.key, &held.token, deadline)
                .await?;
            let watchdog = tokio::spawn(RedisLock::keep_alive(
                held.client.clone(),
                held.key.clone(),
                held.token.clone(),
                redis.ttl,
            ));
            held.watchdog = Some(watchdog.abort_handle());
        }
        Ok(turn)
    }

    /// Gives the Redis lock back before the next local waiter goes for it.
    async fn finish(mut self) {
        if let Some(held) = self.redis.take() {
            held.release().await;
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(held) = self.redis.take() {
            // Cancelled, or outlived by a task: release in the background
            // (the lock also expires by itself once no longer extended).
            if let Some(watchdog) = &held.watchdog {
                watchdog.abort();
            }
            tokio::spawn(held.release());
        }
        drop(self.local.take());
        self.locks.release(&self.key);
    }
}

/// A step of the session routes' guard ([`super::guard`]), outside the
/// session layer: a request that may write (any method but GET, HEAD and
/// OPTIONS) and carries a valid session cookie waits for the other writes of
/// that session to finish.
pub async fn serialize_session_writes<F, Fut>(
    locks: &Arc<SessionLocks>,
    mut req: Request,
    next: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next(req).await;
    }
    // No session the layer would load: nothing to take turns on.
    let Some((id, _)) = locks.keys.session_id(req.headers()) else {
        return next(req).await;
    };
    let turn = match Turn::take(locks, id).await {
        Ok(turn) => Arc::new(turn),
        Err(e) => {
            let mut res = e.into_response();
            // Both a busy session and an unreachable store are worth a retry.
            let seconds = locks.wait.as_millis().div_ceil(1000).max(1);
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds as u64));
            return res;
        }
    };
    req.extensions_mut().insert(SessionTurn(turn.clone()));
    let response = next(req).await;
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

    use axum::extract::State;
    use axum::middleware::Next;

    use super::super::keys::tests::{SECRET, config};
    use super::*;

    /// The turns as middleware of their own.
    async fn take_turns(
        State(locks): State<Arc<SessionLocks>>,
        req: Request,
        next: Next,
    ) -> Response {
        serialize_session_writes(&locks, req, |req| next.run(req)).await
    }

    fn keys() -> Arc<SessionCookieKeys> {
        SessionCookieKeys::new(&config(SECRET, None))
    }

    /// A session id per name, the same for the same name.
    fn id(name: &str) -> Id {
        let n = name.bytes().fold(1i128, |h, b| h * 31 + i128::from(b));
        Id(n)
    }

    fn post_to(path: &str, session: &str) -> Request {
        Request::builder()
            .method("POST")
            .uri(path)
            .header(
                header::COOKIE,
                format!("km_session={}", keys().sign(id(session))),
            )
            .body(Body::empty())
            .unwrap()
    }

    fn request(session: &str) -> Request {
        post_to("/", session)
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_cancelled_request_gives_its_turn_back_and_leaves_no_entry() {
        let locks = SessionLocks::new(keys(), WAIT);
        let app = Router::new()
            .route("/", post(std::future::pending::<&'static str>))
            .layer(axum::middleware::from_fn_with_state(
                locks.clone(),
                take_turns,
            ));

        let cancelled = tokio::time::timeout(
            Duration::from_millis(50),
            app.clone().oneshot(request("abc")),
        )
        .await;
        assert!(cancelled.is_err(), "the handler never answers");
        assert_eq!(
            locks.entries(),
            0,
            "the cancelled request's entry is gone, not merely dead"
        );
    }

    #[tokio::test]
    async fn writes_of_one_session_take_turns_and_others_do_not_wait() {
        let locks = SessionLocks::new(keys(), WAIT);
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
                take_turns,
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
        assert_eq!(locks.entries(), 0);
    }

    #[tokio::test]
    async fn a_task_holding_the_turn_keeps_the_session_until_it_ends() {
        use axum::Extension;
        use std::sync::atomic::AtomicBool;

        let locks = SessionLocks::new(keys(), WAIT);
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
                take_turns,
            ));

        let at = |path: &str| post_to(path, "same");
        app.clone().oneshot(at("/first")).await.unwrap();
        app.clone().oneshot(at("/second")).await.unwrap();
        assert!(
            seen_done.load(Ordering::SeqCst),
            "the second change started before the first one's task ended"
        );
        assert_eq!(locks.entries(), 0);
    }

    /// A pool on the suite's Redis, for the tests that need one.
    async fn redis_pool() -> Pool {
        use tower_sessions_redis_store::fred::prelude::{Builder, ClientLike, Config};
        let url = std::env::var("TEST_REDIS_URL").expect("set TEST_REDIS_URL");
        let pool = Builder::from_config(Config::from_url(&url).unwrap())
            .build_pool(1)
            .unwrap();
        pool.init().await.unwrap();
        pool
    }

    fn post_as(path: &str, session: Id) -> Request {
        Request::builder()
            .method("POST")
            .uri(path)
            .header(
                header::COOKIE,
                format!("km_session={}", keys().sign(session)),
            )
            .body(Body::empty())
            .unwrap()
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_redis_lock_held_past_its_ttl_is_renewed_and_no_other_instance_gets_the_turn() {
        use std::sync::atomic::AtomicBool;

        let ttl = Duration::from_millis(300);
        // Two instances: their own process locks, one Redis.
        let first = SessionLocks::with_redis(keys(), WAIT, redis_pool().await, ttl);
        let second = SessionLocks::with_redis(keys(), WAIT, redis_pool().await, ttl);
        let session = Id::default();
        let holder_done = Arc::new(AtomicBool::new(false));
        let seen_done = Arc::new(AtomicBool::new(false));

        let done = holder_done.clone();
        let holder = Router::new()
            .route(
                "/",
                post(move || {
                    let done = done.clone();
                    async move {
                        // Holds the turn for four TTLs.
                        tokio::time::sleep(ttl * 4).await;
                        done.store(true, Ordering::SeqCst);
                        "held"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                first.clone(),
                take_turns,
            ));
        let (done, seen) = (holder_done.clone(), seen_done.clone());
        let other = Router::new()
            .route(
                "/",
                post(move || {
                    let (done, seen) = (done.clone(), seen.clone());
                    async move {
                        seen.store(done.load(Ordering::SeqCst), Ordering::SeqCst);
                        "ok"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                second.clone(),
                take_turns,
            ));

        let holding = tokio::spawn(holder.oneshot(post_as("/", session)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let res = other.oneshot(post_as("/", session)).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            seen_done.load(Ordering::SeqCst),
            "the other instance got the turn while the first still held it"
        );
        holding.await.unwrap().unwrap();

        // Released, not left to expire.
        let pool = redis_pool().await;
        let left: i64 = pool.exists(redis_key(&session.to_string())).await.unwrap();
        assert_eq!(left, 0);
    }
}
