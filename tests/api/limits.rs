//! Rate limits and the client IP they count: sign-in and registration per
//! client IP and per username, new sessions per client IP, and
//! `X-Forwarded-For` believed only from a trusted proxy.
//!
//! Each test sets small budgets and a secret of its own: on Redis the
//! counters are named with a secret derived from `SECRET_KEY`, so tests
//! sharing one Redis (and one client IP, 127.0.0.1) count apart. The
//! in-process counters run on the app's clock, which a test moves; Redis
//! windows run on Redis's clock, so on Redis the test waits them out (a
//! second or two).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tower_sessions::session::Id;

use crate::auth::PASSWORD;
use crate::helpers::{AppBuilder, Backend, TestApp, app, assert_problem, services};

/// An app with `limit` set to `rate` and a secret of its own.
pub(crate) fn limited(limit: &str, rate: &str) -> AppBuilder {
    let secret = format!("limits-test-secret-{:032x}", rand::random::<u128>());
    app().var(limit, rate).var("SECRET_KEY", &secret)
}

/// A client that keeps no cookies: every request starts afresh, as a
/// script that drops its cookie does.
fn cookieless() -> reqwest::Client {
    reqwest::Client::new()
}

/// `POST /api/v1/visits` from `client`, with `X-Forwarded-For` when given.
async fn visit_from(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded: Option<&str>,
) -> reqwest::Response {
    let mut req = client.post(app.url("/api/v1/visits"));
    if let Some(xff) = forwarded {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.expect("request")
}

/// Sends `budget` visits from `client`, each let through, then one more
/// that is refused with a `Retry-After` of at most `max` seconds.
async fn spend_the_budget(
    app: &TestApp,
    client: &reqwest::Client,
    forwarded: Option<&str>,
    budget: usize,
    max: u64,
) {
    for _ in 0..budget {
        assert_eq!(visit_from(app, client, forwarded).await.status(), 200);
    }
    assert_too_many(visit_from(app, client, forwarded).await, max).await;
}

/// Asserts a 429 problem with a `Retry-After` of at least one second and
/// at most `max` seconds, and returns it.
pub(crate) async fn assert_too_many(res: reqwest::Response, max: u64) -> u64 {
    let retry_after: u64 = res
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in whole seconds");
    assert!(
        (1..=max).contains(&retry_after),
        "Retry-After {retry_after}"
    );
    // A refusal is about this moment: no cache may keep it.
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_problem(res, 429, "too-many-requests").await;
    retry_after
}

/// Lets a window of `secs` seconds pass: the app's clock for the
/// in-process counters, real time for Redis's.
async fn wait_out(app: &TestApp, secs: u64) {
    app.clock.advance(time::Duration::seconds(secs as i64));
    if app.backend == Backend::Redis {
        tokio::time::sleep(Duration::from_millis(secs * 1000 + 150)).await;
    }
}

/// A window short enough to wait out on Redis, long enough for a test's
/// requests to fit in it.
const WINDOW: u64 = 3;

#[tokio::test]
async fn new_sessions_past_the_limit_are_refused_until_the_window_passes() {
    let app = limited("NEW_SESSION_LIMIT_PER_IP", &format!("2/{WINDOW}"))
        .spawn()
        .await;
    let script = cookieless();
    spend_the_budget(&app, &script, None, 2, WINDOW).await;
    // Reads store no session and are not counted.
    assert_eq!(
        script
            .get(app.url("/api/v1/session"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    wait_out(&app, WINDOW).await;
    assert_eq!(visit_from(&app, &script, None).await.status(), 200);
}

#[tokio::test]
async fn a_client_that_keeps_its_session_cookie_is_not_limited() {
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "2/600").spawn().await;
    // The browser's first change starts its session (one of the two).
    assert_eq!(app.add(1, 1).await.status(), 201);
    assert_eq!(visit_from(&app, &cookieless(), None).await.status(), 200);
    assert_too_many(visit_from(&app, &cookieless(), None).await, 600).await;
    // The browser sends its cookie: its changes go on.
    for quantity in 2..=6 {
        assert_eq!(app.set(1, quantity).await.status(), 200);
    }
    assert_eq!(app.cart().await["item_count"], 6);
    // A cookie that does not verify is no session: counted, and refused.
    let res = cookieless()
        .put(app.url("/api/v1/cart/items/1"))
        .header("cookie", "km_session=forged")
        .json(&json!({"quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_too_many(res, 600).await;
}

#[tokio::test]
async fn a_replayed_cookie_whose_session_is_gone_counts_as_a_new_session() {
    let secret = format!("limits-test-secret-{:032x}", rand::random::<u128>());
    let app = app()
        .var("NEW_SESSION_LIMIT_PER_IP", "2/600")
        .var("SECRET_KEY", &secret)
        .spawn()
        .await;
    // A correctly signed cookie for an id no store holds, as a script
    // replays one whose session was ended long ago.
    let config = api::Config::from_vars([("SECRET_KEY".to_owned(), secret)].into()).unwrap();
    let keys = api::session::keys::SessionCookieKeys::new(&config);
    let stale = || format!("km_session={}", keys.sign(Id::default()));
    let replay = |cookie: String| {
        cookieless()
            .post(app.url("/api/v1/visits"))
            .header("cookie", cookie)
            .send()
    };
    // The browser's session (one of the two), then one replay (the other).
    assert_eq!(app.visit().await["visit_count"], 1);
    assert_eq!(replay(stale()).await.unwrap().status(), 200);
    assert_too_many(replay(stale()).await.unwrap(), 600).await;
    // The live session is not affected.
    assert_eq!(app.visit().await["visit_count"], 2);
}

#[tokio::test]
async fn a_forged_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "3/600").spawn().await;
    let script = cookieless();
    for n in 1..=3 {
        let forged = format!("203.0.113.{n}");
        let res = visit_from(&app, &script, Some(&forged)).await;
        assert_eq!(res.status(), 200);
    }
    // A fourth address in the header changes nothing: the peer is the client.
    assert_too_many(visit_from(&app, &script, Some("203.0.113.4")).await, 600).await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() {
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "2/600")
        .var("TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await;
    let proxy = cookieless();
    spend_the_budget(&app, &proxy, Some("203.0.113.10"), 2, 600).await;
    // Another client behind the same proxy still has its budget.
    spend_the_budget(&app, &proxy, Some("198.51.100.20"), 2, 600).await;
}

#[tokio::test]
async fn the_client_is_the_rightmost_forwarded_address_that_is_no_trusted_proxy() {
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "2/600")
        .var("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
        .spawn()
        .await;
    let proxy = cookieless();
    // The client writes a new first entry each time; the proxies append
    // the client's address and their own.
    for n in 1..=2 {
        let chain = format!("192.0.2.{n}, 203.0.113.5, 10.1.2.3");
        assert_eq!(visit_from(&app, &proxy, Some(&chain)).await.status(), 200);
    }
    let chain = "192.0.2.3, 203.0.113.5, 10.1.2.3";
    assert_too_many(visit_from(&app, &proxy, Some(chain)).await, 600).await;
    // Another client behind the same proxies.
    let res = visit_from(&app, &proxy, Some("203.0.113.6, 10.1.2.3")).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn an_unparseable_forwarded_entry_is_never_taken_as_the_client() {
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "2/600")
        .var("TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await;
    let proxy = cookieless();
    // The proxy's own budget (no header: the peer is the client).
    for _ in 0..2 {
        assert_eq!(visit_from(&app, &proxy, None).await.status(), 200);
    }
    // Behind an entry that is no address, the walk stops at the proxy, whose
    // budget is spent: the addresses to its left are not believed.
    for chain in [
        "203.0.113.7, unknown",
        "203.0.113.7,",
        "203.0.113.7, 10.0.0.300",
    ] {
        assert_too_many(visit_from(&app, &proxy, Some(chain)).await, 600).await;
    }
    // A well-formed header names a client with its own budget.
    let res = visit_from(&app, &proxy, Some("203.0.113.7")).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn sign_in_attempts_past_the_limit_per_ip_are_refused_until_the_window_passes() {
    let app = limited("LOGIN_LIMIT_PER_IP", &format!("3/{WINDOW}"))
        .spawn()
        .await;
    assert_eq!(app.register("ada", PASSWORD).await.status(), 201);
    let stranger = app.another_visitor();
    let attempt = |username: &'static str, password: &'static str| {
        stranger
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": username, "password": password, "remember_me": false}))
            .send()
    };
    // Three usernames: the budget is the address's, whoever is tried.
    assert_eq!(
        attempt("ada", "wrong password 1").await.unwrap().status(),
        401
    );
    assert_eq!(
        attempt("bob", "wrong password 2").await.unwrap().status(),
        401
    );
    assert_eq!(
        attempt("cyra", "wrong password 3").await.unwrap().status(),
        401
    );
    // Refused before the password is looked at: the right one too.
    assert_too_many(attempt("ada", PASSWORD).await.unwrap(), WINDOW).await;

    wait_out(&app, WINDOW).await;
    assert_eq!(attempt("ada", PASSWORD).await.unwrap().status(), 200);
}

#[tokio::test]
async fn sign_in_attempts_past_the_limit_per_username_are_refused_from_every_address() {
    let app = limited("LOGIN_LIMIT_PER_USERNAME", &format!("2/{WINDOW}"))
        .var("TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await;
    assert_eq!(app.register("ada", PASSWORD).await.status(), 201);
    let attempt = |from: &'static str, username: &'static str, password: &'static str| {
        app.another_visitor()
            .post(app.url("/api/v1/auth/login"))
            .header("x-forwarded-for", from)
            .json(&json!({"username": username, "password": password, "remember_me": false}))
            .send()
    };
    // Two guesses from two addresses spend the username's budget...
    assert_eq!(
        attempt("203.0.113.1", "ada", "guess one")
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        attempt("203.0.113.2", "ADA", "guess two")
            .await
            .unwrap()
            .status(),
        401
    );
    // ...for a third address too, and whatever the case.
    let res = attempt("203.0.113.3", "Ada", PASSWORD).await.unwrap();
    assert_too_many(res, WINDOW).await;
    // Another username is not affected.
    assert_eq!(
        attempt("203.0.113.3", "bob", "guess")
            .await
            .unwrap()
            .status(),
        401
    );

    wait_out(&app, WINDOW).await;
    assert_eq!(
        attempt("203.0.113.3", "ada", PASSWORD)
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn registrations_past_the_limit_per_ip_are_refused_until_the_window_passes() {
    let app = limited("REGISTER_LIMIT_PER_IP", &format!("2/{WINDOW}"))
        .spawn()
        .await;
    let register = |username: &'static str| {
        app.another_visitor()
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
    };
    assert_eq!(register("ada").await.unwrap().status(), 201);
    assert_eq!(register("bob").await.unwrap().status(), 201);
    assert_too_many(register("cyra").await.unwrap(), WINDOW).await;
    // Nothing was made for the refused one.
    let res = app.sign_in("cyra", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    wait_out(&app, WINDOW).await;
    assert_eq!(register("cyra").await.unwrap().status(), 201);
}

#[tokio::test]
async fn registrations_past_the_limit_per_username_are_refused_from_every_address() {
    let app = limited("REGISTER_LIMIT_PER_USERNAME", &format!("2/{WINDOW}"))
        .var("TRUSTED_PROXIES", "127.0.0.1")
        .spawn()
        .await;
    let register = |from: &'static str, username: &'static str| {
        app.another_visitor()
            .post(app.url("/api/v1/auth/register"))
            .header("x-forwarded-for", from)
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
    };
    // The account is made, then a second address asks for the name again...
    assert_eq!(register("203.0.113.1", "ada").await.unwrap().status(), 201);
    assert_problem(
        register("203.0.113.2", "ADA").await.unwrap(),
        409,
        "username-taken",
    )
    .await;
    // ...and the name's budget is spent for a third address, whatever the case.
    assert_too_many(register("203.0.113.3", "Ada").await.unwrap(), WINDOW).await;
    // Another username is not affected.
    assert_eq!(register("203.0.113.3", "bob").await.unwrap().status(), 201);

    wait_out(&app, WINDOW).await;
    assert_problem(
        register("203.0.113.3", "ada").await.unwrap(),
        409,
        "username-taken",
    )
    .await;
}

#[tokio::test]
async fn a_limit_set_to_zero_is_off() {
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "0").spawn().await;
    let script = cookieless();
    for _ in 0..30 {
        assert_eq!(visit_from(&app, &script, None).await.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn on_redis_the_limits_hold_across_instances() {
    assert!(
        services().is_some(),
        "set TEST_DATABASE_URL and TEST_REDIS_URL"
    );
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "3/600")
        .backend(Backend::Redis)
        .spawn()
        .await;
    let other = app.another_instance().await;
    let script = cookieless();
    let visit = |base: &str| script.post(format!("{base}/api/v1/visits")).send();
    assert_eq!(visit(&app.base).await.unwrap().status(), 200);
    assert_eq!(visit(&other.base).await.unwrap().status(), 200);
    assert_eq!(visit(&app.base).await.unwrap().status(), 200);
    assert_too_many(visit(&other.base).await.unwrap(), 600).await;

    let app = limited("LOGIN_LIMIT_PER_USERNAME", "2/600")
        .backend(Backend::Redis)
        .spawn()
        .await;
    let other = app.another_instance().await;
    let guess = |base: &str| {
        app.another_visitor()
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": "ada", "password": "a guess", "remember_me": false}))
            .send()
    };
    assert_eq!(guess(&app.base).await.unwrap().status(), 401);
    assert_eq!(guess(&other.base).await.unwrap().status(), 401);
    assert_too_many(guess(&app.base).await.unwrap(), 600).await;
}
