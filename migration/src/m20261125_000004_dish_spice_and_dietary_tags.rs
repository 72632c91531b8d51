use sea_orm_migration::{prelude::*, schema::*};

use crate::m20261125_000001_create_products::Products;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Dish {
    SpiceLevel,
    DietaryTags,
}

/// Each dish's spice level and the dietary tags it satisfies, kept as a
/// comma-separated list of the fixed vocabulary (`vegan,gluten-free`).
const DEMO_TAGS: &[(&str, &str, &str)] = &[
    ("Margherita Pizza", "mild", "vegetarian,nut-free"),
    (
        "Chicken Tikka Masala",
        "medium",
        "gluten-free,halal,nut-free",
    ),
    (
        "Vegan Buddha Bowl",
        "mild",
        "vegetarian,vegan,gluten-free,dairy-free,nut-free",
    ),
    ("Pad Thai", "medium", "dairy-free"),
    ("Beef Burger", "mild", ""),
    ("Caesar Salad", "mild", "nut-free"),
    (
        "Mushroom Risotto",
        "mild",
        "vegetarian,gluten-free,nut-free",
    ),
    ("Fish and Chips", "mild", "dairy-free,nut-free,kosher"),
    (
        "Falafel Wrap",
        "medium",
        "vegetarian,vegan,dairy-free,nut-free,halal,kosher",
    ),
    (
        "Spicy Szechuan Tofu",
        "hot",
        "vegetarian,vegan,dairy-free,nut-free",
    ),
    ("Lamb Rogan Josh", "hot", "gluten-free,nut-free,halal"),
    ("Sushi Platter", "mild", "dairy-free,nut-free"),
    (
        "Tomato Soup",
        "mild",
        "vegetarian,vegan,dairy-free,nut-free,kosher",
    ),
    ("Grilled Salmon", "mild", "gluten-free,nut-free,kosher"),
    (
        "Chana Masala",
        "medium",
        "vegetarian,vegan,gluten-free,dairy-free,nut-free,halal,kosher",
    ),
    ("Beef Tacos", "hot", "gluten-free,dairy-free,nut-free,halal"),
    ("Greek Salad", "mild", "vegetarian,gluten-free,nut-free"),
    ("Tiramisu", "mild", "vegetarian,nut-free"),
    (
        "Mango Sorbet",
        "mild",
        "vegetarian,vegan,gluten-free,dairy-free,nut-free,halal,kosher",
    ),
    ("Lemon Tart", "mild", "vegetarian"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend, SQLite too: a migration that fails
    /// half-way leaves nothing behind, and the next start runs it again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .add_column(string_len(Dish::SpiceLevel, 10).default("mild"))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Products::Table)
                    .add_column(string_len(Dish::DietaryTags, 200).default(""))
                    .to_owned(),
            )
            .await?;
        for (name, spice, tags) in DEMO_TAGS {
            manager
                .exec_stmt(
                    Query::update()
                        .table(Products::Table)
                        .value(Dish::SpiceLevel, *spice)
                        .value(Dish::DietaryTags, *tags)
                        .and_where(Expr::col(Products::Name).eq(*name))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Dish::DietaryTags, Dish::SpiceLevel] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Products::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
