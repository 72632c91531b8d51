use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, app, assert_problem, spawn_app};

fn committed_spec() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/openapi.json");
    std::fs::read_to_string(path).expect("openapi/openapi.json is committed")
}

#[test]
fn the_committed_spec_is_what_the_code_generates() {
    let generated = api::startup::openapi_json();
    assert!(
        committed_spec() == generated,
        "openapi/openapi.json is out of date: run `just openapi` (cargo run -q -p api -- openapi > openapi/openapi.json)"
    );
}

#[tokio::test]
async fn the_service_serves_the_committed_spec() {
    let app = spawn_app().await;
    let served: Value = app.get_json("/api-docs/openapi.json").await;
    let committed: Value = serde_json::from_str(&committed_spec()).unwrap();
    assert_eq!(served, committed);
}

#[tokio::test]
async fn the_spec_documents_every_endpoint_with_its_errors() {
    let spec: Value = serde_json::from_str(&committed_spec()).unwrap();
    let paths = spec["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/api/v1/products", &["get"][..]),
        ("/api/v1/products/{id}", &["get"]),
        ("/api/v1/cart", &["get", "delete"]),
        ("/api/v1/cart/items", &["post"]),
        ("/api/v1/cart/items/{product_id}", &["put", "delete"]),
        ("/api/v1/profile", &["get", "put", "patch", "delete"]),
        ("/api/v1/visits", &["post"]),
        ("/api/v1/session", &["get", "delete"]),
        ("/api/v1/menu", &["get"]),
        ("/api/v1/orders", &["get", "post"]),
        ("/api/v1/orders/{id}", &["get"]),
        ("/api/v1/preferences", &["get", "put", "patch", "delete"]),
        ("/api/v1/loyalty", &["get"]),
        ("/api/v1/vip", &["get", "post", "delete"]),
        ("/api/v1/books", &["get"]),
        ("/api/v1/books/{id}", &["get"]),
        (
            "/api/v1/reading-settings",
            &["get", "put", "patch", "delete"],
        ),
        ("/api/v1/reading-list", &["get", "post"]),
        (
            "/api/v1/reading-list/{book_id}",
            &["get", "patch", "delete"],
        ),
        ("/api/v1/reading-history", &["get"]),
        ("/api/v1/reader/genres", &["get", "put"]),
        ("/api/v1/recommendations/books", &["get"]),
        ("/api/v1/privacy", &["get", "delete"]),
        ("/api/v1/privacy/export", &["get"]),
        ("/healthz", &["get"]),
        ("/readyz", &["get"]),
    ] {
        for method in methods {
            let op = &paths[path][*method];
            assert!(op.is_object(), "{method} {path} is missing from the spec");
            assert!(
                op["description"].is_string() || op["summary"].is_string(),
                "{method} {path} has no text"
            );
        }
    }
    let add = &paths["/api/v1/cart/items"]["post"]["responses"];
    for status in ["201", "200", "400", "409", "413", "415", "422"] {
        assert!(
            add[status].is_object(),
            "POST /cart/items does not document {status}"
        );
    }
    for (method, path, statuses) in [
        ("get", "/api/v1/books", &["200", "304", "400", "422"][..]),
        ("get", "/api/v1/books/{id}", &["200", "304", "400", "404"]),
        (
            "delete",
            "/api/v1/privacy",
            &[
                "204", "400", "401", "403", "409", "413", "415", "422", "429", "503",
            ],
        ),
        ("get", "/api/v1/privacy", &["200", "503"]),
        ("get", "/api/v1/privacy/export", &["200", "503"]),
    ] {
        let responses = &paths[path][method]["responses"];
        for status in statuses {
            assert!(
                responses[*status].is_object(),
                "{method} {path} does not document {status}"
            );
        }
    }
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for name in [
        "Problem",
        "CartView",
        "Product",
        "ProductPage",
        "AddItem",
        "SetQuantity",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
        assert!(
            schemas[name].get("example").is_some() || name == "ProductPage",
            "schema {name} has no example"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    let page = app.get("/swagger-ui/").await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for asset in [
        "/swagger-ui/swagger-ui.css",
        "/swagger-ui/swagger-ui-bundle.js",
        "/swagger-ui/swagger-initializer.js",
    ] {
        let res = app.get(asset).await;
        assert_eq!(res.status(), 200, "{asset}");
        let body = res.text().await.unwrap();
        assert!(body.len() > 100, "{asset} is empty");
        if asset.ends_with("initializer.js") {
            assert!(
                body.contains("/api-docs/openapi.json"),
                "the UI does not load our spec: {body}"
            );
        }
    }
}

#[tokio::test]
async fn the_spec_shows_each_cookie_as_a_cookie_parameter_or_a_set_cookie_header() {
    let spec: Value = serde_json::from_str(&committed_spec()).unwrap();
    let op = |path: &str, method: &str| spec["paths"][path][method].clone();
    let cookie_param = |op: &Value, name: &str| {
        op["parameters"].as_array().into_iter().flatten().any(|p| {
            p["in"] == "cookie"
                && p["name"] == name
                && p["description"]
                    .as_str()
                    .is_some_and(|d| d.contains("purpose"))
        })
    };
    let sets_cookie = |op: &Value, status: &str| {
        op["responses"][status]["headers"]
            .get("Set-Cookie")
            .is_some()
    };

    assert!(cookie_param(
        &op("/api/v1/preferences", "get"),
        "preferences"
    ));
    assert!(sets_cookie(&op("/api/v1/preferences", "put"), "200"));
    assert!(sets_cookie(&op("/api/v1/preferences", "delete"), "204"));
    assert!(cookie_param(&op("/api/v1/loyalty", "get"), "loyalty"));
    assert!(cookie_param(&op("/api/v1/orders", "post"), "loyalty"));
    assert!(cookie_param(&op("/api/v1/orders", "post"), "vip"));
    assert!(sets_cookie(&op("/api/v1/orders", "post"), "201"));
    assert!(cookie_param(&op("/api/v1/vip", "get"), "vip"));
    assert!(sets_cookie(&op("/api/v1/vip", "post"), "201"));
    assert!(sets_cookie(&op("/api/v1/session", "delete"), "200"));
    assert!(cookie_param(
        &op("/api/v1/visits", "post"),
        "last_visit_summary"
    ));
    let scheme = &spec["components"]["securitySchemes"]["session_cookie"];
    assert_eq!(
        (scheme["in"].as_str(), scheme["name"].as_str()),
        (Some("cookie"), Some("km_session"))
    );
}

/// Every operation of the committed spec: (method, path, operation).
fn operations(spec: &Value) -> Vec<(Method, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Ok(m) = method.to_uppercase().parse::<Method>() {
                ops.push((m, path.clone(), op.clone()));
            }
        }
    }
    assert!(
        ops.len() > 20,
        "the spec lists only {} operations",
        ops.len()
    );
    ops
}

fn committed() -> Value {
    serde_json::from_str(&committed_spec()).unwrap()
}

fn is_write(method: &Method) -> bool {
    [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(method)
}

/// A concrete URL path for a spec path: every path id is 1.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "1" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

/// The example the spec gives for an operation's JSON body, if it reads one.
fn example_body(spec: &Value, op: &Value) -> Option<Value> {
    let schema = &op["requestBody"]["content"]["application/json"]["schema"];
    if schema.is_null() {
        return None;
    }
    let name = schema["$ref"].as_str()?.rsplit('/').next()?;
    Some(spec["components"]["schemas"][name]["example"].clone())
}

/// Statuses that middleware and extractors send are in the spec wherever
/// they can be sent, as problem+json.
#[test]
fn every_operation_documents_the_statuses_middleware_and_extractors_send() {
    let spec = committed();
    let documents = |op: &Value, status: &str| {
        let response = &op["responses"][status];
        response["content"]["application/problem+json"]["schema"]["$ref"]
            == "#/components/schemas/Problem"
    };
    for (method, path, op) in operations(&spec) {
        let label = format!("{method} {path}");
        assert!(documents(&op, "408"), "{label} does not document 408");
        if is_write(&method) {
            assert!(documents(&op, "403"), "{label} does not document 403");
            let text = op["responses"]["403"]["description"].as_str().unwrap_or("");
            assert!(
                text.contains("/problems/cross-site-request"),
                "{label}: {text}"
            );
        }
        if !op["requestBody"].is_null() {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    documents(&op, status),
                    "{label} reads a body but does not document {status}"
                );
            }
        }
        if path.starts_with("/api/v1/") && is_write(&method) {
            assert!(
                documents(&op, "503"),
                "{label} takes a session turn but does not document 503"
            );
        }
    }
}

/// The operations that read or write the session say so with the
/// `session_cookie` scheme: as optional where they work without a cookie,
/// as required where they answer 401 without a signed-in session (signing
/// in answers 401 too, to wrong credentials, and needs no cookie). Each
/// says it can answer 503, but the menu, which is served without the
/// session when its store does not answer.
#[test]
fn operations_that_use_the_session_reference_the_session_cookie() {
    let spec = committed();
    let session_paths = [
        "/api/v1/auth",
        "/api/v1/cart",
        "/api/v1/profile",
        "/api/v1/visits",
        "/api/v1/session",
        "/api/v1/menu",
        "/api/v1/orders",
        "/api/v1/admin",
        "/api/v1/reading-list",
        "/api/v1/reading-history",
        "/api/v1/reader",
        "/api/v1/recommendations",
        "/api/v1/privacy",
    ];
    let optional_cookie = json!([{}, {"session_cookie": []}]);
    let required_cookie = json!([{"session_cookie": []}]);
    for (method, path, op) in operations(&spec) {
        let uses_session = session_paths
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")));
        if path.starts_with("/api/v1/admin/") {
            for status in ["401", "403", "503"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} lacks {status}"
                );
            }
        }
        if uses_session {
            let needs_sign_in = op["responses"]["401"]["description"]
                .as_str()
                .is_some_and(|d| d.starts_with("Not signed in"));
            let expected = if needs_sign_in {
                &required_cookie
            } else {
                &optional_cookie
            };
            assert_eq!(&op["security"], expected, "{method} {path}");
            let served_without_store = method == Method::GET && path == "/api/v1/menu";
            assert_eq!(
                op["responses"]["503"].is_object(),
                !served_without_store,
                "{method} {path}: 503"
            );
        } else {
            assert!(
                op["security"].is_null(),
                "{method} {path} does not use the session"
            );
        }
    }
}

/// What the spec says a write answers to another site's page is what it
/// answers, on every write.
#[tokio::test]
async fn every_write_refuses_a_cross_site_request_as_the_spec_says() {
    let spec = committed();
    let app = spawn_app().await;
    for (method, path, op) in operations(&spec).into_iter().filter(|(m, ..)| is_write(m)) {
        let mut req = app
            .client
            .request(method.clone(), app.url(&concrete(&path)))
            .header("Origin", "https://elsewhere.example");
        if let Some(body) = example_body(&spec, &op) {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 403, "{method} {path}");
        assert_problem(res, 403, "cross-site-request").await;
    }
}

/// Every operation that reads a body answers a body that is not JSON, not
/// sent as JSON, or too large as its spec says.
#[tokio::test]
async fn every_body_reading_operation_answers_bad_bodies_as_the_spec_says() {
    let spec = committed();
    let app = spawn_app().await;
    // Signed in as an admin, so that operations which need a sign-in get as
    // far as reading the body.
    assert_eq!(
        app.register("body-tester", crate::auth::PASSWORD)
            .await
            .status(),
        201
    );
    app.make_admin("body-tester").await;
    let too_large = format!("{{\"x\":\"{}\"}}", "a".repeat(70 * 1024));
    for (method, path, op) in operations(&spec) {
        if op["requestBody"].is_null() {
            continue;
        }
        let url = app.url(&concrete(&path));
        for (content_type, body, status, slug) in [
            ("application/json", "{".to_owned(), 400, "malformed-request"),
            ("text/plain", "{}".to_owned(), 415, "unsupported-media-type"),
            (
                "application/json",
                too_large.clone(),
                413,
                "payload-too-large",
            ),
        ] {
            let res = app
                .client
                .request(method.clone(), &url)
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), status, "{method} {path} with {content_type}");
            assert_problem(res, status, slug).await;
            assert!(
                op["responses"][status.to_string()].is_object(),
                "{method} {path}: {status}"
            );
        }
    }
}

/// With the session store broken, exactly the operations the spec marks
/// with the session cookie answer 503: the spec's marking is the truth. The
/// menu alone is marked and lists no 503: it is served without the
/// visitor's profile then.
#[tokio::test]
async fn exactly_the_operations_marked_with_the_session_cookie_use_the_session_store() {
    let spec = committed();
    let app = app().backend(Backend::Database).spawn().await;
    let visit = app
        .client
        .post(app.url("/api/v1/visits"))
        .send()
        .await
        .unwrap();
    assert_eq!(visit.status(), 200);
    app.sql("ALTER TABLE sessions RENAME TO sessions_away")
        .await;
    let mut served_without_store = Vec::new();

    for (method, path, op) in operations(&spec) {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let mut req = app
            .client
            .request(method.clone(), app.url(&concrete(&path)));
        if let Some(body) = example_body(&spec, &op) {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let marked = op["security"].to_string().contains("session_cookie");
        let needs_store = marked && op["responses"]["503"].is_object();
        assert_eq!(
            res.status() == 503,
            needs_store,
            "{method} {path} answered {} with the session store gone; marked as using the session: {marked}",
            res.status()
        );
        if marked && !needs_store {
            assert_eq!(res.status(), 200, "{method} {path}");
            served_without_store.push(format!("{method} {path}"));
        }
    }
    assert_eq!(served_without_store, ["GET /api/v1/menu"]);
}

/// Found by schemathesis: a path id below the spec's minimum of 1 was
/// answered 204 by DELETE, as if the line were gone.
#[tokio::test]
async fn removing_a_cart_line_with_an_id_below_one_is_a_bad_request() {
    let app = spawn_app().await;
    for id in ["0", "-3"] {
        let res = app.delete(&format!("/api/v1/cart/items/{id}")).await;
        let problem = assert_problem(res, 400, "malformed-request").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("positive"),
            "{problem}"
        );
    }
    let res = app.delete("/api/v1/cart/items/12345").await;
    assert_eq!(res.status(), 204, "an absent line is still a 204");
}

/// Found by schemathesis: POST /vip and POST /orders accept no body at
/// all, so the spec must not require one, nor invite a JSON `null`; nor
/// does DELETE /privacy for an anonymous visitor.
#[tokio::test]
async fn optional_bodies_are_documented_as_optional_objects() {
    let spec = committed();
    for (method, path) in [
        ("post", "/api/v1/vip"),
        ("post", "/api/v1/orders"),
        ("delete", "/api/v1/privacy"),
    ] {
        let body = &spec["paths"][path][method]["requestBody"];
        assert_ne!(body["required"], true, "{method} {path}");
        let schema = &body["content"]["application/json"]["schema"];
        assert!(schema["$ref"].is_string(), "{method} {path}: {schema}");
    }
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/vip"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let res = app
        .client
        .post(app.url("/api/v1/vip"))
        .header("Content-Type", "application/json")
        .body("null")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 422, "a JSON null is not the optional body");
    // Found by schemathesis: whitespace alone was taken for no body.
    let res = app
        .client
        .post(app.url("/api/v1/vip"))
        .header("Content-Type", "application/json")
        .body("\r")
        .send()
        .await
        .unwrap();
    assert!(
        res.status() == 400 || res.status() == 422,
        "whitespace is not JSON: {}",
        res.status()
    );
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "refused as a problem"
    );
}

/// Found by schemathesis: a page past the spec's (missing) maximum was
/// refused with "page starts at 1".
#[tokio::test]
async fn the_page_range_in_the_spec_is_the_one_the_service_accepts() {
    let spec = committed();
    let params = spec["paths"]["/api/v1/products"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let page = params.iter().find(|p| p["name"] == "page").unwrap();
    let max = page["schema"]["maximum"]
        .as_i64()
        .expect("page has a maximum");

    let app = spawn_app().await;
    let last = app.get(&format!("/api/v1/products?page={max}")).await;
    assert_eq!(last.status(), 200);
    let body: Value = last.json().await.unwrap();
    assert_eq!(body["items"], json!([]));
    let beyond = app.get(&format!("/api/v1/products?page={}", max + 1)).await;
    let problem = assert_problem(beyond, 422, "validation-failed").await;
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("between 1 and {max}")),
        "{message}"
    );
}

/// Clients generate one function per operation from its `operationId`, so
/// no two operations may share one.
#[test]
fn every_operation_id_is_unique() {
    let spec = committed();
    let mut seen = std::collections::HashSet::new();
    for (method, path, op) in operations(&spec) {
        let id = op["operationId"].as_str().unwrap_or_default().to_owned();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(
            seen.insert(id.clone()),
            "{method} {path} repeats operationId {id}"
        );
    }
}
