use serde_json::Value;

use crate::helpers::{assert_problem, spawn_app};

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
    for path in [
        "/api/v1/products/999",
        "/api/v1/products/0",
        "/api/v1/products/-3",
    ] {
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
async fn browsing_the_menu_creates_no_session() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/products").await;
    assert!(res.headers().get("set-cookie").is_none());
}
