//! What browsers are told on every response: no content sniffing, no
//! referrer, no framing, HTTPS only once cookies are Secure; and Swagger UI's
//! page may run its own vendored assets and nothing else.

use base64::Engine;
use base64::prelude::BASE64_STANDARD;
use reqwest::header::HeaderMap;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, app, spawn_app};

/// Requests that reach every kind of answer: a route, a probe, the spec, an
/// error from a handler, from the router (404, 405) and from a guard (403),
/// and the body limit (413).
async fn a_response_of_each_kind(app: &TestApp) -> Vec<(String, HeaderMap)> {
    let c = &app.client;
    let requests = [
        ("products", c.get(app.url("/api/v1/products"))),
        ("a dish", c.get(app.url("/api/v1/products/1"))),
        ("the cart", c.get(app.url("/api/v1/cart"))),
        ("liveness", c.get(app.url("/healthz"))),
        ("readiness", c.get(app.url("/readyz"))),
        ("the spec", c.get(app.url("/api-docs/openapi.json"))),
        ("a bad id", c.get(app.url("/api/v1/products/abc"))),
        ("no such route", c.get(app.url("/nowhere"))),
        ("a wrong method", c.patch(app.url("/api/v1/products"))),
        (
            "a cross-site write",
            c.post(app.url("/api/v1/cart/items"))
                .header("origin", "https://evil.example")
                .json(&json!({"product_id": 1, "quantity": 1})),
        ),
        (
            "a body too large",
            c.post(app.url("/api/v1/cart/items"))
                .header("content-type", "application/json")
                .body(vec![b' '; 70 * 1024]),
        ),
    ];
    let mut answers = Vec::new();
    for (what, request) in requests {
        let res = request.send().await.unwrap();
        answers.push((format!("{what} ({})", res.status()), res.headers().clone()));
    }
    answers
}

#[tokio::test]
async fn every_response_tells_browsers_not_to_sniff_refer_or_frame() {
    let app = spawn_app().await;
    for (what, headers) in a_response_of_each_kind(&app).await {
        assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
        assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
        assert_eq!(headers["x-frame-options"], "DENY", "{what}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert_eq!(
            directive(csp, "frame-ancestors "),
            ["'none'"],
            "{what}: {csp}"
        );
        // Cookies are not Secure here (plain HTTP in development).
        assert!(headers.get("strict-transport-security").is_none(), "{what}");
    }
}

#[tokio::test]
async fn with_secure_cookies_every_response_asks_for_https_only() {
    let app = app().var("SESSION_COOKIE_SECURE", "true").spawn().await;
    for (what, headers) in a_response_of_each_kind(&app).await {
        let hsts = headers
            .get("strict-transport-security")
            .unwrap_or_else(|| panic!("{what}: no Strict-Transport-Security"))
            .to_str()
            .unwrap();
        let max_age: u64 = hsts
            .strip_prefix("max-age=")
            .and_then(|v| v.split(';').next())
            .unwrap()
            .parse()
            .unwrap();
        assert!(max_age >= 365 * 24 * 3600, "{what}: {hsts}");
    }
}

fn directive<'a>(csp: &'a str, name: &str) -> Vec<&'a str> {
    csp.split(';')
        .map(str::trim)
        .find_map(|d| d.strip_prefix(name))
        .map(|sources| sources.split_whitespace().collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn swagger_ui_may_run_its_own_assets_and_nothing_else() {
    let app = spawn_app().await;
    let res = app.get("/swagger-ui/").await;
    assert_eq!(res.status(), 200);
    let headers = res.headers().clone();
    let page = res.text().await.unwrap();
    assert!(page.contains("swagger-ui-bundle.js"), "{page}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    assert_eq!(directive(csp, "default-src "), ["'none'"], "{csp}");
    assert_eq!(directive(csp, "script-src "), ["'self'"], "{csp}");
    assert_eq!(directive(csp, "connect-src "), ["'self'"], "{csp}");
    assert_eq!(directive(csp, "frame-ancestors "), ["'none'"], "{csp}");
    assert!(
        !csp.contains("unsafe") && !csp.contains("http") && !csp.contains('*'),
        "no inline code, eval or other origins: {csp}"
    );
    // The page itself loads only what this service serves.
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("<style"));
    for script in page.split("<script").skip(1) {
        assert!(
            script.trim_start().starts_with("src="),
            "an inline script: {script}"
        );
    }

    // The one inline style the vendored assets make (the logo's `<style>`)
    // is the one the policy allows, by hash.
    let mut allowed_styles = Vec::new();
    for asset in ["swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"] {
        let js = app
            .get(&format!("/swagger-ui/{asset}"))
            .await
            .text()
            .await
            .unwrap();
        for made in js.split("createElement(\"style\",null,\"").skip(1) {
            let css = made.split('"').next().unwrap();
            let hash = BASE64_STANDARD.encode(Sha256::digest(css.as_bytes()));
            allowed_styles.push(format!("'sha256-{hash}'"));
        }
    }
    assert!(!allowed_styles.is_empty(), "the logo's style was not found");
    let mut style_src = directive(csp, "style-src ");
    style_src.retain(|s| *s != "'self'");
    assert_eq!(style_src, allowed_styles, "{csp}");
}
