use serde_json::Value;

use crate::helpers::{COOKIE, SECRET_KEY, app, assert_problem, session_cookie, spawn_app};

#[tokio::test]
async fn the_menu_lists_the_demo_dishes_a_page_at_a_time() {
    let app = spawn_app().await;

    let first: Value = app.get_json("/api/v1/products").await;
    assert_eq!(first["page"], 1);
    assert_eq!(first["per_page"], 20);
    assert_eq!(first["total"], 20);
    assert_eq!(first["items"].as_array().unwrap().len(), 20);
    let dish = &first["items"][0];
    for field in [
        "id",
        "name",
        "description",
        "price",
        "image_url",
        "stock",
        "available",
    ] {
        assert!(dish.get(field).is_some(), "missing {field} in {dish}");
    }

    let second: Value = app.get_json("/api/v1/products?page=2&per_page=7").await;
    let ids: Vec<i64> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, (8..=14).collect::<Vec<_>>());

    let beyond: Value = app.get_json("/api/v1/products?page=9").await;
    assert_eq!(beyond["items"].as_array().unwrap().len(), 0);
    assert_eq!(beyond["total"], 20);
}

#[tokio::test]
async fn prices_are_exact_decimal_strings() {
    let app = spawn_app().await;
    app.sql("UPDATE products SET price_cents = 1999 WHERE id = 1")
        .await;
    app.sql("UPDATE products SET price_cents = 1010 WHERE id = 2")
        .await;
    app.sql("UPDATE products SET price_cents = 1000 WHERE id = 3")
        .await;

    for (id, price) in [(1, "19.99"), (2, "10.10"), (3, "10.00")] {
        let dish: Value = app.get_json(&format!("/api/v1/products/{id}")).await;
        assert_eq!(dish["price"], price);
    }
}

#[tokio::test]
async fn an_unavailable_dish_leaves_the_list_but_can_still_be_looked_up() {
    let app = spawn_app().await;
    app.sql("UPDATE products SET available = false WHERE id = 4")
        .await;

    let list: Value = app.get_json("/api/v1/products?per_page=100").await;
    assert_eq!(list["total"], 19);
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["id"] != 4)
    );

    let dish: Value = app.get_json("/api/v1/products/4").await;
    assert_eq!(dish["available"], false);
}

#[tokio::test]
async fn an_unknown_dish_is_a_404_problem() {
    let app = spawn_app().await;
    for path in ["/api/v1/products/999", "/api/v1/products/2147483647"] {
        assert_problem(app.get(path).await, 404, "not-found").await;
    }
}

#[tokio::test]
async fn a_non_integer_dish_id_is_a_400_problem() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/products/abc",
        "/api/v1/products/1.5",
        "/api/v1/products/99999999999999999999",
        "/api/v1/products/0",
        "/api/v1/products/-3",
        "/api/v1/products/2147483648",
    ] {
        assert_problem(app.get(path).await, 400, "malformed-request").await;
    }
}

#[tokio::test]
async fn bad_paging_names_the_offending_parameters() {
    let app = spawn_app().await;
    let body = assert_problem(
        app.get("/api/v1/products?page=0&per_page=101").await,
        422,
        "validation-failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["page", "per_page"]);

    assert_problem(
        app.get("/api/v1/products?page=first").await,
        400,
        "malformed-request",
    )
    .await;
}

#[tokio::test]
async fn a_bad_path_id_or_query_value_is_explained_in_our_words() {
    let app = spawn_app().await;
    let body = assert_problem(
        app.get("/api/v1/products/abc").await,
        400,
        "malformed-request",
    )
    .await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("A path parameter is invalid: ")
            && detail.ends_with("Ids are positive integers."),
        "{body}"
    );

    let body = assert_problem(
        app.get("/api/v1/products?page=first").await,
        400,
        "malformed-request",
    )
    .await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.starts_with("The query string is invalid: "),
        "{body}"
    );
    assert!(!detail.contains("Failed to deserialize"), "{body}");
}

#[tokio::test]
async fn browsing_the_menu_creates_no_session() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/products").await;
    assert!(res.headers().get("set-cookie").is_none());
}

async fn get_with(
    client: &reqwest::Client,
    url: String,
    header: (&str, &str),
) -> reqwest::Response {
    client
        .get(url)
        .header(header.0, header.1)
        .send()
        .await
        .unwrap()
}

fn etag_of(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_menu_may_be_kept_by_shared_caches_for_as_long_as_the_service_keeps_it() {
    let app = app().var("CATALOG_CACHE_TTL_MS", "2500").spawn().await;
    for path in ["/api/v1/products", "/api/v1/products/1"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), 200, "{path}");
        // 2.5 s of the service's own menu cache, rounded up.
        assert_eq!(
            res.headers()["cache-control"],
            "public, max-age=3",
            "{path}"
        );
        let etag = etag_of(&res);
        assert!(
            etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
            "{path}: a strong entity tag: {etag}"
        );
    }
}

#[tokio::test]
async fn an_error_from_the_menu_is_never_marked_for_shared_caches() {
    let app = spawn_app().await;
    for (path, status) in [
        ("/api/v1/products/999", 404),
        ("/api/v1/products/abc", 400),
        ("/api/v1/products?page=0", 422),
        ("/api/v1/products?spice=volcanic", 422),
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status(), status, "{path}");
        let cache_control = res
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            !cache_control.contains("public") && !cache_control.contains("max-age"),
            "{path}: Cache-Control: {cache_control}"
        );
    }
}

#[tokio::test]
async fn a_client_holding_the_current_menu_gets_a_304_and_a_new_etag_once_a_dish_changes() {
    let app = spawn_app().await;
    for path in ["/api/v1/products?per_page=5", "/api/v1/products/1"] {
        let first = app.get(path).await;
        let etag = etag_of(&first);

        // The same version, as a browser or a cache would send it back.
        for held in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"something-else\", {etag}"),
            "*".to_owned(),
        ] {
            let res = get_with(&app.client, app.url(path), ("if-none-match", &held)).await;
            assert_eq!(res.status(), 304, "{path} with If-None-Match: {held}");
            assert_eq!(etag_of(&res), etag);
            assert!(
                res.headers()["cache-control"]
                    .to_str()
                    .unwrap()
                    .starts_with("public")
            );
            assert!(res.bytes().await.unwrap().is_empty(), "a 304 has no body");
        }
        // Another version, or a header that is not an entity tag, gets the menu.
        for held in ["\"an-older-menu\"", "not an entity tag"] {
            let res = get_with(&app.client, app.url(path), ("if-none-match", held)).await;
            assert_eq!(res.status(), 200, "{path} with If-None-Match: {held}");
            assert_eq!(etag_of(&res), etag);
        }
    }

    let list = etag_of(&app.get("/api/v1/products").await);
    let dish = etag_of(&app.get("/api/v1/products/1").await);
    app.sql("UPDATE products SET price_cents = 1399 WHERE id = 1")
        .await;

    let res = get_with(
        &app.client,
        app.url("/api/v1/products/1"),
        ("if-none-match", &dish),
    )
    .await;
    assert_eq!(res.status(), 200, "the dish changed");
    assert_ne!(etag_of(&res), dish);
    assert_eq!(res.json::<Value>().await.unwrap()["price"], "13.99");
    let res = get_with(
        &app.client,
        app.url("/api/v1/products"),
        ("if-none-match", &list),
    )
    .await;
    assert_eq!(res.status(), 200, "the menu changed");
    assert_ne!(etag_of(&res), list);
}

#[tokio::test]
async fn every_instance_gives_the_same_menu_the_same_etag() {
    let app = spawn_app().await;
    let other = app.another_instance().await;
    let here = etag_of(&app.get("/api/v1/products/2").await);
    let there = app
        .another_visitor()
        .get(format!("{}/api/v1/products/2", other.base))
        .send()
        .await
        .unwrap();
    assert_eq!(etag_of(&there), here);
}

#[tokio::test]
async fn the_menu_never_sets_a_cookie_whatever_session_cookie_comes_with_it() {
    let mut app = spawn_app().await;
    // A visitor with a session and a cart.
    assert_eq!(app.add(1, 1).await.status(), 201);
    let session = app.cart().await;

    // Garbled, forged or signed with a key now retired: not the menu's business.
    let garbled = format!("{COOKIE}=not-a-signed-value");
    for path in [
        "/api/v1/products",
        "/api/v1/products/1",
        "/api/v1/products/0",
    ] {
        let res = app.get(path).await;
        assert!(res.headers().get("set-cookie").is_none(), "{path}");
        let res = get_with(&app.another_visitor(), app.url(path), ("cookie", &garbled)).await;
        assert!(
            res.headers().get("set-cookie").is_none(),
            "{path} with a garbled cookie"
        );
    }

    // After a key rotation the session routes re-issue the cookie; the menu does not.
    const NEW: &str = "the-new-secret-key-0123456789abcdef-0123456789";
    app.set_var("SECRET_KEY", Some(NEW));
    app.set_var("SECRET_KEY_FALLBACKS", Some(SECRET_KEY));
    app.restart().await;
    let res = app.get("/api/v1/products").await;
    assert!(
        res.headers().get("set-cookie").is_none(),
        "re-signed by the menu"
    );
    let res = app.get("/api/v1/cart").await;
    assert!(
        session_cookie(res.headers()).is_some(),
        "the cart re-signs the cookie"
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.json::<Value>().await.unwrap(), session);
}
