//! The schema and the demo menu, as ordered migrations. `api migrate` runs
//! them; the service also runs them at start.

pub use sea_orm_migration::prelude::*;

mod m20261125_000001_create_products;
mod m20261125_000002_create_sessions;
mod m20261125_000003_seed_demo_menu;
mod m20261125_000004_dish_spice_and_dietary_tags;
mod m20261125_000005_create_orders;
mod m20261125_000006_dish_cuisine;
mod m20261126_000007_create_users;
mod m20261126_000008_create_logins;
mod m20261126_000009_account_state;
mod m20261127_000010_create_books;
mod m20261127_000011_account_reading;
mod m20261127_000012_create_session_locks;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_create_products::Migration),
            Box::new(m20261125_000002_create_sessions::Migration),
            Box::new(m20261125_000003_seed_demo_menu::Migration),
            Box::new(m20261125_000004_dish_spice_and_dietary_tags::Migration),
            Box::new(m20261125_000005_create_orders::Migration),
            Box::new(m20261125_000006_dish_cuisine::Migration),
            Box::new(m20261126_000007_create_users::Migration),
            Box::new(m20261126_000008_create_logins::Migration),
            Box::new(m20261126_000009_account_state::Migration),
            Box::new(m20261127_000010_create_books::Migration),
            Box::new(m20261127_000011_account_reading::Migration),
            Box::new(m20261127_000012_create_session_locks::Migration),
        ]
    }
}
