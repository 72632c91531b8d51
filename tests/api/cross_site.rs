//! The cross-site check end to end: what a browser's origin may change.

use serde_json::json;

use crate::helpers::{app, assert_problem};

const SPA: &str = "http://spa.example:5173";

#[tokio::test]
async fn a_change_from_an_origin_listed_for_cors_passes_and_carries_the_cors_headers() {
    let app = app().var("CORS_ALLOWED_ORIGINS", SPA).spawn().await;

    let res = app
        .client
        .post(app.url("/api/v1/cart/items"))
        .header("origin", SPA)
        .json(&json!({"product_id": 1, "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(ToOwned::to_owned)
    };
    assert_eq!(header("access-control-allow-origin").as_deref(), Some(SPA));
    assert_eq!(
        header("access-control-allow-credentials").as_deref(),
        Some("true")
    );
    assert_eq!(app.cart().await["item_count"], 2);

    // Another origin is still refused, and gets no CORS grant.
    let res = app
        .client
        .post(app.url("/api/v1/cart/items"))
        .header("origin", "http://evil.example")
        .json(&json!({"product_id": 1}))
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(
        res.headers().get("set-cookie").is_none(),
        "a refusal sets no cookie"
    );
    assert_problem(res, 403, "cross-site-request").await;
    assert_eq!(app.cart().await["item_count"], 2);
}

#[tokio::test]
async fn a_change_whose_origin_is_not_visible_ascii_is_refused_and_changes_nothing() {
    let app = app().spawn().await;
    assert_eq!(app.add(1, 1).await.status(), 201);
    let own = app.base.as_bytes();

    for origin in [
        [own, b"\xe9".as_slice()].concat(),
        [b"http://\xc3\xa9vil.example".as_slice()].concat(),
    ] {
        let res = app
            .client
            .post(app.url("/api/v1/cart/items"))
            .header(
                "origin",
                reqwest::header::HeaderValue::from_bytes(&origin).unwrap(),
            )
            .json(&json!({"product_id": 2}))
            .send()
            .await
            .unwrap();
        assert_problem(res, 403, "cross-site-request").await;
    }
    assert_eq!(app.cart().await["item_count"], 1);
}

/// The service speaks HTTP/2 as well (cleartext, with prior knowledge, as a
/// proxy in front of it does): there the API's own origin is judged from
/// the `:authority`, a cross-site change is refused, and cookies work.
#[tokio::test]
async fn over_http2_a_same_origin_change_passes_a_cross_site_one_is_refused_and_cookies_work() {
    let app = app().spawn().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .cookie_store(true)
        .build()
        .unwrap();
    let add = |origin: &str| {
        h2.post(app.url("/api/v1/cart/items"))
            .header("origin", origin)
            .json(&json!({"product_id": 1, "quantity": 2}))
            .send()
    };

    // The same origin: the scheme and the authority the request went to.
    let res = add(&app.base).await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 201);
    assert!(
        crate::helpers::session_cookie(res.headers()).is_some(),
        "a session cookie"
    );

    // Another site: refused, and nothing changes.
    let res = add("http://evil.example").await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_problem(res, 403, "cross-site-request").await;

    // The session cookie comes back over HTTP/2 and finds the cart.
    let res = h2.get(app.url("/api/v1/cart")).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    let cart: serde_json::Value = res.json().await.unwrap();
    assert_eq!(cart["item_count"], 2, "{cart}");
}
