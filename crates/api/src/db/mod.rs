//! Database access: the connection, the entities and the catalog cache.

pub mod account_state;
pub mod catalog;
pub mod catalog_sync;
pub mod entities;
pub mod library;
pub mod orders;
pub mod privacy;
pub mod users;

use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, RuntimeErr, Statement, TransactionTrait,
};
use sha2::{Digest, Sha256};

use crate::config::Config;

/// How long a request waits for the database, at most: for a connection
/// from the pool (opening one included) and for each bounded operation
/// ([`within`]). A healthy database hands out a connection, or opens one
/// (TCP, TLS, authentication), in milliseconds, and a request's queries take
/// as long; one that is down, refuses connections, or sits behind a network
/// that stopped answering fails the request after this, with a 503 and
/// `Retry-After`, instead of leaving it to its own timeout (a 408).
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database timeout is never shorter: PostgreSQL starts a process for
/// each new connection, which on a loaded host takes up to a few hundred
/// milliseconds, and a healthy database must not be taken for a dead one.
const MIN_DATABASE_TIMEOUT: Duration = Duration::from_secs(1);

/// The database timeout within a request that times out after
/// `request_timeout`: a quarter of it, so that a request can wait on the
/// database and still answer in time (checkout waits on it twice: to write
/// the order, then for the commit's answer; see `routes::orders`), but from
/// one to two seconds. Below four seconds of request timeout, the request's
/// own 408 may come first (checkout then answers just before it).
pub fn database_timeout(request_timeout: Duration) -> Duration {
    (request_timeout / 4).clamp(MIN_DATABASE_TIMEOUT, DATABASE_TIMEOUT)
}

/// Runs a database operation for at most `limit`. sqlx bounds waiting for a
/// connection, but nothing bounds waiting for a query's answer: on a network
/// that stopped answering mid-query it waits for ever. Past the limit the
/// operation is dropped (a transaction dropped unfinished is rolled back)
/// and fails as a connection error, which a request answers with a 503.
/// Never put a commit under it: a `COMMIT` already sent may take effect
/// whatever the caller does.
pub async fn within<T>(
    limit: Duration,
    operation: impl Future<Output = Result<T, DbErr>>,
) -> Result<T, DbErr> {
    tokio::time::timeout(limit, operation)
        .await
        .unwrap_or_else(|_| {
            Err(DbErr::Conn(RuntimeErr::Internal(format!(
                "the database did not answer within {limit:?}"
            ))))
        })
}

/// Whether `e` says the database could not be reached or stopped answering
/// (as opposed to refusing a statement): worth a retry, so a 503. Besides
/// the pool's own errors, a query can fail this way when its connection
/// breaks under it (an I/O error: reset, end of stream), or when the server
/// ends it (SQLSTATE class 08, connection exception; 57P01 to 57P03, an
/// administrator's or a crash's shutdown, or a server still starting).
pub fn is_unreachable(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed => {
                    true
                }
                Error::Database(db) => db.code().is_some_and(|c| {
                    c.starts_with("08") || matches!(&*c, "57P01" | "57P02" | "57P03")
                }),
                _ => false,
            }
        }
        _ => false,
    }
}

/// Connects to the configured database; for the embedded SQLite default,
/// creates its folder first and turns on write-ahead logging so readers and
/// the session writer do not block each other. Waiting for a connection
/// (and opening one) is bounded by [`database_timeout`].
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let sqlite_dir = sqlite_path(&config.database_url)
        .and_then(|p| p.parent().map(ToOwned::to_owned))
        .filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = sqlite_dir {
        std::fs::create_dir_all(&dir).map_err(|e| {
            anyhow::anyhow!("cannot create the database folder {}: {e}", dir.display())
        })?;
    }
    let mut options = ConnectOptions::new(config.database_url.as_str());
    options
        .max_connections(config.database_max_connections)
        .min_connections(1)
        .acquire_timeout(database_timeout(config.request_timeout))
        .sqlx_logging(false);
    let db = Database::connect(options)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    if config.is_sqlite() {
        db.execute_unprepared("PRAGMA journal_mode=WAL;").await?;
    }
    Ok(db)
}

/// What the advisory lock migrations take on PostgreSQL is called; its key
/// is derived from this name ([`migration_lock_key`]).
pub const MIGRATION_LOCK_NAME: &str = "kitchen-memory:migrations";

/// The key of the PostgreSQL advisory lock migrations run under: the first
/// eight bytes of the SHA-256 of [`MIGRATION_LOCK_NAME`], so every instance
/// of every release takes the same lock.
pub fn migration_lock_key() -> i64 {
    let digest = Sha256::digest(MIGRATION_LOCK_NAME.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(first)
}

/// Runs every migration that has not run yet, all in one transaction.
///
/// Several instances may start at once. On PostgreSQL the transaction first
/// takes an advisory lock, so they migrate one after the other: the first
/// applies what is pending, the others wait for it and then find nothing
/// left to do (without the lock they would run the same `CREATE TABLE`s and
/// fail on each other's rows). The lock belongs to the transaction
/// (`pg_advisory_xact_lock`): it is held on the one pooled connection the
/// transaction owns for the whole run, and ends with the commit or rollback,
/// also when the process dies half-way. The migrator runs on that same
/// transaction, each migration in a savepoint of it. SQLite takes no lock (one
/// file, one process) but runs the same way: all or nothing.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    let failed = |e: sea_orm::DbErr| anyhow::anyhow!("migrations failed: {e}");
    let txn = db.begin().await.map_err(failed)?;
    if txn.get_database_backend() == DbBackend::Postgres {
        lock_migrations(&txn).await.map_err(failed)?;
    }
    Migrator::up(&txn, None).await.map_err(failed)?;
    txn.commit().await.map_err(failed)
}

/// Takes the migration lock for the rest of `txn`, waiting as long as
/// another instance holds it (it says so first, for whoever reads the log
/// of an instance that seems slow to start).
async fn lock_migrations(txn: &DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
    let key = migration_lock_key();
    let taken = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS taken",
            [key.into()],
        ))
        .await?
        .map(|row| row.try_get::<bool>("", "taken"))
        .transpose()?
        .unwrap_or(false);
    if !taken {
        tracing::info!("another instance is migrating the database; waiting for it to finish");
        txn.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock($1)",
            [key.into()],
        ))
        .await?;
    }
    Ok(())
}

fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_timeout_is_a_quarter_of_the_request_timeout_from_one_to_two_seconds() {
        let at = |ms| database_timeout(Duration::from_millis(ms));
        assert_eq!(at(10_000), Duration::from_secs(2));
        assert_eq!(at(6_000), Duration::from_millis(1_500));
        assert_eq!(at(300), Duration::from_secs(1));
    }

    #[test]
    fn the_migration_lock_key_is_derived_from_its_name_and_never_changes() {
        // Instances of different releases must take the same lock: a change
        // here would let an old and a new instance migrate at once. The first
        // eight bytes of `printf kitchen-memory:migrations | sha256sum`.
        assert_eq!(migration_lock_key(), 0x7a50_c2d7_f066_baf6);
    }
}
