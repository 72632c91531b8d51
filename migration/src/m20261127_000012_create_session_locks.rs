use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The database lock's table: one row per session whose change is running
/// on some instance. `lock_key` is the session id hashed (the id is a
/// credential and stays out of this table), `token` names the request that
/// holds it, and `expires_at` (Unix milliseconds) lets another instance
/// take over a lock whose holder crashed.
#[derive(DeriveIden)]
enum SessionLocks {
    Table,
    LockKey,
    Token,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SessionLocks::Table)
                    .if_not_exists()
                    .col(string_len(SessionLocks::LockKey, 64).primary_key())
                    .col(string_len(SessionLocks::Token, 32))
                    .col(big_integer(SessionLocks::ExpiresAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SessionLocks::Table).to_owned())
            .await
    }
}
