//! A signed-in user's cart, profile and reading, kept with the account.
//!
//! The session lock makes one session's changes take turns, but two
//! devices of one user are two sessions. So a change of the account's cart
//! or profile is a read-change-write inside one transaction that holds the
//! account's row ([`change`]: `SELECT ... FOR UPDATE` on PostgreSQL, the
//! database's write lock on SQLite, taken by the transaction's first
//! statement), so changes from several devices, on any instance, take
//! turns and each starts from the previous one's result.
//!
//! Each value also carries a version, which every write names (`UPDATE ...
//! WHERE version = read`): a write that was not made under the row's lock
//! (checkout's emptying of the cart, made from a cart read earlier) learns
//! that another session wrote in between, and nothing is written.
//!
//! A value that no longer decodes is treated like the session's: dropped
//! with a warning, and replaced by the next write.
//!
//! A value is one column, or several written together under one version:
//! the reader's list, progress, history and genres ([`StoredReading`]),
//! which one change may touch together (a finished book leaves the list
//! and its progress for the history).

use domain::Cart;
use domain::reading::{FavoriteGenres, Progress, Reading, ReadingHistory, ReadingList};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    IdenStatic, QueryFilter, QuerySelect, SqlErr, TransactionTrait,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use super::entities::{order, user_state};
use crate::auth::SessionEnded;
use crate::error::ApiError;

/// How many times a change to the account's cart, profile or reading list (a
/// device's change, or the hand-over at sign-in) starts again when other
/// sessions keep writing it in between, before the visitor is asked to send
/// it again.
pub const ATTEMPTS: usize = 8;

/// After losing round `attempt` to another session: a random pause of a few
/// milliseconds, longer each round, so two devices do not keep colliding.
pub async fn step_aside(attempt: usize) {
    use rand::Rng;
    let most = 5 * Ord::max(u64::try_from(attempt).unwrap_or(1000), 1);
    let pause = rand::thread_rng().gen_range(1..=most);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

/// Which of the account's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// A [`Cart`], in one column.
    Cart,
    /// A [`domain::profile::Profile`], in one column.
    Profile,
    /// A [`StoredReading`], in four columns under one version.
    Reading,
}

const READING_COLUMNS: [user_state::Column; 4] = [
    user_state::Column::ReadingList,
    user_state::Column::ReadingProgress,
    user_state::Column::ReadingHistory,
    user_state::Column::FavoriteGenres,
];

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Cart => "cart",
            Part::Profile => "profile",
            Part::Reading => "reading",
        }
    }

    /// The columns that hold the value, and its version's column. A value
    /// of one column is stored as its JSON; a value of several serializes
    /// as a JSON object with one field per column, named as the column, each
    /// stored in its column (a missing or null field as null).
    fn columns(self) -> (&'static [user_state::Column], user_state::Column) {
        match self {
            Part::Cart => (&[user_state::Column::Cart], user_state::Column::CartVersion),
            Part::Profile => (
                &[user_state::Column::Profile],
                user_state::Column::ProfileVersion,
            ),
            Part::Reading => (&READING_COLUMNS, user_state::Column::ReadingVersion),
        }
    }

    /// The texts of [`Part::columns`], in their order, and the version.
    fn stored(self, row: &user_state::Model) -> (Vec<Option<&str>>, i64) {
        match self {
            Part::Cart => (vec![row.cart.as_deref()], row.cart_version),
            Part::Profile => (vec![row.profile.as_deref()], row.profile_version),
            Part::Reading => (
                vec![
                    row.reading_list.as_deref(),
                    row.reading_progress.as_deref(),
                    row.reading_history.as_deref(),
                    row.favorite_genres.as_deref(),
                ],
                row.reading_version,
            ),
        }
    }

    /// The value as one JSON value per column of [`Part::columns`], in
    /// their order (`None` for null): what each column, or each session key
    /// of the same name, holds.
    pub fn split<T: Serialize>(
        self,
        value: Option<&T>,
    ) -> Result<Vec<Option<serde_json::Value>>, serde_json::Error> {
        let (columns, _) = self.columns();
        let Some(value) = value else {
            return Ok(vec![None; columns.len()]);
        };
        let json = serde_json::to_value(value)?;
        if columns.len() == 1 {
            return Ok(vec![Some(json).filter(|j| !serde_json::Value::is_null(j))]);
        }
        let serde_json::Value::Object(mut fields) = json else {
            return Err(serde::ser::Error::custom(format!(
                "the account's {} is not a JSON object",
                self.name()
            )));
        };
        Ok(columns
            .iter()
            .map(|column| {
                fields
                    .remove(column.as_str())
                    .filter(|j| !serde_json::Value::is_null(j))
            })
            .collect())
    }

    /// The value from one JSON value per column, as [`Part::split`] made
    /// them; `None` when all are null.
    pub fn join<T: DeserializeOwned>(
        self,
        fields: Vec<Option<serde_json::Value>>,
    ) -> Result<Option<T>, serde_json::Error> {
        let (columns, _) = self.columns();
        let json = if let [field] = &fields[..] {
            let Some(field) = field else { return Ok(None) };
            field.clone()
        } else {
            let fields: serde_json::Map<_, _> = columns
                .iter()
                .zip(fields)
                .filter_map(|(column, field)| Some((column.as_str().to_owned(), field?)))
                .collect();
            if fields.is_empty() {
                return Ok(None);
            }
            serde_json::Value::Object(fields)
        };
        serde_json::from_value(json).map(Some)
    }

    /// The value from its stored texts; `None` when there is none, or when
    /// it does not decode (logged). Of a value of several columns, a column
    /// that is not JSON is left out and the rest kept.
    fn decode<T: DeserializeOwned>(self, user_id: i32, texts: &[Option<&str>]) -> Option<T> {
        let warn = |e: &serde_json::Error| {
            tracing::warn!(user_id, part = self.name(), error = %e, "stored account value does not decode; ignoring it");
        };
        let fields = texts
            .iter()
            .map(|text| serde_json::from_str((*text)?).inspect_err(warn).ok())
            .collect();
        self.join(fields).inspect_err(warn).ok().flatten()
    }

    /// The texts to store for `value`, one per column.
    fn encode<T: Serialize>(self, value: Option<&T>) -> Result<Vec<Option<String>>, DbErr> {
        let fail = |e: serde_json::Error| {
            DbErr::Custom(format!(
                "the account's {} does not encode: {e}",
                self.name()
            ))
        };
        self.split(value)
            .map_err(fail)?
            .into_iter()
            .map(|field| field.map(|j| j.to_string()))
            .map(Ok)
            .collect()
    }
}

/// The reader's four values as the account keeps them ([`Part::Reading`]):
/// each field is its column, `None` when empty. A field that no longer
/// decodes reads as empty (logged), the others are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReading {
    #[serde(default, deserialize_with = "lenient")]
    pub reading_list: Option<ReadingList>,
    #[serde(default, deserialize_with = "lenient")]
    pub reading_progress: Option<Progress>,
    #[serde(default, deserialize_with = "lenient")]
    pub reading_history: Option<ReadingHistory>,
    #[serde(default, deserialize_with = "lenient")]
    pub favorite_genres: Option<FavoriteGenres>,
}

impl StoredReading {
    /// The four values, made consistent (see [`Reading::from_parts`]).
    pub fn into_reading(self) -> Reading {
        Reading::from_parts(
            self.reading_list.unwrap_or_default(),
            self.reading_progress.unwrap_or_default(),
            self.reading_history.unwrap_or_default(),
            self.favorite_genres.unwrap_or_default(),
        )
    }

    /// What to store for `reading`; `None` when all four are empty.
    pub fn of(reading: Reading) -> Option<StoredReading> {
        fn some<T: Default + PartialEq>(value: T) -> Option<T> {
            Some(value).filter(|v| *v != T::default())
        }
        let stored = StoredReading {
            reading_list: some(reading.list),
            reading_progress: some(reading.progress),
            reading_history: some(reading.history),
            favorite_genres: some(reading.genres),
        };
        Some(stored).filter(|s| *s != StoredReading::default())
    }
}

/// A field that does not decode reads as none, with a warning.
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let json = serde_json::Value::deserialize(deserializer)?;
    if serde_json::Value::is_null(&json) {
        return Ok(None);
    }
    Ok(serde_json::from_value(json)
        .inspect_err(|e| {
            tracing::warn!(error = %e, "a stored reading value does not decode; ignoring it");
        })
        .ok())
}

/// A value as read, with the version to name when writing it back;
/// `version` is `None` when the account has no row yet.
#[derive(Debug, Clone)]
pub struct Versioned<T> {
    pub value: Option<T>,
    pub version: Option<i64>,
}

/// Reads one of the account's values.
pub async fn read<T: DeserializeOwned>(
    db: &impl ConnectionTrait,
    user_id: i32,
    part: Part,
) -> Result<Versioned<T>, DbErr> {
    read_row(db, user_id, part, false).await
}

/// Reads one of the account's values inside a transaction, holding the
/// account's row until it ends (see the module's header).
pub async fn read_for_update<T: DeserializeOwned>(
    txn: &DatabaseTransaction,
    user_id: i32,
    part: Part,
) -> Result<Versioned<T>, DbErr> {
    read_row(txn, user_id, part, true).await
}

/// Reads one of the account's values, changes it with `change` and writes
/// it back (unless `change` fails or leaves it as it was), holding the
/// account's row all the while. Returns what `change` returned and the
/// value as it is now; `None` when the write found another version after
/// all (only without row locks), and nothing was written.
pub async fn change<V, T, F>(
    db: &DatabaseConnection,
    user_id: i32,
    part: Part,
    change: &mut F,
) -> Result<Option<(T, Option<V>)>, ApiError>
where
    V: PartialEq + Clone + Serialize + DeserializeOwned,
    F: FnMut(&mut Option<V>) -> Result<T, ApiError>,
{
    let txn = db.begin().await?;
    // A write first: on SQLite the transaction holds the write lock from here.
    ensure_row(&txn, user_id).await?;
    let read = read_for_update::<V>(&txn, user_id, part).await?;
    let mut value = read.value.clone();
    // A refused change drops the transaction, which rolls it back.
    let out = change(&mut value)?;
    if value != read.value
        && write(&txn, user_id, part, value.as_ref(), read.version)
            .await?
            .is_none()
    {
        txn.rollback().await?;
        return Ok(None);
    }
    txn.commit().await?;
    Ok(Some((out, value)))
}

async fn read_row<T: DeserializeOwned>(
    db: &impl ConnectionTrait,
    user_id: i32,
    part: Part,
    for_update: bool,
) -> Result<Versioned<T>, DbErr> {
    let mut query = user_state::Entity::find_by_id(user_id);
    if for_update {
        // `FOR UPDATE` on PostgreSQL; nothing on SQLite, whose transaction
        // already holds the write lock.
        query = query.lock_exclusive();
    }
    let Some(row) = query.one(db).await? else {
        return Ok(Versioned {
            value: None,
            version: None,
        });
    };
    let (texts, version) = part.stored(&row);
    let value = part.decode(user_id, &texts);
    Ok(Versioned {
        value,
        version: Some(version),
    })
}

/// Writes one of the account's values (`None` clears it; a value of several
/// columns is written whole, in one statement) if it is still at
/// `seen`, the version it was read at. Returns the new version, or `None`
/// when another session wrote it first and nothing was written.
pub async fn write<T: Serialize>(
    db: &impl ConnectionTrait,
    user_id: i32,
    part: Part,
    value: Option<&T>,
    seen: Option<i64>,
) -> Result<Option<i64>, DbErr> {
    let texts = part.encode(value)?;
    let (columns, version) = part.columns();
    let Some(seen) = seen else {
        // No row was there: create it, unless another session just did.
        let values: Vec<SimpleExpr> = std::iter::once(user_id.into())
            .chain(texts.into_iter().map(Into::into))
            .chain([1i64.into()])
            .collect();
        let insert = Query::insert()
            .into_table(user_state::Entity)
            .columns(
                std::iter::once(user_state::Column::UserId)
                    .chain(columns.iter().copied())
                    .chain([version]),
            )
            .values_panic(values)
            .on_conflict(
                OnConflict::column(user_state::Column::UserId)
                    .do_nothing()
                    .to_owned(),
            )
            .to_owned();
        let inserted = db.execute(&insert).await?.rows_affected() == 1;
        return Ok(inserted.then_some(1));
    };
    let mut update = Query::update();
    update.table(user_state::Entity);
    for (column, text) in columns.iter().zip(texts) {
        update.value(*column, text);
    }
    let update = update
        .value(version, Expr::col(version).add(1))
        .and_where(user_state::Column::UserId.eq(user_id))
        .and_where(version.eq(seen))
        .to_owned();
    let updated = db.execute(&update).await?.rows_affected() == 1;
    Ok(updated.then_some(seen + 1))
}

/// Makes sure the account has its row, so that a transaction's first
/// statement is a write (SQLite then takes its write lock at once). An
/// account erased since this request's sign-in check passed (forget-me on
/// another device) has no row to hang it on: its sessions ended with it,
/// and the answer is the 401 of a session ended from another one, not a
/// 500.
pub async fn ensure_row(db: &impl ConnectionTrait, user_id: i32) -> Result<(), ApiError> {
    let insert = Query::insert()
        .into_table(user_state::Entity)
        .columns([user_state::Column::UserId])
        .values_panic([user_id.into()])
        .on_conflict(
            OnConflict::column(user_state::Column::UserId)
                .do_nothing()
                .to_owned(),
        )
        .to_owned();
    match db.execute(&insert).await {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.sql_err(), Some(SqlErr::ForeignKeyConstraintViolation(_))) => {
            tracing::info!(user_id, "a change of an account erased meanwhile refused");
            Err(SessionEnded::Revoked.problem())
        }
        Err(e) => Err(e.into()),
    }
}

/// The account's cart, emptied inside an order's transaction if it is
/// still the version the order was made from. Returns whether it was.
pub async fn empty_cart_if_unchanged(
    db: &impl ConnectionTrait,
    user_id: i32,
    seen: i64,
) -> Result<bool, DbErr> {
    Ok(write::<Cart>(db, user_id, Part::Cart, None, Some(seen))
        .await?
        .is_some())
}

/// Gives the account `user_id` the anonymous orders among `ids`; orders
/// already owned by an account are left alone. Returns how many it got.
pub async fn claim_orders(
    db: &impl ConnectionTrait,
    user_id: i32,
    ids: &[i32],
) -> Result<u64, DbErr> {
    if ids.is_empty() {
        return Ok(0);
    }
    let claimed = order::Entity::update_many()
        .col_expr(order::Column::UserId, Expr::value(user_id))
        .filter(order::Column::Id.is_in(ids.to_vec()))
        .filter(order::Column::UserId.is_null())
        .exec(db)
        .await?;
    Ok(claimed.rows_affected)
}

#[cfg(test)]
mod tests {
    use domain::BookId;
    use domain::library::Genre;
    use domain::reading::ListEntry;
    use migration::{Migrator, MigratorTrait};
    use sea_orm::{Database, DatabaseConnection};
    use time::macros::datetime;

    use super::*;

    /// A fresh SQLite database file, migrated up, with one user (id 1).
    async fn migrated(name: &str) -> (DatabaseConnection, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("km-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db.sqlite");
        let _ = std::fs::remove_file(&file);
        let db = Database::connect(format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        Migrator::up(&db, None).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO users (username, display_name, password_hash, created_at) VALUES ('ada', 'Ada', 'x', '2026-11-26T00:00:00Z')",
        )
        .await
        .unwrap();
        (db, dir)
    }

    /// How many migrations `Migrator::down` takes back to undo `name` and
    /// every later one.
    fn steps_back_through(name: &str) -> u32 {
        let migrations = Migrator::migrations();
        let at = migrations
            .iter()
            .position(|m| m.name() == name)
            .unwrap_or_else(|| panic!("{name} is registered"));
        u32::try_from(migrations.len() - at).unwrap()
    }

    fn a_reading() -> StoredReading {
        StoredReading {
            reading_list: Some(ReadingList {
                entries: vec![ListEntry {
                    book_id: BookId::parse(3).unwrap(),
                    added_at: datetime!(2026-11-27 10:00 UTC),
                }],
            }),
            reading_progress: None,
            reading_history: None,
            favorite_genres: Some(FavoriteGenres(vec![Genre::Mystery, Genre::Poetry])),
        }
    }

    #[tokio::test]
    async fn the_account_reading_migration_goes_down_and_up_again_on_sqlite() {
        let (db, dir) = migrated("account-reading").await;
        write(&db, 1, Part::Cart, Some(&Cart::new()), None)
            .await
            .unwrap();
        write(&db, 1, Part::Reading, Some(&a_reading()), Some(0))
            .await
            .unwrap();

        Migrator::down(
            &db,
            Some(steps_back_through("m20261127_000011_account_reading")),
        )
        .await
        .unwrap();

        for column in [
            "reading_list",
            "reading_progress",
            "reading_history",
            "favorite_genres",
            "reading_version",
        ] {
            assert!(
                db.execute_unprepared(&format!("SELECT {column} FROM user_state"))
                    .await
                    .is_err(),
                "{column} is gone"
            );
        }
        db.execute_unprepared("SELECT cart, cart_version FROM user_state")
            .await
            .expect("the rest of the row stays");

        Migrator::up(&db, None).await.unwrap();

        let empty = read::<StoredReading>(&db, 1, Part::Reading).await.unwrap();
        assert_eq!((empty.value, empty.version), (None, Some(0)));
        assert_eq!(
            write(&db, 1, Part::Reading, Some(&a_reading()), Some(0))
                .await
                .unwrap(),
            Some(1)
        );
        assert_eq!(
            write(&db, 1, Part::Reading, Some(&a_reading()), Some(0))
                .await
                .unwrap(),
            None,
            "stale"
        );
        let back = read::<StoredReading>(&db, 1, Part::Reading).await.unwrap();
        assert_eq!((back.value, back.version), (Some(a_reading()), Some(1)));
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_reading_is_written_as_four_columns_under_one_version() {
        let (db, dir) = migrated("account-reading-columns").await;
        write(&db, 1, Part::Reading, Some(&a_reading()), None)
            .await
            .unwrap();

        let row = user_state::Entity::find_by_id(1)
            .one(&db)
            .await
            .unwrap()
            .unwrap();
        let list: serde_json::Value =
            serde_json::from_str(row.reading_list.as_deref().unwrap()).unwrap();
        assert_eq!(
            list,
            serde_json::json!({"entries": [{"book_id": 3, "added_at": "2026-11-27T10:00:00Z"}]})
        );
        assert_eq!(row.reading_progress, None, "empty is null");
        assert_eq!(row.reading_history, None);
        assert_eq!(
            row.favorite_genres.as_deref(),
            Some(r#"["mystery","poetry"]"#)
        );
        assert_eq!(row.reading_version, 1);
        assert_eq!((row.cart, row.cart_version), (None, 0), "the cart is apart");

        // Clearing writes all four in the one statement.
        assert_eq!(
            write::<StoredReading>(&db, 1, Part::Reading, None, Some(1))
                .await
                .unwrap(),
            Some(2)
        );
        let cleared = read::<StoredReading>(&db, 1, Part::Reading).await.unwrap();
        assert_eq!((cleared.value, cleared.version), (None, Some(2)));
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_reading_column_that_no_longer_decodes_reads_as_empty_and_the_others_stay() {
        let (db, dir) = migrated("account-reading-decode").await;
        write(&db, 1, Part::Reading, Some(&a_reading()), None)
            .await
            .unwrap();
        db.execute_unprepared(
            r#"UPDATE user_state SET favorite_genres = '["cookery"]', reading_history = 'not json'"#,
        )
        .await
        .unwrap();

        let read = read::<StoredReading>(&db, 1, Part::Reading).await.unwrap();

        let expected = StoredReading {
            favorite_genres: None,
            ..a_reading()
        };
        assert_eq!((read.value, read.version), (Some(expected), Some(1)));
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn the_account_state_migration_goes_down_and_up_again_on_sqlite() {
        let dir = std::env::temp_dir().join(format!("km-account-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db.sqlite");
        let _ = std::fs::remove_file(&file);
        let db = Database::connect(format!("sqlite://{}?mode=rwc", file.display()))
            .await
            .unwrap();
        Migrator::up(&db, None).await.unwrap();
        Migrator::down(
            &db,
            Some(steps_back_through("m20261126_000009_account_state")),
        )
        .await
        .unwrap();
        Migrator::up(&db, None).await.unwrap();

        // The table is back and takes a versioned write.
        db.execute_unprepared(
            "INSERT INTO users (username, display_name, password_hash, created_at) VALUES ('ada', 'Ada', 'x', '2026-11-26T00:00:00Z')",
        )
        .await
        .unwrap();
        let cart = Cart::new();
        assert_eq!(
            write(&db, 1, Part::Cart, Some(&cart), None).await.unwrap(),
            Some(1)
        );
        assert_eq!(
            write(&db, 1, Part::Cart, Some(&cart), None).await.unwrap(),
            None,
            "the row exists"
        );
        assert_eq!(
            write(&db, 1, Part::Cart, Some(&cart), Some(1))
                .await
                .unwrap(),
            Some(2)
        );
        assert_eq!(
            write(&db, 1, Part::Cart, Some(&cart), Some(1))
                .await
                .unwrap(),
            None,
            "stale"
        );
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
