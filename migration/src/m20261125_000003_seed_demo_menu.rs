use sea_orm_migration::prelude::*;

use crate::m20261125_000001_create_products::Products;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (name, description, price in cents, stock)
const DEMO_MENU: &[(&str, &str, i64, i32)] = &[
    (
        "Margherita Pizza",
        "San Marzano tomato, fior di latte, basil.",
        1250,
        40,
    ),
    (
        "Chicken Tikka Masala",
        "Charred chicken in a spiced tomato and cream sauce.",
        1699,
        30,
    ),
    (
        "Vegan Buddha Bowl",
        "Quinoa, roasted chickpeas, avocado, tahini.",
        1399,
        25,
    ),
    (
        "Pad Thai",
        "Rice noodles, tamarind, peanuts, lime.",
        1450,
        30,
    ),
    (
        "Beef Burger",
        "Dry-aged beef, cheddar, pickles, brioche bun.",
        1599,
        35,
    ),
    (
        "Caesar Salad",
        "Romaine, anchovy dressing, parmesan, croutons.",
        1010,
        40,
    ),
    (
        "Mushroom Risotto",
        "Arborio rice, porcini, parmesan, thyme.",
        1799,
        20,
    ),
    (
        "Fish and Chips",
        "Beer-battered cod, chips, mushy peas.",
        1650,
        25,
    ),
    (
        "Falafel Wrap",
        "Falafel, hummus, pickled turnip, flatbread.",
        999,
        40,
    ),
    (
        "Spicy Szechuan Tofu",
        "Silken tofu, chilli bean paste, Szechuan pepper.",
        1299,
        30,
    ),
    (
        "Lamb Rogan Josh",
        "Slow-cooked lamb in a Kashmiri chilli gravy.",
        1899,
        20,
    ),
    (
        "Sushi Platter",
        "Twelve pieces of nigiri and maki.",
        2450,
        15,
    ),
    (
        "Tomato Soup",
        "Roasted tomato, basil oil, sourdough.",
        650,
        50,
    ),
    (
        "Grilled Salmon",
        "Atlantic salmon, lemon butter, greens.",
        2199,
        20,
    ),
    (
        "Chana Masala",
        "Chickpeas in an onion, tomato and ginger sauce.",
        1150,
        35,
    ),
    (
        "Beef Tacos",
        "Three corn tortillas, braised beef, salsa roja.",
        1199,
        30,
    ),
    (
        "Greek Salad",
        "Tomato, cucumber, olives, feta, oregano.",
        899,
        40,
    ),
    (
        "Tiramisu",
        "Mascarpone, espresso-soaked savoiardi, cocoa.",
        750,
        30,
    ),
    ("Mango Sorbet", "Alphonso mango, lime.", 599, 40),
    (
        "Lemon Tart",
        "Shortcrust, lemon curd, torched meringue.",
        1999,
        25,
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    /// One transaction on every backend, SQLite too: a migration that fails
    /// half-way leaves nothing behind, and the next start runs it again.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut insert = Query::insert();
        insert.into_table(Products::Table).columns([
            Products::Name,
            Products::Description,
            Products::PriceCents,
            Products::ImageUrl,
            Products::Stock,
            Products::Available,
        ]);
        for (name, description, cents, stock) in DEMO_MENU {
            let slug = name.to_lowercase().replace(' ', "-");
            insert.values_panic([
                (*name).into(),
                (*description).into(),
                (*cents).into(),
                format!("https://images.example.com/dishes/{slug}.jpg").into(),
                (*stock).into(),
                true.into(),
            ]);
        }
        manager.exec_stmt(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let names: Vec<&str> = DEMO_MENU.iter().map(|d| d.0).collect();
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Products::Table)
                    .and_where(Expr::col(Products::Name).is_in(names))
                    .to_owned(),
            )
            .await
    }
}
