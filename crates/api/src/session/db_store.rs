//! A `SessionStore` over sea-orm, for SQLite and PostgreSQL alike.

use async_trait::async_trait;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, SqlErr,
};
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{self, ExpiredDeletion};

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
}

#[async_trait]
impl SessionStore for DatabaseStore {
    /// Inserts a new record; when its id is taken, draws another until one is free.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        loop {
            match Entity::insert(Self::active_model(record)?)
                .exec(&self.db)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                    record.id = Id::default();
                }
                Err(e) => return Err(backend(e)),
            }
        }
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        Entity::insert(Self::active_model(record)?)
            .on_conflict(
                OnConflict::column(Column::Id)
                    .update_columns([Column::Data, Column::ExpiresAt])
                    .to_owned(),
            )
            .exec(&self.db)
            .await
            .map_err(backend)?;
        Ok(())
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

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        Entity::delete_by_id(id.to_string())
            .exec(&self.db)
            .await
            .map_err(backend)?;
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
