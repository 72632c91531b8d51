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
//! Requests first queue in this process. Where the sessions are shared
//! between processes (see `SessionLock`), the turn is also taken across
//! instances:
//!
//! - with Redis sessions, in Redis, by the store itself: the lock key is set
//!   and the record read by one script when the request first reads the
//!   session, and the record written and the lock deleted by another when
//!   the session layer saves it after the handler ran
//!   ([`super::store`]); so a change costs the two round trips an unlocked
//!   one does. A delete checks the lock in the same script as it deletes,
//!   and a record under a new id is written after a script that checks it.
//!   A request that never reads its session takes no lock (it cannot
//!   change it: tower-sessions reads a record before changing it, and a
//!   delete takes the lock first);
//! - with the database store, with a row in `session_locks`, taken before
//!   the request runs and deleted after;
//! - with the file store, with an advisory lock on a file beside the
//!   session's, taken before the request runs and released after.
//!
//! A Redis or database lock expires by itself (so a crashed instance cannot
//! keep it), and is extended for as long as its holder runs (one task per
//! process extends every lock it holds); the kernel releases a file lock
//! when its holder's process ends, so it needs neither. A Redis write made
//! by the request itself whose lock was lost (Redis unreachable for the
//! lock's whole lifetime, so another instance may have taken it) is refused
//! rather than saved over another change, also in a task the request hands
//! its turn to ([`SessionTurn::scope`], checkout's). So is a database
//! store's write whose `session_locks` row is no longer its token's: each
//! write within the turn is one statement conditioned on the row (see
//! [`super::db_store`]). The file store's writes rely on the lock being
//! held, which its process cannot lose.
//!
//! A request waits for its turn at most half the request timeout: one stuck
//! behind a change that does not end is told so (503 with `Retry-After`)
//! before the request timeout would answer a bare 408.
//!
//! The turn is a [`SessionTurn`] in the request's extensions: work that must
//! finish even if the request is cancelled (checkout) takes a clone of it
//! into its own task, and the turn ends when the last clone is dropped. Such
//! work must read the session in the request first (checkout reads the cart),
//! so that the lock is held before the task starts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use sea_orm::DatabaseConnection;
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use tower_sessions::session::Id;
use tower_sessions::session_store;
use tower_sessions_redis_store::fred::prelude::Pool;

use super::keys::SessionCookieKeys;
use super::shared_lock::{self, Renewals, Via};
use crate::config::SessionLock;
use crate::error::{ApiError, ProblemKind};
use crate::metrics;

/// How long a shared lock outlives a holder that stopped renewing it (a
/// crashed instance). Its holder renews it every third of this.
pub const SHARED_LOCK_TTL: Duration = Duration::from_secs(10);

/// How many entries the table may hold before finished ones are swept.
const SWEEP_AT: usize = 1024;

/// Where the turn is also taken across instances, and what extends the
/// locks held.
#[derive(Debug, Clone)]
pub(crate) enum SharedLock {
    Redis {
        pool: Pool,
        renewals: Arc<Renewals>,
    },
    Database {
        db: DatabaseConnection,
        renewals: Arc<Renewals>,
    },
    /// Lock files in the sessions' directory.
    File {
        dir: Arc<PathBuf>,
    },
}

pub struct SessionLocks {
    keys: Arc<SessionCookieKeys>,
    /// How long a request waits for its turn.
    wait: Duration,
    /// Weak, so an entry never keeps a lock alive: a finished or cancelled
    /// request leaves at most a dead entry, swept away later.
    locks: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    shared: Option<SharedLock>,
}

impl SessionLocks {
    /// Locks within this process only; a request waits at most `wait`.
    pub fn new(keys: Arc<SessionCookieKeys>, wait: Duration) -> Arc<Self> {
        Self::with_shared(keys, wait, None)
    }

    /// Locks within this process, then in Redis (taken by the Redis store
    /// as it reads the session); `wait` bounds both waits together, and a
    /// lock left by a crashed holder expires after `ttl`.
    pub fn with_redis(
        keys: Arc<SessionCookieKeys>,
        wait: Duration,
        pool: Pool,
        ttl: Duration,
    ) -> Arc<Self> {
        let renewals = Renewals::new(ttl);
        Self::with_shared(keys, wait, Some(SharedLock::Redis { pool, renewals }))
    }

    /// Locks within this process, then with a row in the database's
    /// `session_locks`; as [`SessionLocks::with_redis`] otherwise.
    pub fn with_database(
        keys: Arc<SessionCookieKeys>,
        wait: Duration,
        db: DatabaseConnection,
        ttl: Duration,
    ) -> Arc<Self> {
        let renewals = Renewals::new(ttl);
        Self::with_shared(keys, wait, Some(SharedLock::Database { db, renewals }))
    }

    /// Locks within this process, then with a lock file in `dir`, the file
    /// store's directory, for the processes sharing it.
    pub fn with_files(
        keys: Arc<SessionCookieKeys>,
        wait: Duration,
        dir: Arc<PathBuf>,
    ) -> Arc<Self> {
        Self::with_shared(keys, wait, Some(SharedLock::File { dir }))
    }

    fn with_shared(
        keys: Arc<SessionCookieKeys>,
        wait: Duration,
        shared: Option<SharedLock>,
    ) -> Arc<Self> {
        Arc::new(SessionLocks {
            keys,
            wait,
            locks: Mutex::new(HashMap::new()),
            shared,
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

impl SessionLocks {
    /// Runs `work` holding the turn on session `id`, as a change sent with
    /// that session's cookie would hold it: for ending another session (its
    /// record deleted) so that a change of that session in flight saves its
    /// record before the delete, never after it. Within `work`, the store's
    /// reads and deletes of `id` go through this turn (in Redis, the delete
    /// takes the session's lock first). Waits as a request does, then
    /// answers [`busy`].
    pub(crate) async fn with_turn<F: Future>(
        self: &Arc<Self>,
        id: Id,
        work: F,
    ) -> Result<F::Output, ApiError> {
        // This request's own session: its turn is already held here.
        if current_turn().is_some_and(|t| t.is_on(&id)) {
            return Ok(work.await);
        }
        let turn = Arc::new(Turn::take(self, id).await?);
        let out = CURRENT.scope(turn.clone(), work).await;
        if let Ok(turn) = Arc::try_unwrap(turn) {
            turn.finish().await;
        }
        Ok(out)
    }
}

/// The answer to a change that did not get its turn in time.
pub(crate) fn busy() -> ApiError {
    ApiError::new(
        ProblemKind::ServiceUnavailable,
        "Another change to this session is still running; try again in a moment.",
    )
}

/// The name of a session's lock row and files: the id hashed, since the id
/// is a credential and stays out of the `session_locks` table and of file
/// names; SHA-256 names a session's lock alike on every instance and build.
pub fn lock_name(id: &str) -> String {
    format!("{:x}", Sha256::digest(id.as_bytes()))
}

/// The Redis key of a session's lock: `km:session-lock:{<id>}`. The scripts
/// that take the lock with the read and release it with the write touch
/// this key and the session's record, whose key is the bare id (as
/// tower-sessions-redis-store writes it). In a Redis Cluster a script's
/// keys must share a hash slot: a bare key's slot comes from the whole key,
/// a key with a `{tag}` from the tag alone, so both land in the id's slot.
/// (An id is base64url: it holds no brace.) The id in the name exposes
/// nothing more than the record's own key does.
pub fn shared_key(id: &str) -> String {
    format!("km:session-lock:{{{id}}}")
}

/// A shared lock this turn holds, or is taking: its key, its token, the
/// connection it goes through, and its entry among the locks extended.
pub(crate) struct Held {
    pub(crate) via: Via,
    pub(crate) key: String,
    pub(crate) token: String,
    /// The store said the lock is this token's. Until then the turn's reads
    /// and writes may not count on it, though it may be taken already (a
    /// take whose answer was lost) and is released all the same.
    taken: bool,
    /// Held by a try at taking the lock while the store has not answered
    /// it (see [`shared_lock::acquire_row`]): the release waits for it.
    attempts: Arc<tokio::sync::Mutex<()>>,
    renewal: Option<(Arc<Renewals>, u64)>,
}

/// A shared lock being taken: what the take needs. See [`Turn::begin_hold`].
pub(crate) struct Taking {
    pub(crate) via: Via,
    pub(crate) key: String,
    pub(crate) token: String,
    pub(crate) attempts: Arc<tokio::sync::Mutex<()>>,
}

impl Held {
    fn new(via: Via, id: &str) -> Held {
        let key = match via {
            Via::Redis(_) => shared_key(id),
            Via::Database(_) | Via::File(_) => lock_name(id),
        };
        Held {
            via,
            key,
            token: format!("{:032x}", rand::random::<u128>()),
            taken: false,
            attempts: Arc::new(tokio::sync::Mutex::new(())),
            renewal: None,
        }
    }

    fn renew_with(&mut self, renewals: &Arc<Renewals>) {
        if self.renewal.is_some() {
            return;
        }
        let n = renewals.add(self.via.clone(), self.key.clone(), self.token.clone());
        self.renewal = Some((renewals.clone(), n));
    }

    /// Stops extending the lock, waits for a take still in flight, and
    /// deletes the lock, in that order.
    async fn release(mut self) {
        self.stop_renewing();
        drop(self.attempts.lock().await);
        shared_lock::release(&self.via, &self.key, &self.token).await;
    }

    fn stop_renewing(&mut self) {
        if let Some((renewals, n)) = self.renewal.take() {
            renewals.remove(n);
        }
    }
}

impl Drop for Held {
    /// However the lock is let go of, it is not extended any more: a lock
    /// extended for ever would keep its session's changes out for good.
    fn drop(&mut self) {
        self.stop_renewing();
    }
}

/// A request's turn on one session. Dropping the last handle to it, also
/// when the request is cancelled (a timeout, a client gone), gives the turn
/// up and forgets the session's entry once nobody waits for it.
pub(crate) struct Turn {
    locks: Arc<SessionLocks>,
    key: String,
    id: Id,
    deadline: Instant,
    local: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The shared lock, once taken (or while being taken).
    shared: Mutex<Option<Held>>,
    /// Set once the handler has answered: the session layer's save is then
    /// the turn's last write, and may delete the lock with it.
    handler_done: AtomicBool,
    /// [`SessionTurn`] handles alive: tasks that outlive the handler keep
    /// the lock until they end.
    handles: AtomicUsize,
    /// The shared lock was not had in time: the answer is [`busy`].
    refused: AtomicBool,
}

/// A handle on the current request's turn, in its extensions. Clone it into
/// a task that must finish its session change even if the request does not.
pub struct SessionTurn(Arc<Turn>);

impl SessionTurn {
    fn new(turn: Arc<Turn>) -> Self {
        turn.handles.fetch_add(1, Ordering::AcqRel);
        SessionTurn(turn)
    }
}

impl SessionTurn {
    /// Runs `work` as part of this turn, typically in a task of its own: the
    /// turn lasts until `work` ends, and the store's reads and writes of the
    /// session within it go through the turn's lock as the request's own do
    /// (a Redis write is refused if the lock was lost).
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        let turn = self.0.clone();
        CURRENT
            .scope(turn, async move {
                let _handle = self;
                work.await
            })
            .await
    }
}

impl Clone for SessionTurn {
    fn clone(&self) -> Self {
        SessionTurn::new(self.0.clone())
    }
}

impl Drop for SessionTurn {
    fn drop(&mut self) {
        self.0.handles.fetch_sub(1, Ordering::AcqRel);
    }
}

tokio::task_local! {
    /// The turn of the request being served, for the store's reads and
    /// writes of its session.
    static CURRENT: Arc<Turn>;
}

/// The current request's turn, when it takes one.
pub(crate) fn current_turn() -> Option<Arc<Turn>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// Called once the handler has answered, before the session layer saves:
/// see [`Turn::handler_done`].
pub fn handler_finished() {
    let _ = CURRENT.try_with(|turn| turn.handler_done.store(true, Ordering::Release));
}

impl Turn {
    async fn take(locks: &Arc<SessionLocks>, id: Id) -> Result<Turn, ApiError> {
        let deadline = Instant::now() + locks.wait;
        // Built before any wait, so that a cancelled wait still cleans up.
        let mut turn = Turn {
            locks: locks.clone(),
            key: id.to_string(),
            id,
            deadline,
            local: None,
            shared: Mutex::new(None),
            handler_done: AtomicBool::new(false),
            handles: AtomicUsize::new(0),
            refused: AtomicBool::new(false),
        };
        let local = locks.lock_for(&turn.key);
        let started = metrics::start();
        let guard = tokio::time::timeout_at(deadline, local.lock_owned())
            .await
            .map_err(|_| {
                metrics::lock_timed_out(SessionLock::Process);
                busy()
            })?;
        metrics::lock_waited(SessionLock::Process, started);
        turn.local = Some(guard);
        if let Some(SharedLock::Database { db, renewals }) = &locks.shared {
            let Taking {
                key,
                token,
                attempts,
                ..
            } = turn.begin_hold(Via::Database(db.clone()));
            let started = metrics::start();
            shared_lock::acquire_row(db, &key, &token, renewals.ttl(), deadline, &attempts).await?;
            metrics::lock_waited(SessionLock::Database, started);
            turn.hold_taken();
        }
        if let Some(SharedLock::File { dir }) = &locks.shared {
            let started = metrics::start();
            let file = shared_lock::acquire_file(dir, &lock_name(&turn.key), deadline).await?;
            metrics::lock_waited(SessionLock::File, started);
            // Held from here to the turn's end; a file lock is not extended.
            let mut held = Held::new(Via::File(Arc::new(file)), &turn.key);
            held.taken = true;
            *turn.held() = Some(held);
        }
        Ok(turn)
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Option<Held>> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The Redis pool and lock lifetime, when this turn's shared lock is in Redis.
    pub(crate) fn redis(&self) -> Option<(&Pool, Duration)> {
        match &self.locks.shared {
            Some(SharedLock::Redis { pool, renewals }) => Some((pool, renewals.ttl())),
            _ => None,
        }
    }

    /// Whether this turn is on the session `id`.
    pub(crate) fn is_on(&self, id: &Id) -> bool {
        self.id == *id
    }

    /// Starts holding a shared lock through `via`; returns what its take
    /// needs. Recorded before that goes out: if the request is cancelled
    /// meanwhile, the drop still deletes whatever was taken. A lock already
    /// recorded is kept, not replaced (a replaced lock would be neither
    /// released nor, once taken, ever let go of): taking it again goes
    /// through its connection with its token.
    pub(crate) fn begin_hold(&self, via: Via) -> Taking {
        let mut held = self.held();
        let held = held.get_or_insert_with(|| Held::new(via, &self.key));
        Taking {
            via: held.via.clone(),
            key: held.key.clone(),
            token: held.token.clone(),
            attempts: held.attempts.clone(),
        }
    }

    /// The shared lock was taken: the turn's reads and writes count on it,
    /// and it is extended from now on.
    pub(crate) fn hold_taken(&self) {
        let mut held = self.held();
        let Some(held) = held.as_mut() else {
            return;
        };
        held.taken = true;
        if let Some(SharedLock::Redis { renewals, .. } | SharedLock::Database { renewals, .. }) =
            &self.locks.shared
        {
            held.renew_with(renewals);
        }
    }

    /// The lock this turn has taken: its connection, key and token.
    pub(crate) fn holding(&self) -> Option<(Via, String, String)> {
        self.held()
            .as_ref()
            .filter(|h| h.taken)
            .map(|h| (h.via.clone(), h.key.clone(), h.token.clone()))
    }

    /// Whether this turn tried to take a shared lock and did not get it.
    pub(crate) fn taking(&self) -> bool {
        self.held().as_ref().is_some_and(|h| !h.taken)
    }

    /// Whether the next save may delete the lock with it: the handler has
    /// answered, and no task carries the turn on.
    pub(crate) fn may_release_with_save(&self) -> bool {
        self.handler_done.load(Ordering::Acquire) && self.handles.load(Ordering::Acquire) == 0
    }

    /// The save deleted the lock.
    pub(crate) fn released_with_save(&self) {
        drop(self.held().take());
    }

    /// When the lock is not had in time.
    pub(crate) fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The lock was not had in time; the answer says so.
    pub(crate) fn refuse(&self) {
        self.refused.store(true, Ordering::Release);
    }

    /// Gives the shared lock back before the next local waiter goes for it.
    /// The lock stays recorded until its release has been answered: a
    /// request cancelled meanwhile (a timeout, a client gone) still has it
    /// released by the drop, rather than left for its whole lifetime.
    async fn finish(self) {
        let recorded = self
            .held()
            .as_ref()
            .map(|h| (h.via.clone(), h.key.clone(), h.token.clone()));
        if let Some((via, key, token)) = recorded {
            shared_lock::release(&via, &key, &token).await;
        }
        drop(self.held().take());
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        if let Some(held) = self.held().take() {
            // Cancelled, or outlived by a task: release in the background
            // (a Redis or database lock also expires by itself once no
            // longer extended).
            tokio::spawn(held.release());
        }
        drop(self.local.take());
        self.locks.release(&self.key);
    }
}

/// A store operation's error when a lock is not had in time, or was lost.
pub(crate) fn lock_error(what: &str) -> session_store::Error {
    session_store::Error::Backend(what.to_owned())
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
    // Both a busy session and an unreachable store are worth a retry, once
    // the change that holds the turn has had its time.
    let retry_later = |e: ApiError| e.retrying_after(locks.wait).into_response();
    let turn = match Turn::take(locks, id).await {
        Ok(turn) => Arc::new(turn),
        Err(e) => return retry_later(e),
    };
    req.extensions_mut().insert(SessionTurn::new(turn.clone()));
    let response = CURRENT.scope(turn.clone(), next(req)).await;
    let response = if turn.refused.load(Ordering::Acquire) {
        retry_later(busy())
    } else {
        response
    };
    // Still shared when a task the handler started carries on with the
    // turn; it then ends when that task drops its handle.
    if let Ok(turn) = Arc::try_unwrap(turn) {
        turn.finish().await;
    }
    response
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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

    /// A router on `locks` whose handler signals `started` once it has the
    /// turn, holds it for `hold`, then marks `done`; it answers whether
    /// `done` was already set when it started.
    fn holding_app(
        locks: Arc<SessionLocks>,
        hold: Duration,
        done: Arc<AtomicBool>,
        started: Arc<tokio::sync::Notify>,
    ) -> Router {
        Router::new()
            .route(
                "/",
                post(move || {
                    let (done, started) = (done.clone(), started.clone());
                    async move {
                        started.notify_one();
                        let seen = done.swap(false, Ordering::SeqCst);
                        tokio::time::sleep(hold).await;
                        done.store(true, Ordering::SeqCst);
                        if seen { "after" } else { "first" }
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(locks, take_turns))
    }

    async fn body(res: Response) -> String {
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_file_lock_keeps_another_instance_out_until_its_turn_ends_and_leaves_no_file() {
        let dir =
            Arc::new(std::env::temp_dir().join(format!("km-locks-{:016x}", rand::random::<u64>())));
        std::fs::create_dir_all(dir.as_path()).unwrap();
        // Two instances: their own process locks, one directory.
        let first = SessionLocks::with_files(keys(), WAIT, dir.clone());
        let second = SessionLocks::with_files(keys(), WAIT, dir.clone());
        let impatient = SessionLocks::with_files(keys(), Duration::from_millis(100), dir.clone());
        let done = Arc::new(AtomicBool::new(false));
        let hold = Duration::from_millis(400);

        let started = Arc::new(tokio::sync::Notify::new());
        let holding = tokio::spawn(
            holding_app(first, hold, done.clone(), started.clone()).oneshot(request("shared")),
        );
        started.notified().await;
        let refused = holding_app(impatient, hold, done.clone(), started.clone())
            .oneshot(request("shared"))
            .await
            .unwrap();
        assert_eq!(
            refused.status(),
            503,
            "the turn was not had within the wait"
        );
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        let waited = holding_app(second, Duration::ZERO, done.clone(), started)
            .oneshot(request("shared"))
            .await
            .unwrap();
        assert_eq!(body(waited).await, "after", "the other instance waited");
        assert_eq!(body(holding.await.unwrap().unwrap()).await, "first");

        let left: Vec<_> = std::fs::read_dir(dir.as_path()).unwrap().collect();
        assert!(left.is_empty(), "the lock files are removed: {left:?}");
        std::fs::remove_dir_all(dir.as_path()).unwrap();
    }

    #[test]
    fn a_sessions_lock_key_is_in_the_hash_slot_of_its_record() {
        use tower_sessions_redis_store::fred::util::redis_keyslot;
        for _ in 0..1000 {
            let id = Id::default().to_string();
            let key = shared_key(&id);
            assert_eq!(key, format!("km:session-lock:{{{id}}}"));
            assert_eq!(
                redis_keyslot(key.as_bytes()),
                redis_keyslot(id.as_bytes()),
                "{key}"
            );
        }
    }

    use super::super::shared_lock::tests::redis_pool;

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
        use tower_sessions::SessionStore;
        use tower_sessions_redis_store::fred::prelude::KeysInterface;

        use super::super::AnyStore;

        let ttl = Duration::from_millis(300);
        // Two instances: their own process locks and pools, one Redis.
        let (first_pool, second_pool) = (redis_pool().await, redis_pool().await);
        let first = SessionLocks::with_redis(keys(), WAIT, first_pool.clone(), ttl);
        let second = SessionLocks::with_redis(keys(), WAIT, second_pool.clone(), ttl);
        let session = Id::default();
        let holder_done = Arc::new(AtomicBool::new(false));
        let seen_done = Arc::new(AtomicBool::new(false));

        let done = holder_done.clone();
        let store = AnyStore::redis(first_pool);
        let locked = Arc::new(tokio::sync::Notify::new());
        let signal = locked.clone();
        let holder = Router::new()
            .route(
                "/",
                post(move || {
                    let (done, store, signal) = (done.clone(), store.clone(), signal.clone());
                    async move {
                        // Reading the session takes the lock; the turn is
                        // then held for four TTLs.
                        store.load(&session).await.unwrap();
                        signal.notify_one();
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
        let store = AnyStore::redis(second_pool);
        let other = Router::new()
            .route(
                "/",
                post(move || {
                    let (done, seen, store) = (done.clone(), seen.clone(), store.clone());
                    async move {
                        store.load(&session).await.unwrap();
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
        locked.notified().await;
        let res = other.oneshot(post_as("/", session)).await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(
            seen_done.load(Ordering::SeqCst),
            "the other instance got the turn while the first still held it"
        );
        holding.await.unwrap().unwrap();

        // Released, not left to expire.
        let pool = redis_pool().await;
        let left: i64 = pool.exists(shared_key(&session.to_string())).await.unwrap();
        assert_eq!(left, 0);
    }

    fn stored(id: Id, value: &str) -> tower_sessions::session::Record {
        tower_sessions::session::Record {
            id,
            data: [("v".to_owned(), serde_json::json!(value))].into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::minutes(1),
        }
    }

    async fn stored_value(store: &super::super::AnyStore, id: Id) -> serde_json::Value {
        use tower_sessions::SessionStore;
        store.load(&id).await.unwrap().unwrap().data["v"].clone()
    }

    /// Holds a change between its read and its write.
    #[derive(Default)]
    struct Gate {
        /// The change has read the session (and taken its lock).
        loaded: tokio::sync::Notify,
        /// The change may write.
        open: tokio::sync::Notify,
    }

    /// A change's write, given the store, the session's id and the turn.
    type Write = Arc<
        dyn Fn(
                super::super::AnyStore,
                Id,
                SessionTurn,
            ) -> futures_util::future::BoxFuture<'static, session_store::Result<()>>
            + Send
            + Sync,
    >;

    /// An instance whose every change reads the session, waits at `gate`
    /// (when given), then writes `value`, reporting how the write went.
    fn changing(
        locks: Arc<SessionLocks>,
        store: super::super::AnyStore,
        value: &'static str,
        gate: Option<Arc<Gate>>,
    ) -> Router {
        use tower_sessions::SessionStore;
        let save: Write = Arc::new(move |store, id, _| {
            Box::pin(async move { store.save(&stored(id, value)).await })
        });
        changing_with(locks, store, gate, save)
    }

    /// As [`changing`], the write being `write`.
    fn changing_with(
        locks: Arc<SessionLocks>,
        store: super::super::AnyStore,
        gate: Option<Arc<Gate>>,
        write: Write,
    ) -> Router {
        use tower_sessions::SessionStore;
        Router::new()
            .route(
                "/",
                post(move |req: Request| {
                    let (store, gate, write) = (store.clone(), gate.clone(), write.clone());
                    async move {
                        let id = keys().session_id(req.headers()).unwrap().0;
                        let turn = req.extensions().get::<SessionTurn>().unwrap().clone();
                        if let Err(e) = store.load(&id).await {
                            return format!("not loaded: {e}");
                        }
                        if let Some(gate) = gate {
                            gate.loaded.notify_one();
                            gate.open.notified().await;
                        }
                        match write(store, id, turn).await {
                            Ok(()) => "saved".to_owned(),
                            Err(e) => format!("refused: {e}"),
                        }
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(locks, take_turns))
    }

    /// A change on one instance reads a stored session (taking its Redis
    /// lock); the lock then goes as if it expired (Redis unreachable for
    /// its whole lifetime), and a change on another instance takes it and
    /// saves `second`; then the first change writes with `write`. The
    /// first change's answer, the second instance's store, the session.
    async fn write_after_losing_the_redis_lock(
        write: Write,
    ) -> (String, super::super::AnyStore, Id) {
        use tower_sessions_redis_store::fred::prelude::KeysInterface;

        let ttl = Duration::from_secs(10);
        let (first_pool, second_pool) = (redis_pool().await, redis_pool().await);
        let first = SessionLocks::with_redis(keys(), WAIT, first_pool.clone(), ttl);
        let second = SessionLocks::with_redis(keys(), WAIT, second_pool.clone(), ttl);
        let (first_store, second_store) = (
            super::super::AnyStore::redis(first_pool.clone()),
            super::super::AnyStore::redis(second_pool),
        );
        let session = Id::default();
        first_store.put(&stored(session, "before")).await.unwrap();
        let gate = Arc::new(Gate::default());

        let holding = tokio::spawn(
            changing_with(first, first_store.clone(), Some(gate.clone()), write)
                .oneshot(post_as("/", session)),
        );
        gate.loaded.notified().await;
        let gone: i64 = first_pool
            .del(shared_key(&session.to_string()))
            .await
            .unwrap();
        assert_eq!(gone, 1, "the first change held the lock");
        let taken = changing(second, second_store.clone(), "second", None)
            .oneshot(post_as("/", session))
            .await
            .unwrap();
        assert_eq!(body(taken).await, "saved");

        gate.open.notify_one();
        let late = body(holding.await.unwrap().unwrap()).await;
        (late, second_store, session)
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_write_in_a_task_carrying_the_turn_is_refused_once_its_redis_lock_is_lost() {
        use tower_sessions::SessionStore;
        let (late, store, session) =
            write_after_losing_the_redis_lock(Arc::new(|store, id, turn| {
                Box::pin(async move {
                    // As checkout does: a task of its own, carrying the turn on.
                    tokio::spawn(turn.scope(async move { store.save(&stored(id, "first")).await }))
                        .await
                        .unwrap()
                })
            }))
            .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(stored_value(&store, session).await, "second");
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_put_on_the_turns_session_is_refused_once_its_redis_lock_is_lost() {
        let (late, store, session) = write_after_losing_the_redis_lock(Arc::new(|store, id, _| {
            Box::pin(async move { store.put(&stored(id, "first")).await })
        }))
        .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(stored_value(&store, session).await, "second");
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_session_under_a_new_id_is_not_written_once_the_redis_lock_is_lost() {
        use tower_sessions::SessionStore;
        let renewed = Id::default();
        let (late, store, session) =
            write_after_losing_the_redis_lock(Arc::new(move |store, _, _| {
                Box::pin(async move {
                    // A sign-in's new id, drawn within the turn.
                    let mut record = stored(renewed, "first");
                    store.create(&mut record).await
                })
            }))
            .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(stored_value(&store, session).await, "second");
        assert!(store.load(&renewed).await.unwrap().is_none());
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_delete_is_refused_once_its_redis_lock_is_lost() {
        use tower_sessions::SessionStore;
        let (late, store, session) = write_after_losing_the_redis_lock(Arc::new(|store, id, _| {
            Box::pin(async move { store.delete(&id).await })
        }))
        .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(stored_value(&store, session).await, "second");
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn reads_and_deletes_after_a_redis_lock_not_had_in_time_do_not_go_around_it() {
        use tower_sessions::SessionStore;

        let ttl = Duration::from_secs(10);
        let (first_pool, second_pool) = (redis_pool().await, redis_pool().await);
        let first = SessionLocks::with_redis(keys(), WAIT, first_pool.clone(), ttl);
        let impatient =
            SessionLocks::with_redis(keys(), Duration::from_millis(100), second_pool.clone(), ttl);
        let (first_store, second_store) = (
            super::super::AnyStore::redis(first_pool),
            super::super::AnyStore::redis(second_pool),
        );
        let session = Id::default();
        first_store.put(&stored(session, "before")).await.unwrap();
        let gate = Arc::new(Gate::default());
        let holding = tokio::spawn(
            changing(first, first_store.clone(), "first", Some(gate.clone()))
                .oneshot(post_as("/", session)),
        );
        gate.loaded.notified().await;

        // The second read and the delete come after the first read was
        // refused, the other instance still holding the lock.
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let seen = outcomes.clone();
        let store = second_store.clone();
        let refused = Router::new()
            .route(
                "/",
                post(move || {
                    let (seen, store) = (seen.clone(), store.clone());
                    async move {
                        let first_read = store.load(&session).await.map(drop);
                        let second_read = store.load(&session).await.map(drop);
                        let deleted = store.delete(&session).await;
                        seen.lock().unwrap().extend([
                            first_read.is_ok(),
                            second_read.is_ok(),
                            deleted.is_ok(),
                        ]);
                        "done"
                    }
                }),
            )
            .layer(axum::middleware::from_fn_with_state(impatient, take_turns))
            .oneshot(post_as("/", session))
            .await
            .unwrap();
        assert_eq!(refused.status(), 503);
        assert_eq!(
            *outcomes.lock().unwrap(),
            [false, false, false],
            "read, read again, delete"
        );

        gate.open.notify_one();
        assert_eq!(body(holding.await.unwrap().unwrap()).await, "saved");
        assert_eq!(stored_value(&second_store, session).await, "first");
    }

    #[tokio::test]
    async fn taking_a_lock_again_keeps_the_one_recorded_and_a_dropped_lock_is_not_extended() {
        let locks = SessionLocks::new(keys(), WAIT);
        let turn = Turn::take(&locks, id("again")).await.unwrap();
        let first = turn.begin_hold(Via::Database(DatabaseConnection::default()));
        turn.hold_taken();
        let again = turn.begin_hold(Via::Database(DatabaseConnection::default()));
        assert_eq!(again.token, first.token, "the lock taken is kept");
        assert_eq!(turn.holding().map(|(_, _, token)| token), Some(first.token));

        let renewals = Renewals::new(SHARED_LOCK_TTL);
        let mut held = Held::new(Via::Database(DatabaseConnection::default()), "dropped");
        held.renew_with(&renewals);
        assert_eq!(renewals.len(), 1);
        drop(held);
        assert_eq!(renewals.len(), 0, "a lock let go of is not extended");
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_change_kept_waiting_by_another_instances_redis_lock_is_told_to_retry_and_loses_nothing()
     {
        let ttl = Duration::from_secs(10);
        let (first_pool, second_pool) = (redis_pool().await, redis_pool().await);
        let first = SessionLocks::with_redis(keys(), WAIT, first_pool.clone(), ttl);
        let impatient =
            SessionLocks::with_redis(keys(), Duration::from_millis(200), second_pool.clone(), ttl);
        let (first_store, second_store) = (
            super::super::AnyStore::redis(first_pool),
            super::super::AnyStore::redis(second_pool),
        );
        let session = Id::default();
        first_store.put(&stored(session, "before")).await.unwrap();
        let gate = Arc::new(Gate::default());

        let holding = tokio::spawn(
            changing(first, first_store.clone(), "first", Some(gate.clone()))
                .oneshot(post_as("/", session)),
        );
        gate.loaded.notified().await;
        let refused = changing(impatient.clone(), second_store.clone(), "second", None)
            .oneshot(post_as("/", session))
            .await
            .unwrap();
        assert_eq!(refused.status(), 503);
        assert_eq!(refused.headers()[header::RETRY_AFTER], "1");
        assert!(
            body(refused)
                .await
                .contains("/problems/service-unavailable")
        );
        assert_eq!(stored_value(&second_store, session).await, "before");

        gate.open.notify_one();
        assert_eq!(body(holding.await.unwrap().unwrap()).await, "saved");
        let after = changing(impatient, second_store.clone(), "second", None)
            .oneshot(post_as("/", session))
            .await
            .unwrap();
        assert_eq!(
            body(after).await,
            "saved",
            "the turn is free once the holder ends"
        );
        assert_eq!(stored_value(&second_store, session).await, "second");
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_change_whose_redis_lock_was_lost_is_not_saved_over_the_change_that_took_it() {
        use tower_sessions::SessionStore;
        let (late, store, session) = write_after_losing_the_redis_lock(Arc::new(|store, id, _| {
            Box::pin(async move { store.save(&stored(id, "first")).await })
        }))
        .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(stored_value(&store, session).await, "second");
    }

    /// A database of the test's own, migrated: on the suite's PostgreSQL
    /// with `postgres`, else a SQLite file (where `SESSION_LOCK=database`
    /// takes the row too). Two connections to it (two instances), and what
    /// [`drop_database`] removes.
    async fn database_pair(postgres: bool) -> (DatabaseConnection, DatabaseConnection, String) {
        use sea_orm::{ConnectionTrait, Database};
        let name = format!("km_lock_test_{:016x}", rand::random::<u64>());
        let url = if postgres {
            let server = std::env::var("TEST_DATABASE_URL").expect("set TEST_DATABASE_URL");
            let server = server.trim_end_matches('/');
            let admin = Database::connect(format!("{server}/postgres"))
                .await
                .unwrap();
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .unwrap();
            admin.close().await.unwrap();
            format!("{server}/{name}")
        } else {
            let file = std::env::temp_dir().join(format!("{name}.db"));
            format!("sqlite://{}?mode=rwc", file.display())
        };
        let first = Database::connect(&url).await.unwrap();
        crate::db::migrate(&first).await.unwrap();
        let second = Database::connect(&url).await.unwrap();
        (first, second, name)
    }

    async fn drop_database(postgres: bool, name: &str) {
        use sea_orm::{ConnectionTrait, Database};
        if !postgres {
            let file = std::env::temp_dir().join(format!("{name}.db"));
            std::fs::remove_file(file).ok();
            return;
        }
        let server = std::env::var("TEST_DATABASE_URL").expect("set TEST_DATABASE_URL");
        let admin = Database::connect(format!("{}/postgres", server.trim_end_matches('/')))
            .await
            .unwrap();
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .unwrap();
    }

    /// As [`write_after_losing_the_redis_lock`], with the database store
    /// and its `session_locks` row (the default lock on PostgreSQL): the
    /// first change's row goes as if it expired under it.
    async fn write_after_losing_the_lock_row(
        postgres: bool,
        write: Write,
    ) -> (String, serde_json::Value, bool) {
        use sea_orm::ConnectionTrait;
        use sea_orm::sea_query::ExprTrait;
        use tower_sessions::SessionStore;

        use super::super::db_store::DatabaseStore;

        let (first_db, second_db, name) = database_pair(postgres).await;
        let first = SessionLocks::with_database(keys(), WAIT, first_db.clone(), SHARED_LOCK_TTL);
        let second = SessionLocks::with_database(keys(), WAIT, second_db.clone(), SHARED_LOCK_TTL);
        let clock = crate::clock::Clock::default();
        let (first_store, second_store) = (
            super::super::AnyStore::Database(DatabaseStore::new(first_db.clone(), clock.clone())),
            super::super::AnyStore::Database(DatabaseStore::new(second_db, clock)),
        );
        let session = Id::default();
        first_store.save(&stored(session, "before")).await.unwrap();
        let gate = Arc::new(Gate::default());

        let holding = tokio::spawn(
            changing_with(first, first_store.clone(), Some(gate.clone()), write)
                .oneshot(post_as("/", session)),
        );
        gate.loaded.notified().await;
        let gone = first_db
            .execute(
                sea_orm::sea_query::Query::delete()
                    .from_table(sea_orm::sea_query::Alias::new("session_locks"))
                    .and_where(
                        sea_orm::sea_query::Expr::col(sea_orm::sea_query::Alias::new("lock_key"))
                            .eq(lock_name(&session.to_string())),
                    ),
            )
            .await
            .unwrap()
            .rows_affected();
        assert_eq!(gone, 1, "the first change held the row");
        let taken = changing(second, second_store.clone(), "second", None)
            .oneshot(post_as("/", session))
            .await
            .unwrap();
        assert_eq!(body(taken).await, "saved");

        gate.open.notify_one();
        let late = body(holding.await.unwrap().unwrap()).await;
        let kept = second_store.load(&session).await.unwrap();
        let value = kept
            .as_ref()
            .map_or(serde_json::Value::Null, |r| r.data["v"].clone());
        drop_database(postgres, &name).await;
        (late, value, kept.is_some())
    }

    async fn lost_row_refuses_a_save(postgres: bool) {
        use tower_sessions::SessionStore;
        let (late, kept, _) = write_after_losing_the_lock_row(
            postgres,
            Arc::new(|store, id, _| {
                Box::pin(async move { store.save(&stored(id, "first")).await })
            }),
        )
        .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(kept, "second");
    }

    async fn lost_row_refuses_a_tasks_save(postgres: bool) {
        use tower_sessions::SessionStore;
        let (late, kept, _) = write_after_losing_the_lock_row(
            postgres,
            Arc::new(|store, id, turn| {
                Box::pin(async move {
                    tokio::spawn(turn.scope(async move { store.save(&stored(id, "first")).await }))
                        .await
                        .unwrap()
                })
            }),
        )
        .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(kept, "second");
    }

    async fn lost_row_refuses_a_create(postgres: bool) {
        use tower_sessions::SessionStore;
        let renewed = Id::default();
        let created = Arc::new(Mutex::new(None));
        let seen = created.clone();
        let (late, kept, _) = write_after_losing_the_lock_row(
            postgres,
            Arc::new(move |store, _, _| {
                let seen = seen.clone();
                Box::pin(async move {
                    let mut record = stored(renewed, "first");
                    let out = store.create(&mut record).await;
                    let there = store.load(&record.id).await.unwrap().is_some();
                    *seen.lock().unwrap() = Some(there);
                    out
                })
            }),
        )
        .await;
        assert!(late.starts_with("refused"), "{late}");
        assert_eq!(kept, "second");
        assert_eq!(*created.lock().unwrap(), Some(false), "nothing was created");
    }

    async fn lost_row_refuses_a_delete(postgres: bool) {
        use tower_sessions::SessionStore;
        let (late, kept, there) = write_after_losing_the_lock_row(
            postgres,
            Arc::new(|store, id, _| Box::pin(async move { store.delete(&id).await })),
        )
        .await;
        assert!(late.starts_with("refused"), "{late}");
        assert!(there, "the other change's record is kept");
        assert_eq!(kept, "second");
    }

    async fn held_row_lets_writes_through(postgres: bool) {
        use tower_sessions::SessionStore;
        // The lock row is left alone: a save, a new session, a delete of
        // the session and of one never stored all succeed.
        let (first_db, _second, name) = database_pair(postgres).await;
        let locks = SessionLocks::with_database(keys(), WAIT, first_db.clone(), SHARED_LOCK_TTL);
        let store = super::super::AnyStore::Database(super::super::db_store::DatabaseStore::new(
            first_db,
            crate::clock::Clock::default(),
        ));
        let session = Id::default();
        store.save(&stored(session, "before")).await.unwrap();
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let seen = outcomes.clone();
        let write: Write = Arc::new(move |store, id, _| {
            let seen = seen.clone();
            Box::pin(async move {
                store.save(&stored(id, "saved")).await?;
                let saved = stored_value(&store, id).await;
                let mut fresh = stored(Id::default(), "fresh");
                store.create(&mut fresh).await?;
                let created = stored_value(&store, fresh.id).await;
                store.delete(&fresh.id).await?;
                store.delete(&fresh.id).await?;
                let gone = serde_json::json!(store.load(&fresh.id).await?.is_none());
                seen.lock().unwrap().extend([saved, created, gone]);
                Ok(())
            })
        });
        let res = changing_with(locks, store.clone(), None, write)
            .oneshot(post_as("/", session))
            .await
            .unwrap();
        assert_eq!(body(res).await, "saved");
        assert_eq!(
            *outcomes.lock().unwrap(),
            [
                serde_json::json!("saved"),
                serde_json::json!("fresh"),
                serde_json::json!(true)
            ]
        );
        drop_database(postgres, &name).await;
    }

    #[tokio::test]
    #[ignore = "needs TEST_DATABASE_URL; run with -- --include-ignored"]
    async fn a_change_whose_lock_row_was_lost_is_not_saved_over_the_change_that_took_it() {
        lost_row_refuses_a_save(true).await;
    }

    #[tokio::test]
    async fn a_change_whose_lock_row_was_lost_is_not_saved_over_the_other_on_sqlite() {
        lost_row_refuses_a_save(false).await;
    }

    #[tokio::test]
    #[ignore = "needs TEST_DATABASE_URL; run with -- --include-ignored"]
    async fn a_write_in_a_task_carrying_the_turn_is_refused_once_its_lock_row_is_lost() {
        lost_row_refuses_a_tasks_save(true).await;
    }

    #[tokio::test]
    async fn a_write_in_a_task_carrying_the_turn_is_refused_once_its_lock_row_is_lost_on_sqlite() {
        lost_row_refuses_a_tasks_save(false).await;
    }

    #[tokio::test]
    #[ignore = "needs TEST_DATABASE_URL; run with -- --include-ignored"]
    async fn a_new_session_is_not_created_once_its_lock_row_is_lost() {
        lost_row_refuses_a_create(true).await;
    }

    #[tokio::test]
    async fn a_new_session_is_not_created_once_its_lock_row_is_lost_on_sqlite() {
        lost_row_refuses_a_create(false).await;
    }

    #[tokio::test]
    #[ignore = "needs TEST_DATABASE_URL; run with -- --include-ignored"]
    async fn a_delete_is_refused_once_its_lock_row_is_lost() {
        lost_row_refuses_a_delete(true).await;
    }

    #[tokio::test]
    async fn a_delete_is_refused_once_its_lock_row_is_lost_on_sqlite() {
        lost_row_refuses_a_delete(false).await;
    }

    #[tokio::test]
    #[ignore = "needs TEST_DATABASE_URL; run with -- --include-ignored"]
    async fn writes_and_deletes_within_a_held_lock_row_go_through() {
        held_row_lets_writes_through(true).await;
    }

    #[tokio::test]
    async fn writes_and_deletes_within_a_held_lock_row_go_through_on_sqlite() {
        held_row_lets_writes_through(false).await;
    }
}
