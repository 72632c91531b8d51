use serde_json::Value;

use crate::helpers::spawn_app;

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
