//! One conformance suite for every session store: create, load, save,
//! delete, expiry and id collision. Memory, the database store (SQLite) and
//! the file store always run; the database store on PostgreSQL and the
//! Redis store run when the suite runs against the services. The checks
//! that every store passes also run on a Redis Cluster and behind Sentinel
//! (`redis_cluster.rs`), through [`conformance_on_redis`], both as
//! tower-sessions-redis-store runs them (outside a change's turn) and as
//! the service's own scripts do (within one).

use std::collections::HashMap;
use std::time::Duration;

use api::Clock;
use api::session::AnyStore;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

use crate::helpers::{Backend, TempDir, TestDatabase, backends, services};

/// What a store keeps its sessions in, removed when dropped.
struct Storage {
    database: TestDatabase,
    files: TempDir,
}

async fn store(backend: Backend) -> (AnyStore, Storage) {
    store_with(backend, &Clock::system(), services().map(|s| s.redis)).await
}

async fn store_with_clock(backend: Backend, clock: &Clock) -> (AnyStore, Storage) {
    store_with(backend, clock, services().map(|s| s.redis)).await
}

/// A store on `backend` as the service builds it, with its Redis at
/// `redis_url`.
async fn store_with(
    backend: Backend,
    clock: &Clock,
    redis_url: Option<String>,
) -> (AnyStore, Storage) {
    let database = TestDatabase::create().await;
    let files = TempDir::new("sessions");
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert("DATABASE_URL".into(), database.url.clone());
    vars.insert(
        "SESSION_FILE_PATH".into(),
        files.path().display().to_string(),
    );
    vars.insert("SECRET_KEY".into(), crate::helpers::SECRET_KEY.into());
    vars.insert("SESSION_BACKEND".into(), backend.env_name().into());
    if let Some(url) = redis_url {
        vars.insert("REDIS_URL".into(), url);
    }
    let config = api::Config::from_vars(vars).unwrap();
    let db = api::db::connect(&config).await.unwrap();
    api::db::migrate(&db).await.unwrap();
    let store = api::startup::session_store(&config, &db, clock)
        .await
        .unwrap();
    let storage = Storage { database, files };
    (store, storage)
}

/// Runs the checks every store passes on a Redis store at `url` (one
/// server, a cluster or Sentinel), built as the service builds it.
pub async fn conformance_on_redis(url: &str) {
    let (store, _storage) =
        store_with(Backend::Redis, &Clock::system(), Some(url.to_owned())).await;
    creates_loads_saves_and_deletes(&store, url).await;
    draws_a_new_id_for_a_taken_one(&store, url).await;
    expires_records_itself(&store, url).await;
    passes_the_checks_within_a_turn(&store, url).await;
}

#[tokio::test]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn the_redis_store_passes_the_checks_within_a_change_of_the_session_too() {
    let (store, _storage) = store(Backend::Redis).await;
    passes_the_checks_within_a_turn(&store, "Redis").await;
}

/// The checks of a session's record made within a change of that session
/// (its turn, Redis locks), where the service's store runs its own scripts
/// instead of tower-sessions-redis-store's commands: the read that takes
/// the lock, the saves, put and delete that check it, a new id drawn for a
/// taken one and written after a check of the lock; and the lock is gone
/// once the change ends.
async fn passes_the_checks_within_a_turn(store: &AnyStore, label: &str) {
    use api::session::keys::SessionCookieKeys;
    use api::session::lock::{SessionLocks, serialize_session_writes, shared_key};
    use axum::response::IntoResponse;
    use fred::prelude::KeysInterface;

    let AnyStore::Redis(_, pool) = store else {
        panic!("{label}: a Redis store");
    };
    let config = api::Config::from_vars(HashMap::from([(
        "SECRET_KEY".to_owned(),
        crate::helpers::SECRET_KEY.to_owned(),
    )]))
    .unwrap();
    let keys = SessionCookieKeys::new(&config);
    let locks = SessionLocks::with_redis(
        keys.clone(),
        Duration::from_secs(5),
        pool.clone(),
        api::session::lock::SHARED_LOCK_TTL,
    );
    let id = Id::default();
    let change = axum::extract::Request::builder()
        .method("POST")
        .uri("/")
        .header(
            "cookie",
            format!("{}={}", crate::helpers::COOKIE, keys.sign(id)),
        )
        .body(axum::body::Body::empty())
        .unwrap();
    let key = shared_key(&id.to_string());
    let res = serialize_session_writes(&locks, change, |_| async {
        assert!(store.load(&id).await.unwrap().is_none(), "{label}");
        let held: i64 = pool.exists(key.as_str()).await.unwrap();
        assert_eq!(held, 1, "{label}: the read took the lock");

        let mut r = record(&[("who", serde_json::json!("first"))], HOUR);
        r.id = id;
        store.create(&mut r).await.unwrap();
        assert_eq!(r.id, id, "{label}: a free id is kept");
        assert_eq!(store.load(&id).await.unwrap().unwrap().data, r.data);
        r.data.insert("visits".into(), serde_json::json!(3));
        store.save(&r).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap().data, r.data);
        r.data.insert("visits".into(), serde_json::json!(4));
        store.put(&r).await.unwrap();
        assert_eq!(store.load(&id).await.unwrap().unwrap().data, r.data);

        // Another record under the session's id: a new id is drawn, its
        // record in another hash slot than the lock.
        let mut second = record(&[("who", serde_json::json!("second"))], HOUR);
        second.id = id;
        store.create(&mut second).await.unwrap();
        assert_ne!(second.id, id, "{label}: the colliding id was kept");
        assert_eq!(
            store.load(&second.id).await.unwrap().unwrap().data["who"],
            "second"
        );
        assert_eq!(store.load(&id).await.unwrap().unwrap().data["who"], "first");

        store.delete(&id).await.unwrap();
        assert!(store.load(&id).await.unwrap().is_none(), "{label}");
        store.delete(&id).await.unwrap();
        "checked".into_response()
    })
    .await;
    assert_eq!(res.status(), 200, "{label}");
    let held: i64 = pool.exists(key.as_str()).await.unwrap();
    assert_eq!(held, 0, "{label}: the lock is released with the change");
}

fn record(data: &[(&str, serde_json::Value)], lives: Duration) -> Record {
    Record {
        id: Id::default(),
        data: data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        expiry_date: OffsetDateTime::now_utc() + lives,
    }
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn every_store_creates_loads_saves_and_deletes() {
    for backend in backends() {
        let (store, _db) = store(backend).await;
        creates_loads_saves_and_deletes(&store, &format!("{backend:?}")).await;
    }
}

/// A record created loads as it was; saved, it loads changed; deleted
/// (twice), it loads as nothing, as does an id never stored.
async fn creates_loads_saves_and_deletes(store: &AnyStore, label: &str) {
    let mut r = record(
        &[(
            "cart",
            serde_json::json!({"lines": [{"product_id": 1, "quantity": 2}]}),
        )],
        HOUR,
    );
    store.create(&mut r).await.unwrap();

    let loaded = store
        .load(&r.id)
        .await
        .unwrap()
        .expect("created record loads");
    assert_eq!(loaded.data, r.data, "{label}");
    assert_eq!(
        loaded.expiry_date.unix_timestamp(),
        r.expiry_date.unix_timestamp(),
        "{label}"
    );

    r.data.insert("visits".into(), serde_json::json!(3));
    store.save(&r).await.unwrap();
    assert_eq!(
        store.load(&r.id).await.unwrap().unwrap().data,
        r.data,
        "{label}"
    );

    store.delete(&r.id).await.unwrap();
    assert!(store.load(&r.id).await.unwrap().is_none(), "{label}");
    // Deleting again is fine.
    store.delete(&r.id).await.unwrap();

    assert!(
        store.load(&Id::default()).await.unwrap().is_none(),
        "{label}: unknown id"
    );
}

#[tokio::test]
async fn an_expired_record_is_not_loaded_by_the_memory_and_redis_stores() {
    // These stores read the time themselves (tower-sessions' memory store;
    // Redis expires the key), so the test waits for it. The database and
    // file stores take a clock: see the next tests.
    for backend in backends() {
        if matches!(backend, Backend::Database | Backend::File) {
            continue;
        }
        let (store, _db) = store(backend).await;
        expires_records_itself(&store, &format!("{backend:?}")).await;
    }
}

/// For a store that judges expiry by the real time: a record past its
/// expiry loads as nothing, a live one still loads, also after the
/// clean-up. Takes two seconds.
async fn expires_records_itself(store: &AnyStore, label: &str) {
    let mut short = record(&[("k", serde_json::json!(1))], Duration::from_secs(1));
    let mut long = record(&[("k", serde_json::json!(2))], HOUR);
    store.create(&mut short).await.unwrap();
    store.create(&mut long).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert!(store.load(&short.id).await.unwrap().is_none(), "{label}");
    assert!(store.load(&long.id).await.unwrap().is_some(), "{label}");

    store.delete_expired().await.unwrap();
    assert!(
        store.load(&long.id).await.unwrap().is_some(),
        "{label}: clean-up kept the live one"
    );
}

#[tokio::test]
async fn the_database_store_neither_loads_nor_keeps_an_expired_record() {
    // The store judges expiry by the service's clock.
    let clock = Clock::manual(OffsetDateTime::now_utc());
    let (store, _db) = store_with_clock(Backend::Database, &clock).await;

    let mut short = record(&[("k", serde_json::json!(1))], Duration::from_secs(60));
    let mut long = record(&[("k", serde_json::json!(2))], 3 * HOUR);
    store.create(&mut short).await.unwrap();
    store.create(&mut long).await.unwrap();
    assert!(store.load(&short.id).await.unwrap().is_some());

    clock.advance(time::Duration::hours(1));
    assert!(store.load(&short.id).await.unwrap().is_none(), "expired");
    assert!(store.load(&long.id).await.unwrap().is_some());

    store.delete_expired().await.unwrap();
    // Back to the real time: the expired record is gone, not merely hidden.
    clock.advance(time::Duration::hours(-2));
    assert!(store.load(&short.id).await.unwrap().is_none(), "deleted");
    assert!(
        store.load(&long.id).await.unwrap().is_some(),
        "clean-up kept the live one"
    );
}

#[tokio::test]
async fn the_database_stores_clean_up_removes_session_locks_left_to_expire_and_keeps_held_ones() {
    use sea_orm::{ConnectionTrait, Statement};

    let (store, storage) = store(Backend::Database).await;
    let db = sea_orm::Database::connect(&storage.database.url)
        .await
        .unwrap();
    let now_ms = OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let backend = db.get_database_backend();
    // One left by a holder that stopped (a crashed instance), one held.
    for (key, expires_at) in [("left", now_ms - 1_000), ("held", now_ms + 60_000)] {
        db.execute_raw(Statement::from_string(
            backend,
            format!(
                "INSERT INTO session_locks (lock_key, token, expires_at) VALUES ('{key}', 't', {expires_at})"
            ),
        ))
        .await
        .unwrap();
    }

    store.delete_expired().await.unwrap();

    let left: Vec<String> = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT lock_key FROM session_locks ORDER BY lock_key",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get("", "lock_key").unwrap())
        .collect();
    assert_eq!(left, ["held"]);
}

/// The names in a directory, sorted.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_file_store_neither_loads_nor_keeps_an_expired_file() {
    // The store judges expiry by the service's clock.
    let clock = Clock::manual(OffsetDateTime::now_utc());
    let (store, storage) = store_with_clock(Backend::File, &clock).await;
    let dir = storage.files.path();

    let mut short = record(&[("k", serde_json::json!(1))], Duration::from_secs(60));
    let mut long = record(&[("k", serde_json::json!(2))], 3 * HOUR);
    store.create(&mut short).await.unwrap();
    store.create(&mut long).await.unwrap();
    assert!(store.load(&short.id).await.unwrap().is_some());
    assert_eq!(names_in(dir).len(), 2);

    clock.advance(time::Duration::hours(1));
    assert!(store.load(&short.id).await.unwrap().is_none(), "expired");
    assert!(store.load(&long.id).await.unwrap().is_some());
    assert_eq!(names_in(dir).len(), 2, "loading wrote nothing");

    store.delete_expired().await.unwrap();
    assert_eq!(
        names_in(dir),
        vec![api::session::file_store::file_name(&long.id)],
        "the expired file is removed, the live one kept"
    );
    // Back to the real time: the expired record is gone, not merely hidden.
    clock.advance(time::Duration::hours(-2));
    assert!(store.load(&short.id).await.unwrap().is_none(), "deleted");
    assert!(store.load(&long.id).await.unwrap().is_some());
}

#[tokio::test]
async fn the_file_store_names_a_sessions_file_by_a_hash_of_its_id_never_by_the_id() {
    let (store, storage) = store(Backend::File).await;
    let dir = storage.files.path();
    let mut r = record(&[("cart", serde_json::json!({"lines": []}))], HOUR);
    store.create(&mut r).await.unwrap();
    r.data.insert("visits".into(), serde_json::json!(1));
    store.save(&r).await.unwrap();

    let names = names_in(dir);
    assert_eq!(names.len(), 1, "one file, no temporary left: {names:?}");
    let id = r.id.to_string();
    let name = &names[0];
    assert!(!name.contains(&id), "{name} holds the id {id}");
    let hash = name.strip_suffix(".session").expect("a .session file");
    assert_eq!(
        hash,
        api::session::lock::lock_name(&id),
        "SHA-256 of the id"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join(name)), 0o600, "the file is this user's only");
    }

    store.delete(&r.id).await.unwrap();
    assert!(names_in(dir).is_empty(), "delete removes the file");
}

#[tokio::test]
async fn creating_with_a_taken_id_draws_a_new_one_and_keeps_both() {
    for backend in backends() {
        let (store, _db) = store(backend).await;
        draws_a_new_id_for_a_taken_one(&store, &format!("{backend:?}")).await;
    }
}

/// Creating a record under an id already stored draws another id, and
/// both records are kept.
async fn draws_a_new_id_for_a_taken_one(store: &AnyStore, label: &str) {
    let mut first = record(&[("who", serde_json::json!("first"))], HOUR);
    store.create(&mut first).await.unwrap();

    let mut second = record(&[("who", serde_json::json!("second"))], HOUR);
    second.id = first.id;
    store.create(&mut second).await.unwrap();

    assert_ne!(second.id, first.id, "{label}: the colliding id was kept");
    assert_eq!(
        store.load(&first.id).await.unwrap().unwrap().data["who"],
        "first",
        "{label}"
    );
    assert_eq!(
        store.load(&second.id).await.unwrap().unwrap().data["who"],
        "second",
        "{label}"
    );
}

#[tokio::test]
async fn session_ids_are_distinct_128_bit_values() {
    let ids: std::collections::HashSet<String> =
        (0..10_000).map(|_| Id::default().to_string()).collect();
    assert_eq!(ids.len(), 10_000);
    // 16 bytes, base64 without padding.
    assert!(ids.iter().all(|id| id.len() == 22));
}
