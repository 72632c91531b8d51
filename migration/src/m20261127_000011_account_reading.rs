use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// A signed-in reader's reading list, progress, history and favorite genres,
/// kept with the account beside the cart and profile: four columns of the
/// JSON the session holds under the same names, null when empty. They change
/// together (a finished book leaves the list and progress for the history),
/// so one version covers all four, and every write names it.
#[derive(DeriveIden)]
enum UserState {
    Table,
    ReadingList,
    ReadingProgress,
    ReadingHistory,
    FavoriteGenres,
    ReadingVersion,
}

/// The values' columns, in the order they are added (and dropped backwards).
const VALUES: [UserState; 4] = [
    UserState::ReadingList,
    UserState::ReadingProgress,
    UserState::ReadingHistory,
    UserState::FavoriteGenres,
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend, SQLite too: a migration that fails
    /// half-way leaves nothing behind, and the next start runs it again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    /// One column per `ALTER TABLE`: SQLite takes no more.
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in VALUES {
            add_column(manager, text_null(column)).await?;
        }
        add_column(
            manager,
            big_integer(UserState::ReadingVersion).default(0).to_owned(),
        )
        .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, UserState::ReadingVersion).await?;
        for column in VALUES.into_iter().rev() {
            drop_column(manager, column).await?;
        }
        Ok(())
    }
}

async fn add_column(manager: &SchemaManager<'_>, mut column: ColumnDef) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(UserState::Table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

async fn drop_column(manager: &SchemaManager<'_>, column: UserState) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(UserState::Table)
                .drop_column(column)
                .to_owned(),
        )
        .await
}
