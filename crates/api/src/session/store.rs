//! One session store type for the four backends, so the session layer and
//! the readiness check do not care which one runs.

use std::sync::Arc;

use async_trait::async_trait;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};
use tower_sessions::{MemoryStore, SessionStore};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_redis_store::fred::prelude::{ClientLike, Pool};

use super::db_store::DatabaseStore;
use super::file_store::FileStore;
use super::lock::{self, Turn};
use super::shared_lock::{self, Write};
use crate::config::SessionBackend;
use crate::metrics::{self, StoreOp};

#[derive(Debug, Clone)]
pub enum AnyStore {
    Memory(MemoryStore),
    Database(DatabaseStore),
    Redis(RedisStore<Pool>, Pool),
    File(FileStore),
}

impl AnyStore {
    pub fn redis(pool: Pool) -> Self {
        AnyStore::Redis(RedisStore::new(pool.clone()), pool)
    }

    pub fn backend(&self) -> SessionBackend {
        match self {
            AnyStore::Memory(_) => SessionBackend::Memory,
            AnyStore::Database(_) => SessionBackend::Database,
            AnyStore::Redis(..) => SessionBackend::Redis,
            AnyStore::File(_) => SessionBackend::File,
        }
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend().into()
    }

    /// Whether the store answers: for the readiness probe.
    pub async fn ping(&self) -> Result<(), String> {
        match self {
            AnyStore::Memory(_) => Ok(()),
            AnyStore::Database(store) => store.ping().await.map_err(|e| e.to_string()),
            AnyStore::Redis(_, pool) => pool.ping::<()>(None).await.map_err(|e| e.to_string()),
            // The directory can still be written.
            AnyStore::File(store) => store.ping().await.map_err(|e| e.to_string()),
        }
    }

    /// Writes `record` whether or not one is stored under its id (the Redis
    /// store's own `save` writes only over an existing key, `create` only a
    /// new one under an id it may change). With Redis, a write within the
    /// record's turn is refused if the turn lost its lock, as the turn's
    /// other writes are. Counted as a save.
    pub async fn put(&self, record: &Record) -> session_store::Result<()> {
        metrics::store_op(self.backend(), StoreOp::Save, self.put_unmeasured(record)).await
    }

    async fn put_unmeasured(&self, record: &Record) -> session_store::Result<()> {
        match self {
            AnyStore::Memory(s) => s.save(record).await,
            AnyStore::Database(s) => s.save(record).await,
            AnyStore::File(s) => s.save(record).await,
            AnyStore::Redis(_, pool) => {
                // Within the record's turn, only while its lock is held.
                if let Some(turn) = redis_turn().filter(|t| t.is_on(&record.id))
                    && let Some(saved) = shared_lock::save(&turn, record, Write::Any).await
                {
                    return saved.map(drop);
                }
                shared_lock::set_record(pool.next(), record, None)
                    .await
                    .map(drop)
            }
        }
    }

    /// Removes expired sessions where the store does not expire them itself.
    pub async fn delete_expired(&self) -> session_store::Result<()> {
        match self {
            AnyStore::Database(store) => store.delete_expired().await,
            AnyStore::File(store) => store.delete_expired().await,
            // Redis expires keys itself (EXAT); the memory store filters on load.
            AnyStore::Memory(_) | AnyStore::Redis(..) => Ok(()),
        }
    }
}

/// Each operation counted and timed by backend (see [`crate::metrics`]).
#[async_trait]
impl SessionStore for AnyStore {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        metrics::store_op(
            self.backend(),
            StoreOp::Create,
            self.create_unmeasured(record),
        )
        .await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        metrics::store_op(self.backend(), StoreOp::Save, self.save_unmeasured(record)).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        metrics::store_op(self.backend(), StoreOp::Load, self.load_unmeasured(id)).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        metrics::store_op(self.backend(), StoreOp::Delete, self.delete_unmeasured(id)).await
    }
}

/// What each store does for the [`SessionStore`] operations.
impl AnyStore {
    async fn create_unmeasured(&self, record: &mut Record) -> session_store::Result<()> {
        match self {
            AnyStore::Memory(s) => s.create(record).await,
            AnyStore::Database(s) => s.create(record).await,
            AnyStore::File(s) => s.create(record).await,
            AnyStore::Redis(s, _) => {
                if let Some(turn) = redis_turn() {
                    loop {
                        match shared_lock::save(&turn, record, Write::New).await {
                            None => break,
                            Some(Ok(true)) => return Ok(()),
                            // The id is taken: draw another, as the store does.
                            Some(Ok(false)) => record.id = Id::default(),
                            Some(Err(e)) => return Err(e),
                        }
                    }
                }
                s.create(record).await
            }
        }
    }

    async fn save_unmeasured(&self, record: &Record) -> session_store::Result<()> {
        match self {
            AnyStore::Memory(s) => s.save(record).await,
            AnyStore::Database(s) => s.save(record).await,
            AnyStore::File(s) => s.save(record).await,
            AnyStore::Redis(s, _) => {
                if let Some(turn) = redis_turn()
                    && let Some(saved) = shared_lock::save(&turn, record, Write::Stored).await
                {
                    return saved.map(drop);
                }
                s.save(record).await
            }
        }
    }

    /// A record that does not decode (an older format, a damaged store) is
    /// treated as absent: the visitor gets a fresh session and a new cookie
    /// instead of an error on every request until it expires. It is not
    /// deleted: a read must not write (a GET takes no turn), an instance of
    /// a newer release may have written it during a rolling deploy, and it
    /// expires by itself. A store that does not answer is still an error.
    async fn load_unmeasured(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let loaded = match self {
            AnyStore::Memory(s) => s.load(id).await,
            AnyStore::Database(s) => s.load(id).await,
            AnyStore::File(s) => s.load(id).await,
            AnyStore::Redis(s, _) => match redis_turn().filter(|t| t.is_on(id)) {
                Some(turn) => load_in_turn(&turn, id).await,
                None => s.load(id).await,
            },
        };
        match loaded {
            Err(session_store::Error::Decode(reason)) => {
                // The id is a credential: it stays out of the log.
                tracing::warn!(
                    backend = self.backend_name(),
                    %reason,
                    "a stored session does not decode; starting a fresh one"
                );
                Ok(None)
            }
            other => other,
        }
    }

    async fn delete_unmeasured(&self, id: &Id) -> session_store::Result<()> {
        match self {
            AnyStore::Memory(s) => s.delete(id).await,
            AnyStore::Database(s) => s.delete(id).await,
            AnyStore::File(s) => s.delete(id).await,
            AnyStore::Redis(s, _) => match redis_turn().filter(|t| t.is_on(id)) {
                Some(turn) => shared_lock::delete(&turn, id).await,
                None => s.delete(id).await,
            },
        }
    }
}

/// The current request's turn, when its lock is taken in Redis: the store
/// then reads and writes the session with the scripts that take and
/// release that lock (see `lock`).
fn redis_turn() -> Option<Arc<Turn>> {
    lock::current_turn().filter(|turn| turn.redis().is_some())
}

async fn load_in_turn(turn: &Turn, id: &Id) -> session_store::Result<Option<Record>> {
    match shared_lock::load(turn, id).await? {
        Some(bytes) => rmp_serde::from_slice(&bytes)
            .map(Some)
            .map_err(|e| session_store::Error::Decode(e.to_string())),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: Id, value: i32) -> Record {
        Record {
            id,
            data: [("n".to_owned(), serde_json::json!(value))].into(),
            expiry_date: time::OffsetDateTime::now_utc() + time::Duration::minutes(1),
        }
    }

    #[tokio::test]
    async fn put_writes_a_record_whether_or_not_one_is_stored_under_its_id() {
        let store = AnyStore::Memory(MemoryStore::default());
        let id = Id::default();

        store.put(&record(id, 1)).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap().data["n"], 1);
        store.put(&record(id, 2)).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap().data["n"], 2);
        store.delete(&id).await.unwrap();
        store.put(&record(id, 3)).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap().data["n"], 3);
    }
}
