use sea_orm_migration::sea_orm::DatabaseBackend;
use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261126_000007_create_users::Users;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What follows a signed-in user across devices: their cart and profile,
/// one row per account, each as the JSON the session would hold, with its
/// own version. A change is written with `UPDATE ... WHERE version = the
/// version read`, so two devices changing one account at once cannot
/// silently overwrite each other.
#[derive(DeriveIden)]
enum UserState {
    Table,
    UserId,
    Cart,
    CartVersion,
    Profile,
    ProfileVersion,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    UserId,
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
                    .table(UserState::Table)
                    .if_not_exists()
                    .col(integer(UserState::UserId).primary_key())
                    .col(text_null(UserState::Cart))
                    .col(big_integer(UserState::CartVersion).default(0))
                    .col(text_null(UserState::Profile))
                    .col(big_integer(UserState::ProfileVersion).default(0))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_user_state_user")
                            .from(UserState::Table, UserState::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        // The owner of an order placed while signed in, or claimed at sign-in;
        // null for an anonymous visitor's order. SQLite cannot add a foreign
        // key to an existing table through `ALTER TABLE ... ADD CONSTRAINT`,
        // only with the column itself.
        match manager.get_database_backend() {
            // Left by a `down` on SQLite (see there).
            DatabaseBackend::Sqlite if manager.has_column("orders", "user_id").await? => {}
            DatabaseBackend::Sqlite => {
                manager
                    .get_connection()
                    .execute_unprepared(
                        "ALTER TABLE orders ADD COLUMN user_id INTEGER NULL REFERENCES users (id) ON DELETE SET NULL",
                    )
                    .await?;
            }
            _ => {
                manager
                    .alter_table(
                        Table::alter()
                            .table(Orders::Table)
                            .add_column(integer_null(Orders::UserId))
                            .add_foreign_key(
                                TableForeignKey::new()
                                    .name("fk_orders_user")
                                    .from_tbl(Orders::Table)
                                    .from_col(Orders::UserId)
                                    .to_tbl(Users::Table)
                                    .to_col(Users::Id)
                                    .on_delete(ForeignKeyAction::SetNull),
                            )
                            .to_owned(),
                    )
                    .await?;
            }
        }
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_user_id")
                    .table(Orders::Table)
                    .col(Orders::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_orders_user_id")
                    .table(Orders::Table)
                    .to_owned(),
            )
            .await?;
        // SQLite cannot drop a column that a foreign key uses: there the
        // (nullable, unused) column stays.
        if manager.get_database_backend() != DatabaseBackend::Sqlite {
            manager
                .alter_table(
                    Table::alter()
                        .table(Orders::Table)
                        .drop_foreign_key("fk_orders_user")
                        .drop_column(Orders::UserId)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(UserState::Table).to_owned())
            .await
    }
}
