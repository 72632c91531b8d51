use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Accounts. The username is stored as the visitor typed it folded to lower
/// case (the allowed characters are `a-z 0-9 _ . -`), so the unique index is
/// case-insensitive on every backend. The password is an argon2id PHC string.
#[derive(DeriveIden)]
pub enum Users {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    Role,
    CreatedAt,
    LastLoginAt,
    Disabled,
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
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_auto(Users::Id))
                    .col(string_len(Users::Username, 32))
                    .col(string_len(Users::DisplayName, 100))
                    .col(text(Users::PasswordHash))
                    .col(
                        string_len(Users::Role, 16)
                            .default("customer")
                            .check(Expr::col(Users::Role).is_in(["customer", "admin"])),
                    )
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone_null(Users::LastLoginAt))
                    .col(boolean(Users::Disabled).default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_users_username")
                    .table(Users::Table)
                    .col(Users::Username)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}
