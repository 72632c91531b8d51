//! A `SessionStore` over sea-orm, for SQLite and PostgreSQL alike.

use async_trait::async_trait;
use sea_orm::sea_query::{Expr, InsertStatement, OnConflict, Query};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, SqlErr,
};
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

use super::lock;
use super::shared_lock::{self, Via};
use crate::clock::Clock;
use crate::db::entities::session::{ActiveModel, Column, Entity};

#[derive(Debug, Clone)]
pub struct DatabaseStore {
    db: DatabaseConnection,
    /// The service's clock: what has expired is judged by it, so a test
    /// moves it instead of waiting.
    clock: Clock,
}

fn backend(e: DbErr) -> session_store::Error {
    session_store::Error::Backend(e.to_string())
}

/// The `session_locks` row (key, token) held by the current turn, when its
/// shared lock is one. Its writes are then conditioned on the row in the
/// same statement: a row that expired under its holder (the database did
/// not answer its renewals for the row's whole lifetime, or the instances'
/// clocks disagree) may have been taken by another instance, whose saved
/// change a late write would otherwise overwrite. As the Redis store does
/// with its lock, such a write is refused (the service answers 503).
fn held_row() -> Option<(String, String)> {
    match lock::current_turn()?.holding()? {
        (Via::Database(_), key, token) => Some((key, token)),
        _ => None,
    }
}

impl DatabaseStore {
    pub fn new(db: DatabaseConnection, clock: Clock) -> Self {
        DatabaseStore { db, clock }
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    fn active_model(record: &Record) -> session_store::Result<ActiveModel> {
        let data = serde_json::to_vec(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        Ok(ActiveModel {
            id: Set(record.id.to_string()),
            data: Set(data),
            expires_at: Set(record.expiry_date.unix_timestamp()),
        })
    }

    /// An `INSERT` of `record` that writes nothing unless the lock row
    /// `key` is still `token`'s: `INSERT ... SELECT ... WHERE EXISTS (...)`.
    fn insert_if_held(
        record: &Record,
        key: &str,
        token: &str,
    ) -> session_store::Result<InsertStatement> {
        let data = serde_json::to_vec(&record.data)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        let values = Query::select()
            .exprs([
                Expr::val(record.id.to_string()),
                Expr::val(data),
                Expr::val(record.expiry_date.unix_timestamp()),
            ])
            .and_where(shared_lock::row_held(key, token))
            .to_owned();
        let mut insert = Query::insert();
        insert
            .into_table(Entity)
            .columns([Column::Id, Column::Data, Column::ExpiresAt])
            .select_from(values)
            .map_err(|e| session_store::Error::Encode(e.to_string()))?;
        Ok(insert)
    }

    /// Runs `insert`, conditioned on the lock row: refused when it wrote nothing.
    async fn write_if_held(&self, insert: &InsertStatement) -> Result<(), WriteError> {
        let written = self.db.execute(insert).await?.rows_affected();
        if written == 0 {
            return Err(WriteError::LockLost);
        }
        Ok(())
    }
}

enum WriteError {
    LockLost,
    Db(DbErr),
}

impl From<DbErr> for WriteError {
    fn from(e: DbErr) -> Self {
        WriteError::Db(e)
    }
}

#[async_trait]
impl SessionStore for DatabaseStore {
    /// Inserts a new record; when its id is taken, draws another until one is
    /// free. Within a turn holding a lock row, only while the row is held.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        let held = held_row();
        loop {
            let inserted = match &held {
                Some((key, token)) => {
                    self.write_if_held(&Self::insert_if_held(record, key, token)?)
                        .await
                }
                None => Entity::insert(Self::active_model(record)?)
                    .exec(&self.db)
                    .await
                    .map(drop)
                    .map_err(WriteError::Db),
            };
            match inserted {
                Ok(()) => return Ok(()),
                Err(WriteError::LockLost) => return Err(shared_lock::lost_lock()),
                Err(WriteError::Db(e))
                    if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) =>
                {
                    record.id = Id::default();
                }
                Err(WriteError::Db(e)) => return Err(backend(e)),
            }
        }
    }

    /// Writes the record over the stored one, or anew. Within a turn holding
    /// a lock row, in one statement that writes only while the row is held.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let upsert = OnConflict::column(Column::Id)
            .update_columns([Column::Data, Column::ExpiresAt])
            .to_owned();
        let Some((key, token)) = held_row() else {
            Entity::insert(Self::active_model(record)?)
                .on_conflict(upsert)
                .exec(&self.db)
                .await
                .map_err(backend)?;
            return Ok(());
        };
        let mut insert = Self::insert_if_held(record, &key, &token)?;
        insert.on_conflict(upsert);
        match self.write_if_held(&insert).await {
            Ok(()) => Ok(()),
            Err(WriteError::LockLost) => Err(shared_lock::lost_lock()),
            Err(WriteError::Db(e)) => Err(backend(e)),
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        let now = self.clock.now().unix_timestamp();
        let Some(row) = Entity::find_by_id(id.to_string())
            .filter(Column::ExpiresAt.gt(now))
            .one(&self.db)
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        let data = serde_json::from_slice(&row.data)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        let expiry_date = OffsetDateTime::from_unix_timestamp(row.expires_at)
            .map_err(|e| session_store::Error::Decode(e.to_string()))?;
        Ok(Some(Record {
            id: *id,
            data,
            expiry_date,
        }))
    }

    /// Within a turn holding a lock row, deletes only while the row is held.
    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        let Some((key, token)) = held_row() else {
            Entity::delete_by_id(id.to_string())
                .exec(&self.db)
                .await
                .map_err(backend)?;
            return Ok(());
        };
        let deleted = Entity::delete_many()
            .filter(Column::Id.eq(id.to_string()))
            .filter(shared_lock::row_held(&key, &token))
            .exec(&self.db)
            .await
            .map_err(backend)?
            .rows_affected;
        // Nothing deleted: no record, or the lock lost. A token once lost
        // never holds the row again, so a row held now was held then.
        if deleted == 0
            && !shared_lock::is_row_held(&self.db, &key, &token)
                .await
                .map_err(backend)?
        {
            return Err(shared_lock::lost_lock());
        }
        Ok(())
    }
}

#[async_trait]
impl ExpiredDeletion for DatabaseStore {
    async fn delete_expired(&self) -> session_store::Result<()> {
        let now = self.clock.now().unix_timestamp();
        let result = Entity::delete_many()
            .filter(Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await
            .map_err(backend)?;
        if result.rows_affected > 0 {
            tracing::debug!(deleted = result.rows_affected, "expired sessions deleted");
        }
        let locks = super::shared_lock::delete_expired_rows(&self.db)
            .await
            .map_err(backend)?;
        if locks > 0 {
            tracing::debug!(deleted = locks, "expired session locks deleted");
        }
        Ok(())
    }
}
