//! The service through a Redis outage, on a Redis of each test's own:
//! Debian's `redis-server` on a free port of 127.0.0.1 (never the shared
//! one), holding the sessions, while the database is the test's own as
//! everywhere else. Two outages: a paused server (SIGSTOP), which keeps its
//! connections open and answers nothing, as a frozen host or a lost network
//! does; and a crash (SIGKILL) and restart on the server's data, an
//! append-only file synced at every write.
//!
//! These tests run wherever `redis-server` is installed (see
//! `redis_server.rs`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_client};
use crate::outage::{RECOVERY, assert_not_ready, assert_unavailable, working_again};
use crate::redis_server::{self, Persistence, RedisServer};

/// A Redis command waits at most a second; a session read gives up after
/// one such wait, a change after two (measured: 1.0 s and 2.0 s).
const ONE_COMMAND: Duration = Duration::from_secs(1);
const TWO_COMMANDS: Duration = Duration::from_secs(2);

/// The service with its sessions in `redis`.
async fn on_redis(redis: &RedisServer) -> TestApp {
    redis_server::on_redis(&redis.url()).spawn().await
}

/// Asserts that what needs no session still serves: liveness, the product
/// list, the library and the menu (for `visitor`, without its profile's
/// recommendations: the session cannot be read).
async fn assert_public_pages_serve(app: &TestApp, visitor: &Client) {
    for path in ["/healthz", "/api/v1/products", "/api/v1/books"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
    }
    let res = visitor.get(app.url("/api/v1/menu")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the menu");
    let menu: Value = res.json().await.unwrap();
    assert_eq!(menu["recommended"], json!([]), "{menu}");
    assert_eq!(menu["others"].as_array().unwrap().len(), 20, "{menu}");
}

/// The visitor's cart lines, as quantities by dish.
pub(crate) async fn lines(app: &TestApp, visitor: &Client) -> BTreeMap<i64, i64> {
    let res = visitor.get(app.url("/api/v1/cart")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the cart");
    let cart: Value = res.json().await.unwrap();
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["product_id"].as_i64().unwrap(),
                l["quantity"].as_i64().unwrap(),
            )
        })
        .collect()
}

pub(crate) fn add_request(
    app: &TestApp,
    visitor: &Client,
    product_id: i64,
    quantity: i64,
) -> RequestBuilder {
    visitor
        .post(app.url("/api/v1/cart/items"))
        .json(&json!({"product_id": product_id, "quantity": quantity}))
}

/// Adds to `visitor`'s cart, asserting that the add is acknowledged, and
/// counts it in `expected`.
pub(crate) async fn add(
    app: &TestApp,
    visitor: &Client,
    expected: &mut BTreeMap<i64, i64>,
    product_id: i64,
    quantity: i64,
) {
    let started = Instant::now();
    let res = add_request(app, visitor, product_id, quantity)
        .send()
        .await
        .unwrap();
    let status = res.status();
    assert!(
        status.is_success(),
        "{status} after {:?}: {}",
        started.elapsed(),
        res.text().await.unwrap()
    );
    *expected.entry(product_id).or_default() += quantity;
}

#[tokio::test]
async fn a_paused_redis_gets_session_requests_503s_in_time_and_everything_works_again_on_resume() {
    let Some(redis) = RedisServer::start(Persistence::None).await else {
        return;
    };
    let app = on_redis(&redis).await;
    let profile =
        json!({"name": "Ada", "dietary_restrictions": ["vegan"], "spice_level": "medium"});
    let res = app.put_json("/api/v1/profile", &profile).await;
    assert!(res.status().is_success(), "{}", res.status());
    let mut expected = BTreeMap::new();
    add(&app, &app.client, &mut expected, 1, 2).await;
    add(&app, &app.client, &mut expected, 6, 3).await;
    assert_eq!(lines(&app, &app.client).await, expected);

    redis.pause();
    assert_unavailable(
        app.client.get(app.url("/api/v1/cart")),
        "reading the cart",
        ONE_COMMAND,
    )
    .await;
    assert_unavailable(
        add_request(&app, &app.client, 2, 1),
        "adding to the cart",
        TWO_COMMANDS,
    )
    .await;
    assert_unavailable(
        add_request(&app, &new_client(), 2, 1),
        "a new visitor's first add",
        TWO_COMMANDS,
    )
    .await;
    assert_not_ready(&app, "session_store", "session store", ONE_COMMAND).await;
    assert_public_pages_serve(&app, &app.client).await;

    redis.resume();
    let took = working_again(&app, &[&app.client], &["/api/v1/cart"], Instant::now()).await;
    eprintln!("resumed: working again after {} ms", took.as_millis());
    assert!(took <= RECOVERY, "working again only after {took:?}");
    // The refused add left nothing; the next one gets its turn at once.
    assert_eq!(lines(&app, &app.client).await, expected);
    let started = Instant::now();
    add(&app, &app.client, &mut expected, 2, 1).await;
    assert!(started.elapsed() < RECOVERY, "{:?}", started.elapsed());
    assert_eq!(lines(&app, &app.client).await, expected);
    let menu = app.get_json("/api/v1/menu").await;
    assert_ne!(menu["recommended"], json!([]), "the profile counts again");
}

#[tokio::test]
async fn a_redis_restarted_after_a_crash_loses_no_acknowledged_change_and_serves_within_two_seconds()
 {
    let Some(mut redis) = RedisServer::start(Persistence::AppendOnly).await else {
        return;
    };
    let app = on_redis(&redis).await;
    let mut expected = BTreeMap::new();
    for (product_id, quantity) in [(1, 2), (6, 3), (2, 1), (1, 1)] {
        add(&app, &app.client, &mut expected, product_id, quantity).await;
    }
    // A signed-in visitor: the sign-in is in Redis, the cart in the database.
    let member = new_client();
    let res = member
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": "ada", "password": "plum orbit candle seventy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut member_expected = BTreeMap::new();
    add(&app, &member, &mut member_expected, 3, 2).await;

    redis.crash();
    assert_unavailable(
        app.client.get(app.url("/api/v1/cart")),
        "reading the cart",
        ONE_COMMAND,
    )
    .await;
    assert_unavailable(
        add_request(&app, &app.client, 7, 1),
        "adding to the cart",
        TWO_COMMANDS,
    )
    .await;
    assert_unavailable(
        add_request(&app, &member, 7, 1),
        "a member adding to the cart",
        TWO_COMMANDS,
    )
    .await;
    assert_unavailable(
        add_request(&app, &new_client(), 7, 1),
        "a new visitor's first add",
        TWO_COMMANDS,
    )
    .await;
    assert_not_ready(&app, "session_store", "session store", ONE_COMMAND).await;
    assert_public_pages_serve(&app, &app.client).await;

    redis.restart().await;
    let back = Instant::now();
    let took = working_again(&app, &[&app.client, &member], &["/api/v1/cart"], back).await;
    eprintln!("restarted: working again after {} ms", took.as_millis());
    // Every change acknowledged before the crash is there; none refused
    // during it is.
    assert_eq!(lines(&app, &app.client).await, expected);
    assert_eq!(lines(&app, &member).await, member_expected);
    let me = member.get(app.url("/api/v1/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), 200, "still signed in");
    // Changes work again: the restarted server has lost the lock's scripts,
    // which are loaded again on the way.
    add(&app, &app.client, &mut expected, 7, 1).await;
    add(&app, &member, &mut member_expected, 7, 1).await;
    let took = back.elapsed();
    eprintln!(
        "restarted: changes saved again after {} ms",
        took.as_millis()
    );
    assert!(took <= RECOVERY, "changes worked again only after {took:?}");
    assert_eq!(lines(&app, &app.client).await, expected);
    assert_eq!(lines(&app, &member).await, member_expected);
    let errors = redis.info("errorstats").await;
    assert!(errors.contains("errorstat_NOSCRIPT"), "{errors}");
}
