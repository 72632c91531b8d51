use std::time::Duration;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, app, backends, services, session_cookie, session_id, set_cookie_for, set_cookies,
    spawn_app,
};

async fn session_rows(app: &crate::helpers::TestApp) -> Vec<(String, i64)> {
    let backend = app.db.get_database_backend();
    app.db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT id, expires_at FROM sessions ORDER BY id",
        ))
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            (
                row.try_get::<String>("", "id").unwrap(),
                row.try_get::<i64>("", "expires_at").unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn the_cart_survives_a_restart_of_the_service() {
    let mut stores = vec![Backend::Database];
    if services().is_some() {
        stores.push(Backend::Redis);
    }
    for backend in stores {
        let mut app = app().backend(backend).spawn().await;
        app.add(3, 2).await;
        app.set(9, 1).await;
        let before = app.cart().await;

        app.restart().await;

        assert_eq!(app.cart().await, before, "{backend:?}");
        assert_eq!(
            app.add(3, 1).await.status(),
            200,
            "{backend:?}: the line is still there"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_visitors_carts_never_mix() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let alice = app.another_visitor();
        let bob = app.another_visitor();
        let add = |client: &reqwest::Client, id: i64| {
            client
                .post(app.url("/api/v1/cart/items"))
                .json(&json!({"product_id": id, "quantity": 1}))
                .send()
        };
        // Interleaved, concurrent writes from two visitors.
        for round in 0..5 {
            let (a, b) = tokio::join!(add(&alice, 1 + round), add(&bob, 10 + round));
            assert!(a.unwrap().status().is_success());
            assert!(b.unwrap().status().is_success());
        }
        let cart = |client: reqwest::Client| {
            let url = app.url("/api/v1/cart");
            async move {
                client
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json::<Value>()
                    .await
                    .unwrap()
            }
        };
        let ids = |cart: &Value| -> Vec<i64> {
            cart["lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["product_id"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(ids(&cart(alice).await), [1, 2, 3, 4, 5], "{backend:?}");
        assert_eq!(ids(&cart(bob).await), [10, 11, 12, 13, 14], "{backend:?}");
    }
}

#[tokio::test]
async fn the_session_cookie_has_deliberate_attributes() {
    let app = spawn_app().await;
    let res = app.add(1, 1).await;
    let cookie = set_cookie_for(res.headers(), "km_session").unwrap();
    let attrs = cookie::Cookie::parse(cookie.as_str()).unwrap();
    assert_eq!(attrs.http_only(), Some(true), "{cookie}");
    assert_eq!(attrs.same_site(), Some(cookie::SameSite::Lax), "{cookie}");
    assert_eq!(attrs.path(), Some("/"), "{cookie}");
    assert_eq!(
        attrs.max_age(),
        Some(cookie::time::Duration::weeks(2)),
        "two weeks: {cookie}"
    );
    assert_ne!(
        attrs.secure(),
        Some(true),
        "not Secure outside production: {cookie}"
    );

    let value = session_cookie(res.headers()).unwrap();
    // A signature (base64 of 32 bytes) and a 128-bit id (22 base64 characters).
    assert_eq!(value.len(), 44 + 22, "{value}");
}

#[tokio::test]
async fn cookie_settings_follow_the_configuration() {
    let app = app()
        .var("SESSION_COOKIE_NAME", "kitchen")
        .var("SESSION_COOKIE_SECURE", "true")
        .var("SESSION_COOKIE_SAMESITE", "strict")
        .var("SESSION_COOKIE_AGE", "3600")
        .var("SESSION_COOKIE_DOMAIN", "127.0.0.1")
        .spawn()
        .await;
    let res = app.add(1, 1).await;
    let cookie = set_cookies(res.headers()).into_iter().next().unwrap();
    let attrs = cookie::Cookie::parse(cookie.as_str()).unwrap();
    assert_eq!(attrs.name(), "kitchen", "{cookie}");
    assert_eq!(attrs.secure(), Some(true), "{cookie}");
    assert_eq!(
        attrs.same_site(),
        Some(cookie::SameSite::Strict),
        "{cookie}"
    );
    assert_eq!(
        attrs.max_age(),
        Some(cookie::time::Duration::seconds(3600)),
        "{cookie}"
    );
    assert_eq!(attrs.domain(), Some("127.0.0.1"), "{cookie}");
    assert_eq!(attrs.http_only(), Some(true), "{cookie}");

    let browser_session = crate::helpers::app()
        .var("SESSION_EXPIRE_AT_BROWSER_CLOSE", "true")
        .spawn()
        .await;
    let res = browser_session.add(1, 1).await;
    let cookie = set_cookies(res.headers()).into_iter().next().unwrap();
    let attrs = cookie::Cookie::parse(cookie.as_str()).unwrap();
    assert_eq!(attrs.max_age(), None, "{cookie}");
    assert_eq!(attrs.expires(), None, "{cookie}");
}

#[tokio::test]
async fn a_session_is_stored_only_when_something_is_put_in_it_and_reads_never_write() {
    let app = app().backend(Backend::Database).spawn().await;

    // Reads by a new visitor store nothing.
    app.get("/api/v1/cart").await;
    app.get("/api/v1/products").await;
    assert!(session_rows(&app).await.is_empty());

    // A write stores one record.
    app.add(1, 1).await;
    let rows = session_rows(&app).await;
    assert_eq!(rows.len(), 1);

    // Later reads write nothing (so the expiry cannot move) and set no cookie.
    app.count_session_writes().await;
    let res = app.get("/api/v1/cart").await;
    assert!(set_cookies(res.headers()).is_empty(), "a read set a cookie");
    assert_eq!(app.session_writes().await, 0);
    assert_eq!(session_rows(&app).await, rows);

    // A write moves the expiry forward (sessions expire two weeks after the
    // last change): from a minute earlier back to two weeks from now.
    app.sql("UPDATE sessions SET expires_at = expires_at - 60")
        .await;
    let before = app.session_writes().await;
    app.add(1, 1).await;
    assert_eq!(app.session_writes().await, before + 1);
    let after = session_rows(&app).await;
    assert_eq!(after[0].0, rows[0].0);
    assert!(after[0].1 >= rows[0].1, "{after:?} {rows:?}");
}

#[tokio::test]
async fn an_expired_session_is_not_loaded_and_is_cleaned_up() {
    let app = app()
        .backend(Backend::Database)
        .var("SESSION_CLEANUP_INTERVAL_SECS", "1")
        .spawn()
        .await;
    app.add(1, 1).await;
    app.sql("UPDATE sessions SET expires_at = 1000").await;

    assert_eq!(app.cart().await["lines"], json!([]));
    let mut gone = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if session_rows(&app).await.is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the clean-up task did not delete the expired session");
}

#[tokio::test]
async fn with_file_sessions_an_expired_session_is_not_loaded_and_its_file_is_cleaned_up() {
    let app = app()
        .backend(Backend::File)
        .var("SESSION_CLEANUP_INTERVAL_SECS", "1")
        .spawn()
        .await;
    assert_eq!(app.add(1, 1).await.status(), 201);
    assert_eq!(app.session_files(".session").len(), 1);
    assert_eq!(app.cart().await["item_count"], 1);

    // Past the anonymous two weeks by the service's clock.
    app.clock.advance(time::Duration::days(15));
    assert_eq!(app.cart().await["lines"], json!([]));
    let mut gone = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if app.session_files(".session").is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the clean-up task did not delete the expired file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_parallel_changes_from_two_instances_on_one_session_directory_are_all_kept() {
    // Default settings: file sessions take turns with file locks, so two
    // processes sharing the directory (here two instances in one) do too.
    let app = app().backend(Backend::File).spawn().await;
    let other = app.another_instance().await;
    let first = app.add(1, 1).await;
    assert_eq!(first.status(), 201);
    // The cookie store is per host, so both instances get the same session cookie.
    let adds = (0..100).map(|n| {
        let base = if n % 2 == 0 { &app.base } else { &other.base };
        app.client
            .post(format!("{base}/api/v1/cart/items"))
            .json(&json!({"product_id": n % 20 + 1, "quantity": 1}))
            .send()
    });
    all_adds_are_kept(&app, Backend::File, adds).await;
    assert_eq!(app.session_files(".session").len(), 1);
    // Every lock was given back and its file removed; no write left a
    // temporary file.
    assert_eq!(app.session_files(".lock"), Vec::<String>::new());
    assert_eq!(app.session_files(".tmp"), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_changes_from_one_visitor_are_all_kept() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        // The first write creates the session; the rest race on it.
        assert_eq!(app.add(1, 1).await.status(), 201);
        let adds = (2..=13).map(|id| app.add(id, 1));
        let results = futures_util::future::join_all(adds).await;
        assert!(results.iter().all(|r| r.status() == 201), "{backend:?}");
        let sets = (2..=13).map(|id| app.set(id, 2));
        let results = futures_util::future::join_all(sets).await;
        assert!(results.iter().all(|r| r.status() == 200), "{backend:?}");

        let cart = app.cart().await;
        assert_eq!(
            cart["lines"].as_array().unwrap().len(),
            13,
            "{backend:?}: {cart}"
        );
        assert_eq!(cart["item_count"], 1 + 12 * 2, "{backend:?}: {cart}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_hundred_parallel_changes_spread_over_two_instances_with_default_settings_are_all_kept() {
    assert!(
        services().is_some(),
        "set TEST_DATABASE_URL and TEST_REDIS_URL"
    );
    // Sessions in Redis, and in the database store on PostgreSQL: both are
    // shared between instances, so both take turns across them by default.
    for backend in [Backend::Redis, Backend::Database] {
        let app = app().backend(backend).spawn().await;
        let other = app.another_instance().await;
        let first = app.add(1, 1).await;
        assert_eq!(first.status(), 201);
        let cookie =
            session_cookie(first.headers()).expect("the first add sets the session cookie");
        let id = session_id(&cookie);
        // The cookie store is per host, so both instances get the same session cookie.
        let adds = (0..100).map(|n| {
            let base = if n % 2 == 0 { &app.base } else { &other.base };
            app.client
                .post(format!("{base}/api/v1/cart/items"))
                .json(&json!({"product_id": n % 20 + 1, "quantity": 1}))
                .send()
        });
        all_adds_are_kept(&app, backend, adds).await;
        // Every lock was given back, none left to expire.
        let left = match backend {
            Backend::Database => {
                let backend = app.db.get_database_backend();
                app.db
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!(
                            "SELECT token FROM session_locks WHERE lock_key = '{}'",
                            api::session::lock::lock_name(&id)
                        ),
                    ))
                    .await
                    .unwrap()
                    .len()
            }
            _ => {
                use fred::prelude::KeysInterface;
                let Some(api::session::AnyStore::Redis(_, pool)) =
                    app.state.as_ref().map(|s| &s.sessions)
                else {
                    panic!("a Redis store");
                };
                let key = api::session::lock::shared_key(&id);
                pool.exists::<usize, _>(key.as_str()).await.unwrap()
            }
        };
        assert_eq!(left, 0, "{backend:?}: the session's lock is still there");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_change_cancelled_while_taking_its_database_lock_gives_the_lock_back() {
    use sea_orm::TransactionTrait;
    assert!(
        services().is_some(),
        "set TEST_DATABASE_URL and TEST_REDIS_URL"
    );
    // The database store on PostgreSQL takes turns with `session_locks` rows.
    let app = app()
        .backend(Backend::Database)
        .var("REQUEST_TIMEOUT_MS", "1000")
        .spawn()
        .await;
    let first = app.add(1, 1).await;
    assert_eq!(first.status(), 201);
    let id = session_id(&session_cookie(first.headers()).unwrap());
    let key = api::session::lock::lock_name(&id);

    // A row another instance holds, which a writer is changing to expired:
    // the next change's `INSERT ... ON CONFLICT DO UPDATE` that takes it
    // waits on that writer, past the change's request timeout (408), which
    // cancels the change; once the writer commits, the take goes through.
    app.sql(&format!(
        "INSERT INTO session_locks (lock_key, token, expires_at) \
         VALUES ('{key}', 'elsewhere', (extract(epoch FROM now()) * 1000)::bigint + 60000)"
    ))
    .await;
    let blocker = app.db.begin().await.unwrap();
    let expired = blocker
        .execute_unprepared(&format!(
            "UPDATE session_locks SET expires_at = 0 WHERE lock_key = '{key}'"
        ))
        .await
        .unwrap();
    assert_eq!(expired.rows_affected(), 1);
    let cancelled = app.add(2, 1).await;
    assert_eq!(cancelled.status(), 408);
    // The cancelled change's release has been sent by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    blocker.commit().await.unwrap();

    // The row is given back once the take is done, not held for its 10 s.
    let started = std::time::Instant::now();
    loop {
        let res = app.add(3, 1).await;
        if res.status() == 201 {
            break;
        }
        assert_eq!(res.status(), 503, "{}", res.text().await.unwrap());
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the session's lock is held after its change was cancelled"
        );
    }
}

/// Sends 40 adds at once from one visitor, each with its own `Cookie`
/// header, and checks that every one of them is in the cart.
async fn forty_parallel_adds_are_all_kept(cookie_header: impl Fn(usize, &str) -> String) {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let res = app.add(1, 1).await;
        assert_eq!(res.status(), 201);
        let real = session_cookie(res.headers()).expect("the first add sets the session cookie");
        // No cookie store: each request carries exactly the header given.
        let client = reqwest::Client::new();
        let adds = (0..40).map(|n| {
            client
                .post(app.url("/api/v1/cart/items"))
                .header("cookie", cookie_header(n, &real))
                .json(&json!({"product_id": n % 20 + 1, "quantity": 1}))
                .send()
        });
        all_adds_are_kept(&app, backend, adds).await;
    }
}

/// Sends `adds` at once, the n-th of one of dish `n % 20 + 1` (there are 20
/// or more), to a cart that already holds one dish, and checks that each was
/// answered as a change and that every one of them is in the cart.
pub(crate) async fn all_adds_are_kept<F>(
    app: &crate::helpers::TestApp,
    backend: Backend,
    adds: impl IntoIterator<Item = F>,
) where
    F: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let statuses: Vec<u16> = futures_util::future::join_all(adds)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    // 201 for a new line, 200 for one more of a dish already there.
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 200),
        "{backend:?}: {statuses:?}"
    );
    let cart = app.cart().await;
    let sent = statuses.len();
    assert_eq!(cart["item_count"], 1 + sent, "{backend:?}: {cart}");
    assert_eq!(
        cart["lines"].as_array().unwrap().len(),
        sent.min(20),
        "{backend:?}: {cart}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_changes_sent_with_a_junk_duplicate_cookie_first_are_all_kept() {
    // The session layer reads the last `km_session`; the junk one before it
    // differs per request, so a lock keyed on the first one would not hold.
    forty_parallel_adds_are_all_kept(|n, real| format!("km_session=junk{n}; km_session={real}"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_changes_sent_with_the_cookie_percent_encoded_are_all_kept() {
    // The session layer percent-decodes the value; each request spells it
    // differently (`=` as `%3D`, and one more character encoded), so a lock
    // keyed on the raw text would not hold.
    forty_parallel_adds_are_all_kept(|n, real| {
        let spelled: String = real
            .chars()
            .enumerate()
            .map(|(i, c)| {
                if c == '=' || i == n {
                    format!("%{:02X}", c as u32)
                } else {
                    c.to_string()
                }
            })
            .collect();
        assert_ne!(spelled, real);
        format!("km_session={spelled}")
    })
    .await;
}

/// Overwrites the stored record of the session with id `id` with bytes
/// that decode as nothing.
async fn damage_stored_session(app: &crate::helpers::TestApp, id: &str) {
    match app.backend {
        Backend::Database => {
            let backend = app.db.get_database_backend();
            let garbage = match backend {
                sea_orm::DatabaseBackend::Postgres => "decode('00ff13', 'hex')",
                _ => "X'00ff13'",
            };
            let updated = app
                .db
                .execute_raw(Statement::from_string(
                    backend,
                    format!("UPDATE sessions SET data = {garbage} WHERE id = '{id}'"),
                ))
                .await
                .unwrap();
            assert_eq!(updated.rows_affected(), 1, "the session's row");
        }
        Backend::Redis => {
            use fred::prelude::KeysInterface;
            let Some(api::session::AnyStore::Redis(_, pool)) =
                app.state.as_ref().map(|s| &s.sessions)
            else {
                panic!("a Redis store");
            };
            // The Redis store keeps a session under its bare id.
            let kept: Option<String> = pool
                .set(
                    id,
                    vec![0xc1u8, 0x00, 0xff],
                    None,
                    Some(fred::types::SetOptions::XX),
                    false,
                )
                .await
                .unwrap();
            assert!(kept.is_some(), "the session's key exists");
        }
        Backend::File => {
            let path = session_file(app, id);
            assert!(path.exists(), "the session's file");
            std::fs::write(path, [0x00, 0xff, 0x13]).unwrap();
        }
        Backend::Memory => unreachable!("the memory store holds no bytes"),
    }
}

/// Where the file store keeps the session with id `id`.
fn session_file(app: &crate::helpers::TestApp, id: &str) -> std::path::PathBuf {
    let id = id.parse().expect("a session id");
    app.session_dir()
        .expect("a file store")
        .join(api::session::file_store::file_name(&id))
}

async fn stored_session_exists(app: &crate::helpers::TestApp, id: &str) -> bool {
    match app.backend {
        Backend::Database => session_rows(app).await.iter().any(|(row, _)| row == id),
        Backend::Redis => {
            use fred::prelude::KeysInterface;
            let Some(api::session::AnyStore::Redis(_, pool)) =
                app.state.as_ref().map(|s| &s.sessions)
            else {
                panic!("a Redis store");
            };
            pool.exists::<u32, _>(id).await.unwrap() == 1
        }
        Backend::File => session_file(app, id).exists(),
        Backend::Memory => unreachable!("the memory store holds no bytes"),
    }
}

#[tokio::test]
async fn a_stored_session_that_does_not_decode_gives_its_visitor_a_fresh_working_session() {
    for backend in backends() {
        if backend == Backend::Memory {
            continue;
        }
        let app = app().backend(backend).spawn().await;
        let res = app.add(1, 1).await;
        assert_eq!(res.status(), 201);
        let old = session_cookie(res.headers()).unwrap();
        let id = crate::helpers::session_id(&old);
        damage_stored_session(&app, &id).await;

        // Reading: an empty cart, and the cookie of the lost session removed.
        let res = app.get("/api/v1/cart").await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let removed = set_cookies(res.headers())
            .into_iter()
            .any(|c| c.starts_with("km_session=") && crate::helpers::is_removal(&c));
        assert!(removed, "{backend:?}: the bad session's cookie is removed");
        let cart: Value = res.json().await.unwrap();
        assert_eq!(cart["lines"], json!([]), "{backend:?}");
        // A read writes nothing, not even a deletion: the record may be one
        // a newer release wrote, and it expires by itself.
        assert!(
            stored_session_exists(&app, &id).await,
            "{backend:?}: a read deleted the stored session"
        );

        // The next change starts a fresh session, under a new cookie, that works.
        let res = app
            .client
            .post(app.url("/api/v1/cart/items"))
            .header("cookie", format!("km_session={old}"))
            .json(&json!({"product_id": 2, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{backend:?}");
        let fresh = session_cookie(res.headers()).expect("a new session cookie");
        assert_ne!(fresh, old, "{backend:?}");
        let cart = app.cart().await;
        assert_eq!(cart["item_count"], 1, "{backend:?}: {cart}");
        assert_eq!(cart["lines"][0]["product_id"], 2, "{backend:?}: {cart}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_waiting_behind_a_stuck_checkout_gets_a_503_with_retry_after_not_a_408() {
    // Each lock with a store it serves; the process queue on PostgreSQL,
    // where the checkout can be seen waiting (every other lock is taken
    // after it, so their runs wait on it too).
    let mut locks = vec![("file", Backend::File)];
    if services().is_some() {
        locks.extend([
            ("process", Backend::Database),
            ("redis", Backend::Redis),
            ("database", Backend::Database),
        ]);
    }
    for (lock, backend) in locks {
        // A change waits half the request timeout (0.5 s) for its turn; a
        // checkout stuck on the database keeps the turn for the database
        // timeout (1 s, its least), longer.
        let app = app()
            .backend(backend)
            .var("REQUEST_TIMEOUT_MS", "1000")
            .var("SESSION_LOCK", lock)
            .spawn()
            .await;
        let first = app.add(1, 1).await;
        assert_eq!(first.status(), 201);
        let id = session_id(&session_cookie(first.headers()).unwrap());

        // The menu's row is held by another writer, so the checkout's stock
        // update waits on it, keeping the session's turn past its own request.
        let blocker = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
        blocker
            .execute_unprepared("UPDATE products SET stock = stock WHERE id = 1")
            .await
            .unwrap();
        let checkout = tokio::spawn(app.client.post(app.url("/api/v1/orders")).send());
        // Not before the checkout holds the turn (it keeps it for a second
        // from reaching the database), however slow the machine.
        let since = std::time::Instant::now();
        while !checkout_holds_the_turn(&app, lock, &id).await {
            assert!(
                since.elapsed() < Duration::from_secs(5),
                "{lock}: the checkout never took the turn"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        let started = std::time::Instant::now();
        let res = app.add(2, 1).await;
        let waited = started.elapsed();
        let retry_after = res
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned);
        let body = crate::helpers::assert_problem(res, 503, "service-unavailable").await;
        assert!(
            body["detail"].as_str().unwrap().contains("Another change"),
            "{lock}: {body}"
        );
        assert_eq!(retry_after.as_deref(), Some("1"), "{lock}");
        // Half the request timeout, not the whole of it.
        assert!(
            waited < Duration::from_millis(950),
            "{lock}: answered after {waited:?}"
        );

        blocker.rollback().await.unwrap();
        checkout.await.unwrap().unwrap();
    }
}

/// Whether a checkout of session `id` holds its turn, as `lock` shows it:
/// its lock key, row or file is there, or (the process queue, on
/// PostgreSQL) the checkout's stock update is waiting on a row lock.
async fn checkout_holds_the_turn(app: &crate::helpers::TestApp, lock: &str, id: &str) -> bool {
    let count = |sql: String| async move {
        app.db
            .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
            .await
            .unwrap()
            .len()
    };
    match lock {
        "file" => !app.session_files(".lock").is_empty(),
        "database" => {
            count(format!(
                "SELECT token FROM session_locks WHERE lock_key = '{}'",
                api::session::lock::lock_name(id)
            ))
            .await
                == 1
        }
        "redis" => {
            use fred::prelude::KeysInterface;
            let Some(api::session::AnyStore::Redis(_, pool)) =
                app.state.as_ref().map(|s| &s.sessions)
            else {
                panic!("a Redis store");
            };
            let key = api::session::lock::shared_key(id);
            pool.exists::<usize, _>(key.as_str()).await.unwrap() == 1
        }
        _ => {
            count(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND query LIKE '%products%'"
                    .to_owned(),
            )
            .await
                == 1
        }
    }
}

/// A checkout stuck on the database holds its session's turn only up to
/// its limit (the database timeout): then its transaction is rolled back,
/// nothing is ordered, and the visitor's next change goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_checkout_gives_up_its_sessions_turn_and_orders_nothing() {
    // Sessions in memory: the held database lock must stop only the order.
    let app = app()
        .backend(Backend::Memory)
        .var("REQUEST_TIMEOUT_MS", "400")
        .spawn()
        .await;
    assert_eq!(app.add(1, 1).await.status(), 201);
    let stock_before = app.get_json("/api/v1/products/1").await["stock"].clone();

    // Another writer holds the dish's row (SQLite: the whole database), so
    // the checkout's stock update waits far longer than its limit.
    let blocker = sea_orm::TransactionTrait::begin(&app.db).await.unwrap();
    blocker
        .execute_unprepared("UPDATE products SET stock = stock WHERE id = 1")
        .await
        .unwrap();
    let res = app
        .client
        .post(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap();
    // Answered before the request timeout, as an order that may be placed.
    assert_eq!(res.headers().get("retry-after"), None);
    crate::helpers::assert_problem(res, 503, "service-unavailable").await;

    // Past the limit (1 s), the session takes changes again while the
    // database is still held. Until then a change is told the session is
    // busy; asked again until it goes through, with a bound far past the
    // limit so a loaded machine does not fail the test, while a turn that
    // is never given up still does.
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let res = app.add(2, 1).await;
        if res.status() == 201 {
            break;
        }
        let body = crate::helpers::assert_problem(res, 503, "service-unavailable").await;
        assert!(
            std::time::Instant::now() < give_up,
            "the stuck checkout still holds the session's turn: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    blocker.rollback().await.unwrap();

    // Nothing was ordered: no order, the stock untouched, the cart intact.
    let orders: Value = app.get_json("/api/v1/orders").await;
    assert_eq!(orders["items"], json!([]), "{orders}");
    assert_eq!(app.cart().await["item_count"], 2);
    let mut stock = Value::Null;
    for _ in 0..50 {
        stock = app.get_json("/api/v1/products/1").await["stock"].clone();
        if stock == stock_before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        stock, stock_before,
        "the stuck order's stock update was kept"
    );
}

#[tokio::test]
async fn a_session_store_that_does_not_answer_is_a_503_and_keeps_the_cookie() {
    let app = app().backend(Backend::Database).spawn().await;
    assert_eq!(app.add(1, 1).await.status(), 201);
    app.state.clone().unwrap().db.close_by_ref().await.unwrap();

    let res = app.get("/api/v1/cart").await;
    let removed = set_cookies(res.headers())
        .into_iter()
        .any(|c| c.starts_with("km_session="));
    assert!(
        !removed,
        "the session is not given up while the store is down"
    );
    assert_eq!(retry_after(&res), Some("1"));
    crate::helpers::assert_problem(res, 503, "service-unavailable").await;
}

fn retry_after(res: &reqwest::Response) -> Option<&str> {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
}

fn cache_control(res: &reqwest::Response) -> Option<&str> {
    res.headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
}

/// A visitor with a session whose store fails to load it is told when to
/// try again, as for every outage worth a retry.
#[tokio::test]
async fn a_session_that_cannot_be_loaded_is_a_503_with_retry_after() {
    let app = app().backend(Backend::Database).spawn().await;
    assert_eq!(app.add(1, 1).await.status(), 201);
    app.sql("ALTER TABLE sessions RENAME TO sessions_away")
        .await;

    let res = app.get("/api/v1/cart").await;
    assert_eq!(retry_after(&res), Some("1"));
    assert_eq!(cache_control(&res), Some("no-store"));
    crate::helpers::assert_problem(res, 503, "service-unavailable").await;

    app.sql("ALTER TABLE sessions_away RENAME TO sessions")
        .await;
    assert_eq!(app.cart().await["item_count"], 1);
}

/// The database going away while the sessions live elsewhere: the order
/// cannot be stored, and the answer says when to try again.
#[tokio::test]
async fn a_checkout_while_the_database_is_down_is_a_503_with_retry_after() {
    let app = app().backend(Backend::Memory).spawn().await;
    assert_eq!(app.add(1, 1).await.status(), 201);
    app.state.clone().unwrap().db.close_by_ref().await.unwrap();

    let res = app
        .client
        .post(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(retry_after(&res), Some("1"));
    assert_eq!(cache_control(&res), Some("no-store"));
    crate::helpers::assert_problem(res, 503, "service-unavailable").await;
    assert_eq!(app.cart().await["item_count"], 1, "the cart is kept");
}

/// A new visitor has no session to load: the store is first needed when
/// the session is saved after the handler ran, and that failing is a 503
/// worth a retry, not a 500.
#[tokio::test]
async fn a_new_visitors_first_change_while_the_store_is_down_is_a_503_with_retry_after() {
    let app = app().backend(Backend::Database).spawn().await;
    app.sql("ALTER TABLE sessions RENAME TO sessions_away")
        .await;

    let res = app.add(1, 1).await;
    assert!(
        session_cookie(res.headers()).is_none(),
        "no cookie for a session that was not stored"
    );
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(cache_control(&res), Some("no-store"));
    crate::helpers::assert_problem(res, 503, "service-unavailable").await;

    // Back up: the same visitor's change goes through.
    app.sql("ALTER TABLE sessions_away RENAME TO sessions")
        .await;
    assert_eq!(app.add(1, 1).await.status(), 201);
    assert_eq!(app.cart().await["item_count"], 1);
}

fn time_of(value: &Value) -> time::OffsetDateTime {
    time::OffsetDateTime::parse(
        value.as_str().expect("a time"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("an RFC 3339 time")
}

/// Asserts that two times agree to the second (one of them is shown
/// without its fraction).
fn assert_same_second(a: time::OffsetDateTime, b: time::OffsetDateTime, what: &str) {
    assert!(
        (a - b).abs() < time::Duration::seconds(1),
        "{what}: {a} vs {b}"
    );
}

#[tokio::test]
async fn a_signed_in_sessions_expiry_is_when_its_sign_in_ends_and_a_read_past_it_finds_it_ended_on_every_store()
 {
    for backend in backends() {
        let app = app()
            .backend(backend)
            .var("SESSION_IDLE_TIMEOUT", "300")
            .var("SESSION_ABSOLUTE_TIMEOUT", "600")
            .spawn()
            .await;
        assert_eq!(
            app.register("ada", crate::auth::PASSWORD).await.status(),
            201
        );
        assert_eq!(app.add(1, 2).await.status(), 201);
        let signed_in_at = time_of(&app.get_json("/api/v1/auth/me").await["signed_in_at"]);
        let expires_at = |state: &Value| time_of(&state["expires_at"]);

        // Idle time is what ends it first, as /auth/me says.
        let state = app.get_json("/api/v1/session").await;
        let me = app.get_json("/api/v1/auth/me").await;
        assert_eq!(state["cart_item_count"], 2, "{backend:?}");
        assert_same_second(
            expires_at(&state),
            time_of(&me["idle_ends_at"]),
            &format!("{backend:?}: as /auth/me"),
        );
        assert_same_second(
            expires_at(&state),
            signed_in_at + time::Duration::seconds(300),
            &format!("{backend:?}: the idle end"),
        );

        // A read is activity: the idle end moves with it.
        app.clock.advance(time::Duration::seconds(250));
        let state = app.get_json("/api/v1/session").await;
        assert_same_second(
            expires_at(&state),
            signed_in_at + time::Duration::seconds(550),
            &format!("{backend:?}: the idle end, moved"),
        );
        // Near the absolute end, that one comes first.
        app.clock.advance(time::Duration::seconds(250));
        let state = app.get_json("/api/v1/session").await;
        assert_same_second(
            expires_at(&state),
            signed_in_at + time::Duration::seconds(600),
            &format!("{backend:?}: the absolute end"),
        );

        // Past it, reading the session is what ends it: nothing is left.
        app.clock.advance(time::Duration::seconds(101));
        let state = app.get_json("/api/v1/session").await;
        assert_eq!(state["expires_at"], Value::Null, "{backend:?}: {state}");
        assert_eq!(state["cart_item_count"], 0, "{backend:?}: {state}");
        let res = app.get("/api/v1/auth/me").await;
        crate::helpers::assert_problem(res, 401, "unauthorized").await;
    }
}
