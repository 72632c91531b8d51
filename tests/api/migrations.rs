//! Migrations when several instances start at once on one PostgreSQL
//! database: they take turns under an advisory lock, so the schema and the
//! demo data are made once and every instance starts.

use std::time::{Duration, Instant};

use api::Application;
use migration::MigratorTrait;
use sea_orm::{
    ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait,
};

use crate::helpers::{Backend, TestDatabase, config, services};

/// The number in column `n` of the one row `query` answers.
async fn number(db: &DatabaseConnection, query: &str, values: Vec<sea_orm::Value>) -> i64 {
    db.query_one_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        query,
        values,
    ))
    .await
    .expect("query")
    .expect("a row")
    .try_get::<i64>("", "n")
    .expect("a number")
}

/// Asserts that every migration ran once and the demo menu is there once.
async fn assert_migrated_once(db: &DatabaseConnection) {
    let migrations = migration::Migrator::migrations().len() as i64;
    assert_eq!(
        number(db, "SELECT COUNT(*) AS n FROM seaql_migrations", vec![]).await,
        migrations,
        "one record per migration"
    );
    assert_eq!(
        number(
            db,
            "SELECT COUNT(DISTINCT version) AS n FROM seaql_migrations",
            vec![]
        )
        .await,
        migrations,
        "every migration recorded"
    );
    assert_eq!(
        number(db, "SELECT COUNT(*) AS n FROM products", vec![]).await,
        20,
        "the demo menu's 20 dishes, once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn four_instances_starting_at_once_on_a_new_database_all_start_and_migrate_it_once() {
    assert!(
        services().is_some(),
        "set TEST_DATABASE_URL and TEST_REDIS_URL"
    );
    let database = TestDatabase::create().await;

    let starts = (0..4).map(|_| {
        let config = config(Backend::Memory, &database.url);
        tokio::spawn(async move { Application::build(config).await })
    });
    let results = futures_util::future::join_all(starts).await;

    let mut instances = Vec::new();
    for result in results {
        match result.expect("the start does not panic") {
            Ok(instance) => instances.push(instance),
            Err(e) => panic!("an instance failed to start: {e:#}"),
        }
    }
    let db = Database::connect(&database.url).await.unwrap();
    assert_migrated_once(&db).await;
    drop(instances);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn an_instance_waits_to_migrate_while_another_holds_the_migration_lock() {
    assert!(
        services().is_some(),
        "set TEST_DATABASE_URL and TEST_REDIS_URL"
    );
    let database = TestDatabase::create().await;
    let key = api::db::migration_lock_key();
    // The lock is held by a transaction of the test's own, as another
    // instance's migrations would hold it.
    let holder = Database::connect(&database.url).await.unwrap();
    let held = holder.begin().await.unwrap();
    held.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [key.into()],
    ))
    .await
    .unwrap();

    let config = config(Backend::Memory, &database.url);
    let starting = tokio::spawn(async move { Application::build(config).await });

    // The starting instance asks for the same lock and waits: PostgreSQL
    // shows its request, not granted.
    let observer = Database::connect(&database.url).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let waiting = number(
            &observer,
            "SELECT COUNT(*) AS n FROM pg_locks \
             WHERE locktype = 'advisory' AND NOT granted \
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
             AND ((classid::bigint << 32) | objid::bigint) = $1",
            vec![key.into()],
        )
        .await;
        if waiting == 1 {
            break;
        }
        assert!(
            !starting.is_finished(),
            "the instance did not wait for the migration lock"
        );
        assert!(
            Instant::now() < deadline,
            "the instance never asked for the migration lock"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!starting.is_finished(), "it waits while the lock is held");
    assert_eq!(
        number(
            &observer,
            "SELECT COUNT(*) AS n FROM pg_tables WHERE tablename = 'seaql_migrations'",
            vec![]
        )
        .await,
        0,
        "nothing is migrated while it waits"
    );

    held.commit().await.unwrap();
    let instance = tokio::time::timeout(Duration::from_secs(30), starting)
        .await
        .expect("it starts once the lock is released")
        .expect("the start does not panic")
        .expect("the instance starts");
    assert_migrated_once(&observer).await;
    drop(instance);
}
