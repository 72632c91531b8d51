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
