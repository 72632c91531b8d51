use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_products::Products;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Dish {
    Cuisine,
}

const DEMO_CUISINES: &[(&str, &str)] = &[
    ("Margherita Pizza", "italian"),
    ("Chicken Tikka Masala", "indian"),
    ("Vegan Buddha Bowl", "mediterranean"),
    ("Pad Thai", "thai"),
    ("Beef Burger", "american"),
    ("Caesar Salad", "american"),
    ("Mushroom Risotto", "italian"),
    ("Fish and Chips", "british"),
    ("Falafel Wrap", "mediterranean"),
    ("Spicy Szechuan Tofu", "chinese"),
    ("Lamb Rogan Josh", "indian"),
    ("Sushi Platter", "japanese"),
    ("Tomato Soup", "british"),
    ("Grilled Salmon", "french"),
    ("Chana Masala", "indian"),
    ("Beef Tacos", "mexican"),
    ("Greek Salad", "mediterranean"),
    ("Tiramisu", "italian"),
    ("Mango Sorbet", "indian"),
    ("Lemon Tart", "french"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend, SQLite too: a migration that fails
    /// half-way leaves nothing behind, and the next start runs it again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .add_column(string_len_null(Dish::Cuisine, 20))
                    .to_owned(),
            )
            .await?;
        for (name, cuisine) in DEMO_CUISINES {
            manager
                .exec_stmt(
                    Query::update()
                        .table(Products::Table)
                        .value(Dish::Cuisine, *cuisine)
                        .and_where(Expr::col(Products::Name).eq(*name))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .drop_column(Dish::Cuisine)
                    .to_owned(),
            )
            .await
    }
}
