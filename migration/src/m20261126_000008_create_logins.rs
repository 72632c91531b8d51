use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000007_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One row per signed-in session: what the sign-in check enforces (idle and
/// absolute limits, the client IP) and what a user sees of their sessions.
///
/// `handle` is the public name of a sign-in (random, never the session id);
/// `session_id` is the session store's key, kept so that ending a sign-in
/// from another session can delete its record from the store. It is as
/// sensitive as the session store itself and never leaves the service.
#[derive(DeriveIden)]
enum Logins {
    Table,
    Id,
    Handle,
    UserId,
    SessionId,
    CreatedAt,
    LastSeenAt,
    RememberMe,
    ClientIp,
    UserAgent,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend, SQLite too: a migration that fails
    /// half-way leaves nothing behind, and the next start runs it again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Logins::Table)
                    .if_not_exists()
                    .col(pk_auto(Logins::Id))
                    .col(string_len(Logins::Handle, 32))
                    .col(integer(Logins::UserId))
                    .col(string_len(Logins::SessionId, 64))
                    .col(timestamp_with_time_zone(Logins::CreatedAt))
                    .col(timestamp_with_time_zone(Logins::LastSeenAt))
                    .col(boolean(Logins::RememberMe))
                    .col(string_len(Logins::ClientIp, 45))
                    .col(string_len_null(Logins::UserAgent, 256))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_logins_user")
                            .from(Logins::Table, Logins::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_logins_handle")
                    .table(Logins::Table)
                    .col(Logins::Handle)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_logins_user_id")
                    .table(Logins::Table)
                    .col(Logins::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Logins::Table).to_owned())
            .await
    }
}
