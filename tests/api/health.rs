use serde_json::Value;

use crate::helpers::{Backend, assert_problem, spawn_app};

#[tokio::test]
async fn the_service_reports_alive_and_ready_without_naming_its_session_backend() {
    let app = spawn_app().await;

    let res = app.get("/healthz").await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "ok");

    let ready: Value = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], "ok");
    assert_eq!(ready["session_store"], "ok");
    // Which store runs is in the log, not in a public answer.
    assert_eq!(
        ready,
        serde_json::json!({"status": "ready", "database": "ok", "session_store": "ok"})
    );
    let backend = app.backend.env_name();
    assert!(
        ready.as_object().unwrap().values().all(|v| v != backend),
        "{ready}"
    );
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for path in ["/healthz", "/api/v1/products", "/api/v1/cart", "/nowhere"] {
        let res = app.get(path).await;
        let id = res
            .headers()
            .get("x-request-id")
            .expect("x-request-id")
            .to_str()
            .unwrap();
        assert_eq!(id.len(), 36, "a UUID: {id}");
        assert_eq!(&id[14..15], "4", "a random (version 4) UUID: {id}");
        ids.push(id.to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 4, "every request has its own id");
    // A caller's own request id is kept.
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn unknown_routes_and_methods_get_problem_documents() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/nothing-here").await, 404, "not-found").await;
    let res = app
        .client
        .patch(app.url("/api/v1/products"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["allow"], "GET,HEAD");
    assert_problem(res, 405, "method-not-allowed").await;
}

#[tokio::test]
async fn session_dependent_responses_are_not_cached() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/cart").await;
    assert_eq!(res.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn readiness_fails_with_a_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    let state = app.state.clone().unwrap();
    state.db.close_by_ref().await.unwrap();

    let body = assert_problem(app.get("/readyz").await, 503, "service-unavailable").await;
    assert!(
        body["detail"].as_str().unwrap().contains("database"),
        "{body}"
    );
    // The database store's sessions are gone with it.
    let unavailable = if app.backend == Backend::Database {
        serde_json::json!(["database", "session_store"])
    } else {
        serde_json::json!(["database"])
    };
    assert_eq!(body["unavailable"], unavailable);
    // Liveness does not depend on it.
    assert_eq!(app.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn a_configured_spa_origin_may_call_with_credentials_and_others_may_not() {
    let app = crate::helpers::app()
        .var("CORS_ALLOWED_ORIGINS", "http://localhost:5173")
        .spawn()
        .await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/cart/items"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let res = preflight("http://localhost:5173").await.unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    assert_eq!(res.headers()["access-control-allow-credentials"], "true");
    let res = preflight("http://evil.example").await.unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());

    let res = app
        .client
        .get(app.url("/api/v1/cart"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://localhost:5173"
    );
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("x-request-id") && exposed.contains("location"),
        "{exposed}"
    );
}

#[tokio::test]
async fn a_script_on_a_configured_spa_origin_can_read_the_menus_etag_and_when_to_retry() {
    let app = crate::helpers::app()
        .var("CORS_ALLOWED_ORIGINS", "http://localhost:5173")
        .spawn()
        .await;
    let res = app
        .client
        .get(app.url("/api/v1/products/1"))
        .header("origin", "http://localhost:5173")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("etag").is_some());
    let exposed: Vec<String> = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for header in ["etag", "retry-after", "x-request-id", "location"] {
        assert!(
            exposed.iter().any(|h| h == header),
            "{header} in {exposed:?}"
        );
    }
}
