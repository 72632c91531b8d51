//! sea-orm entities. Only the columns the service reads are mapped; the
//! timestamps are kept by the database's defaults.

pub mod product {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "products")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub name: String,
        pub description: String,
        /// Integer minor units: exact on SQLite and PostgreSQL alike.
        pub price_cents: i64,
        pub image_url: Option<String>,
        pub stock: i32,
        pub available: bool,
        /// `mild`, `medium` or `hot`.
        pub spice_level: String,
        /// Comma-separated dietary tags, e.g. `vegan,gluten-free`.
        pub dietary_tags: String,
        /// One of the fixed cuisines, or none.
        pub cuisine: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod session {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sessions")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub data: Vec<u8>,
        /// Unix seconds, UTC.
        pub expires_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub status: String,
        pub total_cents: i64,
        pub created_at: TimeDateTimeWithTimeZone,
        /// The account the order belongs to; `None` for an anonymous visitor's.
        pub user_id: Option<i32>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(has_many = "super::order_line::Entity")]
        Lines,
    }

    impl Related<super::order_line::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Lines.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod order_line {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "order_lines")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub order_id: i32,
        pub product_id: i32,
        pub name: String,
        pub unit_price_cents: i64,
        pub quantity: i32,
        pub line_total_cents: i64,
        pub special_requests: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::order::Entity",
            from = "Column::OrderId",
            to = "super::order::Column::Id"
        )]
        Order,
    }

    impl Related<super::order::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Order.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        /// Lower case, `a-z 0-9 _ . -`, 3 to 32 characters.
        pub username: String,
        pub display_name: String,
        /// An argon2id PHC string.
        pub password_hash: String,
        /// `customer` or `admin`.
        pub role: String,
        pub created_at: TimeDateTimeWithTimeZone,
        pub last_login_at: Option<TimeDateTimeWithTimeZone>,
        pub disabled: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod login {
    use sea_orm::entity::prelude::*;

    /// A signed-in session (see `auth::logins`).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "logins")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        /// Its public name: random, never the session id.
        pub handle: String,
        pub user_id: i32,
        /// The session store's key for its record, so that ending the
        /// session from another one deletes the record at once. Never shown
        /// nor logged; useless without `SECRET_KEY`, which signs every
        /// cookie (see `auth::logins`).
        pub session_id: String,
        /// When the user signed in.
        pub created_at: TimeDateTimeWithTimeZone,
        /// The last request, to the minute.
        pub last_seen_at: TimeDateTimeWithTimeZone,
        pub remember_me: bool,
        /// The address it signed in from.
        pub client_ip: String,
        pub user_agent: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::user::Entity",
            from = "Column::UserId",
            to = "super::user::Column::Id"
        )]
        User,
    }

    impl Related<super::user::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::User.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod user_state {
    use sea_orm::entity::prelude::*;

    /// A signed-in user's cart, profile and reading, kept with the account
    /// so they follow the user across devices.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "user_state")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: i32,
        /// The cart as JSON, as the session holds it; `None` when empty.
        pub cart: Option<String>,
        /// Grows by one at every write of `cart`.
        pub cart_version: i64,
        /// The profile as JSON; `None` when there is none.
        pub profile: Option<String>,
        /// Grows by one at every write of `profile`.
        pub profile_version: i64,
        /// The reader's four values as JSON, as the session holds them under
        /// the same names; `None` when empty.
        pub reading_list: Option<String>,
        pub reading_progress: Option<String>,
        pub reading_history: Option<String>,
        pub favorite_genres: Option<String>,
        /// Grows by one at every write of the four reading values, which are
        /// written together.
        pub reading_version: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod book {
    use sea_orm::entity::prelude::*;

    /// A book of the library (see the `create_books` migration).
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "books")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub title: String,
        pub author: String,
        /// Comma-separated genres of the fixed vocabulary, never empty,
        /// e.g. `fiction,horror`.
        pub genres: String,
        pub total_pages: i32,
        pub chapters: i32,
        /// Negative before the common era.
        pub published_year: i32,
        pub description: String,
        /// ISO 639-1, e.g. `en`.
        pub language: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
