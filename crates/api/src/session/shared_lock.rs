//! The cross-instance half of a session's turn (see [`super::lock`]): the
//! Redis scripts that take the lock with the read and release it with the
//! write, the `session_locks` row of the database store, and the lock file
//! of the file store.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::future::join_all;
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use tokio::time::Instant;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store;
use tower_sessions_redis_store::fred::clients::Client;
use tower_sessions_redis_store::fred::prelude::{KeysInterface, LuaInterface};
use tower_sessions_redis_store::fred::types::scripts::Script;
use tower_sessions_redis_store::fred::types::{Expiration, SetOptions, Value};

use super::lock::{Taking, Turn, busy, lock_error};
use crate::config::SessionLock;
use crate::error::ApiError;
use crate::metrics::{self, Renewal};

/// What a shared lock goes through. A Redis lock's every command goes
/// through the one connection that took it, so none overtakes another.
#[derive(Debug, Clone)]
pub(crate) enum Via {
    Redis(Client),
    Database(DatabaseConnection),
    /// The lock file, held open and locked.
    File(Arc<LockFile>),
}

impl Via {
    /// Which lock this is, for the metrics.
    fn lock(&self) -> SessionLock {
        match self {
            Via::Redis(_) => SessionLock::Redis,
            Via::Database(_) => SessionLock::Database,
            Via::File(_) => SessionLock::File,
        }
    }
}

/// Takes the lock (KEYS[1]) for the token (ARGV[1]) for ARGV[2] ms if it is
/// free or already this token's (fred sends a command again when its
/// connection closed before the answer came), and then reads the session's
/// record (KEYS[2]): `{1, record or nil}`, or `{0}` when another holds the
/// lock. The two keys share a hash slot (see [`super::lock::shared_key`]),
/// as a Redis Cluster requires of one script's keys; fred sends the script
/// to the node of the first key's slot, and loads it on every primary
/// when a node answers `NOSCRIPT`.
static LOCK_AND_LOAD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        "if redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) \
            or redis.call('get', KEYS[1]) == ARGV[1] then \
           return {1, redis.call('get', KEYS[2])} \
         end \
         return {0}",
    )
});

/// Writes the record (KEYS[2] = ARGV[2], expiring at Unix time ARGV[3];
/// ARGV[4] `NX` for a new session, `XX` for a stored one, `ANY` for either)
/// if the token (ARGV[1]) still holds the lock (KEYS[1]), and deletes the
/// lock with it when ARGV[5] is `1`: -1 when the lock is not held, 0 when a
/// new session's id is taken (the lock kept), else 1. A stored session that
/// expired meanwhile is not written again (as tower-sessions' Redis store
/// does), and counts as saved.
///
/// fred sends a command again when its connection closed before the answer
/// came, so this may run twice: a second run finds the lock it deleted gone,
/// or the new session's id taken, by the record it wrote itself. A record
/// already holding exactly this value counts as saved, so a change that was
/// applied is not reported as lost.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        "local function written_already() return redis.call('get', KEYS[2]) == ARGV[2] end \
         if redis.call('get', KEYS[1]) ~= ARGV[1] then \
           if written_already() then return 1 end \
           return -1 \
         end \
         local written \
         if ARGV[4] == 'ANY' then \
           written = redis.call('set', KEYS[2], ARGV[2], 'EXAT', ARGV[3]) \
         else \
           written = redis.call('set', KEYS[2], ARGV[2], ARGV[4], 'EXAT', ARGV[3]) \
         end \
         if not written and ARGV[4] == 'NX' and not written_already() then return 0 end \
         if ARGV[5] == '1' then redis.call('del', KEYS[1]) end \
         return 1",
    )
});

/// Deletes the record (KEYS[2]) if the token (ARGV[1]) still holds the lock
/// (KEYS[1]), keeping the lock: 1, or -1 when the lock is not held. Sent
/// twice, the second run finds the lock still held and deletes nothing more.
static DELETE: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        "if redis.call('get', KEYS[1]) == ARGV[1] then \
           redis.call('del', KEYS[2]) \
           return 1 \
         end \
         return -1",
    )
});

/// Deletes the lock only if the token still holds it. Sent whole (`EVAL`),
/// not by its digest as the others are: a release whose answer the request
/// stopped waiting for (Redis paused) still runs once Redis resumes, after
/// the read that took the lock, and nothing would then load the script
/// again on a `NOSCRIPT` (a Redis that has not run it yet, or restarted):
/// the lock would stay held, and the session's changes refused, until it
/// expires. A release is rare (a change saves and deletes the lock in one
/// script), so sending its text costs little.
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Extends the lock only if the token still holds it.
static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end",
    )
});

fn backend(e: impl std::fmt::Display) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs `attempt` until it gives `Some`, pausing between tries from 1 ms,
/// doubling, to 20 ms: `Ok(None)` when the next pause would pass
/// `deadline` (the lock another holds was not had in time).
async fn poll_until<T, E, Fut>(
    deadline: Instant,
    mut attempt: impl FnMut() -> Fut,
) -> Result<Option<T>, E>
where
    Fut: Future<Output = Result<Option<T>, E>>,
{
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(done) = attempt().await? {
            return Ok(Some(done));
        }
        if Instant::now() + pause > deadline {
            return Ok(None);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// A record as tower-sessions' Redis store encodes it: MessagePack.
fn encode(record: &Record) -> session_store::Result<Vec<u8>> {
    rmp_serde::to_vec(record).map_err(|e| session_store::Error::Encode(e.to_string()))
}

/// Writes `record` with a plain `SET` as tower-sessions' Redis store does,
/// expiring at its time (`options`: `NX`, `XX` or neither): whether it was
/// written, and the bytes it wrote.
pub(crate) async fn set_record(
    client: &Client,
    record: &Record,
    options: Option<SetOptions>,
) -> session_store::Result<(bool, Vec<u8>)> {
    let value = encode(record)?;
    let expire = Expiration::EXAT(record.expiry_date.unix_timestamp());
    let written: Option<String> = client
        .set(
            record.id.to_string(),
            value.as_slice(),
            Some(expire),
            options,
            false,
        )
        .await
        .map_err(backend)?;
    Ok((written.is_some(), value))
}

/// Reads the session `id` for `turn`, taking its Redis lock first unless
/// the turn holds it already: one round trip. Waits, polling, while another
/// instance holds the lock, until the turn's deadline; then the turn is
/// refused (its answer says the session is busy).
pub(crate) async fn load(turn: &Turn, id: &Id) -> session_store::Result<Option<Vec<u8>>> {
    let Some((pool, ttl)) = turn.redis() else {
        return Err(lock_error("the session's lock is not in Redis"));
    };
    if let Some((Via::Redis(client), ..)) = turn.holding() {
        return client.get(id.to_string()).await.map_err(backend);
    }
    // A take tried before (its answer lost, or not had in time) is tried
    // again with its token and connection: the lock may be this turn's already.
    let Taking {
        via, key, token, ..
    } = turn.begin_hold(Via::Redis(pool.next().clone()));
    let Via::Redis(client) = via else {
        return Err(lock_error("the session's lock is not in Redis"));
    };
    let keys = vec![key, id.to_string()];
    let args = vec![token, millis(ttl).to_string()];
    let started = metrics::start();
    let loaded = poll_until(turn.deadline(), || async {
        let reply: Value = LOCK_AND_LOAD
            .evalsha_with_reload(&client, keys.clone(), args.clone())
            .await
            .map_err(backend)?;
        let mut parts = reply.into_array().into_iter();
        if parts.next().and_then(|taken| taken.as_i64()) != Some(1) {
            return Ok::<_, session_store::Error>(None);
        }
        Ok(Some(
            parts
                .next()
                .and_then(|record| record.as_bytes().map(<[u8]>::to_vec)),
        ))
    })
    .await?;
    let Some(record) = loaded else {
        metrics::lock_timed_out(SessionLock::Redis);
        turn.refuse();
        return Err(lock_error(
            "another change to this session held its lock past the wait",
        ));
    };
    metrics::lock_waited(SessionLock::Redis, started);
    turn.hold_taken();
    Ok(record)
}

/// Whether a write is of a new session (`NX`: its id must be free), of a
/// stored one (`XX`), or of either (a renewed session's tombstone, written
/// under the old id after its record was deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Write {
    New,
    Stored,
    Any,
}

/// Writes `record` for `turn` if the turn still holds its Redis lock, and
/// deletes the lock with it when the handler has answered and no task
/// carries the turn on: one round trip. `Ok(false)`: a new session's id is
/// taken (draw another). `None`: the turn never tried to take a Redis lock
/// (it never read the session), so the caller writes as without a turn. A
/// turn that tried and did not get it writes nothing.
pub(crate) async fn save(
    turn: &Turn,
    record: &Record,
    write: Write,
) -> Option<session_store::Result<bool>> {
    let Some((Via::Redis(client), key, token)) = turn.holding() else {
        return turn
            .taking()
            .then(|| Err(lock_error("the session's lock was not had")));
    };
    if !turn.is_on(&record.id) {
        return Some(save_under_new_id(turn, &client, key, token, record, write).await);
    }
    Some(save_held(turn, &client, key, token, record, write).await)
}

/// Writes a record under an id other than the turn's: the session's new id
/// once renewed (a sign-in), drawn at random. Its key is in another hash
/// slot than the lock's (on a Redis Cluster no script may touch both, and
/// the same two steps run on every setup): the lock is checked (and
/// extended) first, then the record written, one round trip apart. Nothing
/// else knows the new id yet, so only the lock's loss matters. The lock is
/// not deleted with it: the turn releases it at its end.
async fn save_under_new_id(
    turn: &Turn,
    client: &Client,
    key: String,
    token: String,
    record: &Record,
    write: Write,
) -> session_store::Result<bool> {
    let ttl = turn.redis().map_or(Duration::ZERO, |(_, ttl)| ttl);
    let held: i64 = RENEW
        .evalsha_with_reload(client, vec![key], vec![token, millis(ttl).to_string()])
        .await
        .map_err(backend)?;
    if held != 1 {
        return Err(lost_lock());
    }
    let options = match write {
        Write::New => Some(SetOptions::NX),
        Write::Stored => Some(SetOptions::XX),
        Write::Any => None,
    };
    let (written, value) = set_record(client, record, options).await?;
    if written || write != Write::New {
        // A stored session that expired meanwhile counts as saved, as in SAVE.
        return Ok(true);
    }
    // Taken, unless by this very write sent twice (see SAVE).
    let there: Option<Vec<u8>> = client.get(record.id.to_string()).await.map_err(backend)?;
    Ok(there.as_deref() == Some(value.as_slice()))
}

pub(crate) fn lost_lock() -> session_store::Error {
    lock_error(
        "the session's lock was lost (the store did not answer for its whole lifetime) before its change was saved",
    )
}

async fn save_held(
    turn: &Turn,
    client: &Client,
    key: String,
    token: String,
    record: &Record,
    write: Write,
) -> session_store::Result<bool> {
    let value = encode(record)?;
    // A tombstone is written within the handler, never the turn's last write.
    let release = write != Write::Any && turn.may_release_with_save();
    let args: Vec<Value> = vec![
        token.into(),
        Value::Bytes(value.into()),
        record.expiry_date.unix_timestamp().into(),
        match write {
            Write::New => "NX",
            Write::Stored => "XX",
            Write::Any => "ANY",
        }
        .into(),
        if release { "1" } else { "0" }.into(),
    ];
    let reply: i64 = SAVE
        .evalsha_with_reload(client, vec![key, record.id.to_string()], args)
        .await
        .map_err(backend)?;
    match reply {
        -1 => Err(lost_lock()),
        0 => Ok(false),
        _ => {
            if release {
                turn.released_with_save();
            }
            Ok(true)
        }
    }
}

/// Deletes the session `id` for `turn` if the turn still holds its Redis
/// lock, taking it first if the turn does not hold it yet (so that no change
/// on another instance writes the record back after it is gone): one
/// script over the lock and the record, as a save is.
pub(crate) async fn delete(turn: &Turn, id: &Id) -> session_store::Result<()> {
    if turn.holding().is_none() {
        load(turn, id).await?;
    }
    let Some((Via::Redis(client), key, token)) = turn.holding() else {
        return Err(lock_error("the session's lock is not held"));
    };
    let deleted: i64 = DELETE
        .evalsha_with_reload(&client, vec![key, id.to_string()], vec![token])
        .await
        .map_err(backend)?;
    if deleted == -1 {
        return Err(lost_lock());
    }
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

fn locks_table() -> Alias {
    Alias::new("session_locks")
}

/// Takes the `session_locks` row `key` for `token`, waiting (polling) while
/// another holds it unexpired, until `deadline`. Expiry is judged by each
/// instance's wall clock: instances whose clocks disagree by less than the
/// lock's lifetime keep each other out.
///
/// Each try runs in a task of its own holding `attempts` until the database
/// has answered: a turn cancelled while a try is in flight releases the row
/// on another connection, and that release waits for `attempts`, so it
/// cannot run before the `INSERT` and leave the row taken until it expires.
pub(crate) async fn acquire_row(
    db: &DatabaseConnection,
    key: &str,
    token: &str,
    ttl: Duration,
    deadline: Instant,
    attempts: &Arc<tokio::sync::Mutex<()>>,
) -> Result<(), ApiError> {
    let unavailable = |e: anyhow::Error| ApiError::unavailable("session store", e);
    let taken = poll_until(deadline, || async {
        let now = now_ms();
        let expires_at = Alias::new("expires_at");
        let take = Query::insert()
            .into_table(locks_table())
            .columns([
                Alias::new("lock_key"),
                Alias::new("token"),
                expires_at.clone(),
            ])
            .values_panic([
                key.into(),
                token.into(),
                now.saturating_add(millis(ttl)).into(),
            ])
            .on_conflict(
                OnConflict::column(Alias::new("lock_key"))
                    .update_columns([Alias::new("token"), expires_at.clone()])
                    .action_and_where(Expr::col((locks_table(), expires_at)).lt(now))
                    .to_owned(),
            )
            .to_owned();
        let in_flight = attempts.clone().lock_owned().await;
        let db = db.clone();
        let attempt = tokio::spawn(async move {
            let _in_flight = in_flight;
            db.execute(&take).await
        });
        let taken = attempt
            .await
            .map_err(|e| unavailable(e.into()))?
            .map_err(|e| unavailable(e.into()))?
            .rows_affected()
            == 1;
        Ok::<_, ApiError>(taken.then_some(()))
    })
    .await?;
    if taken.is_none() {
        metrics::lock_timed_out(SessionLock::Database);
        return Err(busy());
    }
    Ok(())
}

/// That the `session_locks` row `key` is still `token`'s: the condition of
/// a database store's write within a turn holding the row, checked by the
/// write's own statement (see [`super::db_store`]). The token alone
/// decides, not the row's expiry: an expired row nobody took since is still
/// this holder's, and no clock is consulted.
pub(crate) fn row_held(key: &str, token: &str) -> Expr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(locks_table())
            .and_where(Expr::col(Alias::new("lock_key")).eq(key))
            .and_where(Expr::col(Alias::new("token")).eq(token))
            .to_owned(),
    )
}

/// Whether the `session_locks` row `key` is still `token`'s.
pub(crate) async fn is_row_held(
    db: &DatabaseConnection,
    key: &str,
    token: &str,
) -> Result<bool, DbErr> {
    let query = Query::select()
        .expr(Expr::val(1))
        .from(locks_table())
        .and_where(Expr::col(Alias::new("lock_key")).eq(key))
        .and_where(Expr::col(Alias::new("token")).eq(token))
        .to_owned();
    Ok(db.query_one(&query).await?.is_some())
}

/// Deletes the `session_locks` rows whose holder stopped extending them (a
/// crashed instance, a release that never reached the database): an
/// expired row is free to take anyway, so only the table's size changes.
pub(crate) async fn delete_expired_rows(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let delete = Query::delete()
        .from_table(locks_table())
        .and_where(Expr::col(Alias::new("expires_at")).lt(now_ms()))
        .to_owned();
    Ok(db.execute(&delete).await?.rows_affected())
}

/// Runs `statement` on the row `key` held by `token`: true if it was there.
async fn on_held_row(
    db: &DatabaseConnection,
    statement: &mut sea_orm::sea_query::UpdateStatement,
    key: &str,
    token: &str,
) -> Result<bool, DbErr> {
    statement
        .and_where(Expr::col(Alias::new("lock_key")).eq(key))
        .and_where(Expr::col(Alias::new("token")).eq(token));
    Ok(db.execute(&*statement).await?.rows_affected() == 1)
}

/// The shared locks this process holds, extended every third of their
/// lifetime by one task for all of them: a holder may run longer than the
/// lifetime (checkout's task outlives its request), and its lock must not
/// expire under it. One task for every lock rather than one per lock: a
/// change holds its lock for a few milliseconds, and a task and a timer of
/// its own cost it more than the rest of the lock's work.
#[derive(Debug)]
pub(crate) struct Renewals {
    ttl: Duration,
    next: AtomicU64,
    held: Mutex<HashMap<u64, (Via, String, String)>>,
    started: AtomicBool,
}

impl Renewals {
    pub(crate) fn new(ttl: Duration) -> Arc<Self> {
        Arc::new(Renewals {
            ttl,
            next: AtomicU64::new(0),
            held: Mutex::new(HashMap::new()),
            started: AtomicBool::new(false),
        })
    }

    pub(crate) fn ttl(&self) -> Duration {
        self.ttl
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<u64, (Via, String, String)>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Extends the lock `key` held by `token` until [`Renewals::remove`].
    pub(crate) fn add(self: &Arc<Self>, via: Via, key: String, token: String) -> u64 {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.held().insert(n, (via, key, token));
        if !self.started.swap(true, Ordering::AcqRel) {
            tokio::spawn(renew_all(Arc::downgrade(self)));
        }
        n
    }

    pub(crate) fn remove(&self, n: u64) {
        self.held().remove(&n);
    }

    /// How many locks are being extended.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.held().len()
    }
}

/// Every third of the lifetime, extends every lock held, all at once; ends
/// when the locks' owner is gone.
async fn renew_all(renewals: Weak<Renewals>) {
    // Locks found gone at the last round. A holder that deletes its lock
    // with its save takes it off the list only once the save's answer is
    // back, so one miss may be a lock just released: only a lock missing
    // twice in a row, a third of its lifetime apart, expired under its holder.
    let mut missed: HashSet<u64> = HashSet::new();
    loop {
        let Some(ttl) = renewals.upgrade().map(|r| r.ttl) else {
            return;
        };
        tokio::time::sleep(ttl / 3).await;
        let Some(live) = renewals.upgrade() else {
            return;
        };
        let held: Vec<(u64, (Via, String, String))> =
            live.held().iter().map(|(n, h)| (*n, h.clone())).collect();
        let renewed = join_all(held.iter().map(|(n, (via, key, token))| async move {
            (*n, via.lock(), renew(via, key, token, ttl).await)
        }))
        .await;
        let mut missing = HashSet::new();
        for (n, lock, outcome) in renewed {
            match outcome {
                Ok(true) => metrics::lock_renewed(lock, Renewal::Ok),
                Ok(false) if missed.contains(&n) => {
                    if live.held().remove(&n).is_some() {
                        metrics::lock_renewed(lock, Renewal::Lost);
                        tracing::warn!(
                            "a session lock expired while held (the store was unreachable for its whole lifetime)"
                        );
                    }
                }
                Ok(false) => {
                    missing.insert(n);
                }
                Err(e) => {
                    metrics::lock_renewed(lock, Renewal::Error);
                    tracing::warn!(error = %e, "renewing a session lock failed; retrying");
                }
            }
        }
        missed = missing;
    }
}

/// Extends the lock `key` if `token` still holds it: whether it did.
async fn renew(via: &Via, key: &str, token: &str, ttl: Duration) -> Result<bool, String> {
    match via {
        Via::Redis(client) => RENEW
            .evalsha_with_reload::<i64, _, _>(
                client,
                vec![key.to_owned()],
                vec![token.to_owned(), millis(ttl).to_string()],
            )
            .await
            .map(|n| n == 1)
            .map_err(|e| e.to_string()),
        // The kernel releases a file lock with its holder: nothing expires.
        Via::File(_) => Ok(true),
        Via::Database(db) => on_held_row(
            db,
            Query::update().table(locks_table()).value(
                Alias::new("expires_at"),
                now_ms().saturating_add(millis(ttl)),
            ),
            key,
            token,
        )
        .await
        .map_err(|e| e.to_string()),
    }
}

/// Deletes the lock if `token` still holds it.
pub(crate) async fn release(via: &Via, key: &str, token: &str) {
    let released: Result<(), String> = match via {
        Via::Redis(client) => client
            .eval::<i64, _, _, _>(RELEASE, vec![key.to_owned()], vec![token.to_owned()])
            .await
            .map(drop)
            .map_err(|e| e.to_string()),
        Via::Database(db) => {
            let delete = Query::delete()
                .from_table(locks_table())
                .and_where(Expr::col(Alias::new("lock_key")).eq(key))
                .and_where(Expr::col(Alias::new("token")).eq(token))
                .to_owned();
            db.execute(&delete)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }
        Via::File(lock) => {
            let lock = lock.clone();
            tokio::task::spawn_blocking(move || lock.release())
                .await
                .map_err(|e| e.to_string())
        }
    };
    if let Err(e) = released {
        tracing::warn!(error = %e, "releasing a session lock failed; it expires by itself");
    }
}

/// A session's lock file (`<dir>/<hash>.lock`), locked with an advisory
/// lock (`flock` on Unix) that the kernel releases when its holder's
/// process ends, however it ends: no expiry, no renewals. The lock is on
/// the open file, so two instances in one process exclude each other too.
///
/// The file exists only while the turn runs: its holder removes it before
/// letting go, so the directory does not fill with one file per session
/// ever changed. Whoever opened it before that and then gets the lock finds
/// the name gone or naming another file, and starts again with the file the
/// name has now ([`try_lock_file`]); so only the holder of the file the name
/// points to holds the session's lock.
#[derive(Debug)]
pub(crate) struct LockFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl LockFile {
    /// Removes the file, then lets go of the lock (closing the file does).
    fn release(&self) {
        let Some(file) = self.file.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        if let Err(e) = fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(error = %e, "removing a session's lock file failed; the clean-up removes it");
        }
        drop(file);
    }
}

impl Drop for LockFile {
    /// A turn cancelled while taking the lock drops it here, still holding it.
    fn drop(&mut self) {
        self.release();
    }
}

/// Whether `opened` is the file now at `path`.
fn is_at(opened: &File, path: &Path) -> io::Result<bool> {
    let now = match fs::metadata(path) {
        Ok(now) => now,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let opened = opened.metadata()?;
        Ok(opened.dev() == now.dev() && opened.ino() == now.ino())
    }
    #[cfg(not(unix))]
    {
        let _ = (opened, now);
        Ok(true)
    }
}

/// Opens (creating it if need be) and locks the lock file at `path` without
/// waiting: `None` while another holds it.
fn try_lock_file(path: &Path) -> io::Result<Option<LockFile>> {
    loop {
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let file = options.open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Ok(None),
            Err(TryLockError::Error(e)) => return Err(e),
        }
        if is_at(&file, path)? {
            return Ok(Some(LockFile {
                path: path.to_owned(),
                file: Mutex::new(Some(file)),
            }));
        }
        // Removed by the holder we waited for: the lock is the next file's.
    }
}

/// Takes the lock file `<dir>/<name>.lock`, polling while another process
/// (or another instance in this one) holds it, until `deadline`. Each try
/// runs on the blocking pool: opening a file may wait on the disk.
pub(crate) async fn acquire_file(
    dir: &Path,
    name: &str,
    deadline: Instant,
) -> Result<LockFile, ApiError> {
    let path = Arc::new(dir.join(format!("{name}{}", super::file_store::LOCK_SUFFIX)));
    let unavailable = |e: anyhow::Error| ApiError::unavailable("session store", e);
    let taken = poll_until(deadline, || async {
        let at = path.clone();
        tokio::task::spawn_blocking(move || try_lock_file(&at))
            .await
            .map_err(|e| unavailable(e.into()))?
            .map_err(|e| unavailable(e.into()))
    })
    .await?;
    taken.ok_or_else(|| {
        metrics::lock_timed_out(SessionLock::File);
        busy()
    })
}

/// Removes the lock file at `path` if nobody holds it (one left by a turn
/// that ended half-way); whether it did. Blocking.
pub(crate) fn remove_lock_file_if_free(path: &Path) -> io::Result<bool> {
    match try_lock_file(path)? {
        Some(lock) => {
            lock.release();
            Ok(true)
        }
        None => Ok(false),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use tower_sessions_redis_store::fred::prelude::{Builder, ClientLike, Config, Pool};

    use super::*;

    /// A pool on the suite's Redis, for the tests that need one.
    pub(crate) async fn redis_pool() -> Pool {
        let url = std::env::var("TEST_REDIS_URL").expect("set TEST_REDIS_URL");
        let pool = Builder::from_config(Config::from_url(&url).unwrap())
            .build_pool(1)
            .unwrap();
        pool.init().await.unwrap();
        pool
    }

    /// Runs SAVE as `save_held` does: the reply.
    async fn save(
        client: &Client,
        keys: &[&str; 2],
        token: &str,
        value: &str,
        write: &str,
        release: bool,
    ) -> i64 {
        let at = (SystemTime::now() + Duration::from_secs(60))
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let args: Vec<Value> = vec![
            token.into(),
            value.into(),
            i64::try_from(at).unwrap().into(),
            write.into(),
            if release { "1" } else { "0" }.into(),
        ];
        SAVE.evalsha_with_reload(
            client,
            keys.iter().map(|k| (*k).to_owned()).collect::<Vec<_>>(),
            args,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    #[ignore = "needs TEST_REDIS_URL; run with -- --include-ignored"]
    async fn a_save_sent_twice_counts_as_saved_and_a_save_without_the_lock_is_refused() {
        let pool = redis_pool().await;
        let client = pool.next().clone();
        let id = Id::default().to_string();
        let lock = format!("km:test-lock:{{{id}}}");
        let keys = [lock.as_str(), id.as_str()];
        let take = |token: &'static str| {
            let (client, lock) = (client.clone(), lock.clone());
            async move {
                let _: Option<String> = client.set(lock, token, None, None, false).await.unwrap();
            }
        };

        // A new session's write, sent again: its own record is no other's.
        take("t1").await;
        assert_eq!(save(&client, &keys, "t1", "v1", "NX", false).await, 1);
        assert_eq!(save(&client, &keys, "t1", "v1", "NX", false).await, 1);
        // Another value under a taken id is refused: draw another id.
        assert_eq!(save(&client, &keys, "t1", "other", "NX", false).await, 0);

        // The last write, which deletes the lock, sent again: saved.
        assert_eq!(save(&client, &keys, "t1", "v2", "XX", true).await, 1);
        let held: i64 = client.exists(lock.clone()).await.unwrap();
        assert_eq!(held, 0, "the lock is deleted with the last write");
        assert_eq!(save(&client, &keys, "t1", "v2", "XX", true).await, 1);

        // A write of a change without the lock (lost, and maybe taken by
        // another) is refused, and the record kept as it was.
        assert_eq!(save(&client, &keys, "t1", "v3", "XX", true).await, -1);
        take("t2").await;
        assert_eq!(save(&client, &keys, "t1", "v3", "XX", false).await, -1);
        let kept: String = client.get(id.clone()).await.unwrap();
        assert_eq!(kept, "v2");

        // Either kind of record, with the lock (a tombstone's write).
        assert_eq!(save(&client, &keys, "t2", "tomb", "ANY", false).await, 1);
        let kept: String = client.get(id.clone()).await.unwrap();
        assert_eq!(kept, "tomb");
        let _: i64 = client.del(vec![lock, id]).await.unwrap();
    }
}
