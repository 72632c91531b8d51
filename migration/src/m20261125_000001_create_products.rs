use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The menu. Prices are integer minor units (cents): SQLite has no exact
/// decimal type and would round a `decimal` column through a float.
#[derive(DeriveIden)]
pub enum Products {
    Table,
    Id,
    Name,
    Description,
    PriceCents,
    ImageUrl,
    Stock,
    Available,
    CreatedAt,
    UpdatedAt,
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
                    .table(Products::Table)
                    .if_not_exists()
                    .col(pk_auto(Products::Id))
                    .col(string_len(Products::Name, 200))
                    .col(text(Products::Description).default(""))
                    .col(
                        big_integer(Products::PriceCents)
                            .check(Expr::col(Products::PriceCents).gte(0)),
                    )
                    .col(string_len_null(Products::ImageUrl, 500))
                    .col(
                        integer(Products::Stock)
                            .default(0)
                            .check(Expr::col(Products::Stock).gte(0)),
                    )
                    .col(boolean(Products::Available).default(true))
                    .col(
                        timestamp_with_time_zone(Products::CreatedAt)
                            .default(Expr::current_timestamp()),
                    )
                    .col(
                        timestamp_with_time_zone(Products::UpdatedAt)
                            .default(Expr::current_timestamp()),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_products_available_name")
                    .table(Products::Table)
                    .col(Products::Available)
                    .col(Products::Name)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Products::Table).to_owned())
            .await
    }
}
