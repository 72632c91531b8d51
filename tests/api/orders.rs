use serde_json::{Value, json};

use crate::helpers::{TestApp, app, assert_problem, spawn_app};

async fn stock(app: &TestApp, id: i64) -> i64 {
    let dish: Value = app.get_json(&format!("/api/v1/products/{id}")).await;
    dish["stock"].as_i64().unwrap()
}

async fn place(app: &TestApp, client: &reqwest::Client, body: Option<Value>) -> reqwest::Response {
    let req = client.post(app.url("/api/v1/orders"));
    match body {
        Some(b) => req.json(&b),
        None => req,
    }
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn checkout_turns_the_cart_into_an_order_and_takes_the_stock() {
    let app = spawn_app().await;
    app.sql("UPDATE products SET price_cents = 1999 WHERE id = 2")
        .await;
    let (stock1, stock2) = (stock(&app, 1).await, stock(&app, 2).await);
    app.add(1, 2).await;
    app.add(2, 1).await;

    let res = place(
        &app,
        &app.client,
        Some(json!({"special_requests": {"1": "  extra basil  "}})),
    )
    .await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let order: Value = res.json().await.unwrap();
    let id = order["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/orders/{id}"));
    assert_eq!(order["status"], "received");
    assert_eq!(order["total"], "44.99");
    assert_eq!(
        order["lines"],
        json!([
            {"product_id": 1, "name": "Margherita Pizza", "unit_price": "12.50", "quantity": 2, "line_total": "25.00", "special_requests": "extra basil"},
            {"product_id": 2, "name": "Chicken Tikka Masala", "unit_price": "19.99", "quantity": 1, "line_total": "19.99", "special_requests": null},
        ])
    );
    assert!(order["created_at"].as_str().unwrap().ends_with('Z'));

    // The cart is empty, the stock is taken, and the order keeps its prices.
    assert_eq!(app.cart().await["lines"], json!([]));
    assert_eq!(stock(&app, 1).await, stock1 - 2);
    assert_eq!(stock(&app, 2).await, stock2 - 1);
    app.sql("UPDATE products SET price_cents = 5000 WHERE id = 1")
        .await;
    let again: Value = app.get_json(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(again, order);
}

#[tokio::test]
async fn the_session_lists_its_orders_newest_first_and_hides_others() {
    let app = spawn_app().await;
    app.add(1, 1).await;
    let first: Value = place(&app, &app.client, None).await.json().await.unwrap();
    app.add(3, 1).await;
    let second: Value = place(&app, &app.client, Some(json!({})))
        .await
        .json()
        .await
        .unwrap();

    let list: Value = app.get_json("/api/v1/orders").await;
    let ids: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["id"])
        .collect();
    assert_eq!(ids, [&second["id"], &first["id"]]);

    // Another visitor sees neither.
    let stranger = app.another_visitor();
    let res = stranger
        .get(app.url(&format!("/api/v1/orders/{}", first["id"])))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    let theirs: Value = stranger
        .get(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["items"], json!([]));

    assert_problem(app.get("/api/v1/orders/999999").await, 404, "not-found").await;
    assert_problem(
        app.get("/api/v1/orders/first").await,
        400,
        "malformed-request",
    )
    .await;
}

#[tokio::test]
async fn an_empty_cart_cannot_be_ordered() {
    let app = spawn_app().await;
    assert_problem(place(&app, &app.client, None).await, 422, "empty-cart").await;
}

#[tokio::test]
async fn when_a_line_no_longer_fits_nothing_is_ordered_and_the_lines_are_named() {
    let app = spawn_app().await;
    app.add(1, 2).await;
    app.add(11, 3).await;
    app.add(12, 1).await;
    app.sql("UPDATE products SET stock = 1 WHERE id = 11").await;
    app.sql("UPDATE products SET available = false WHERE id = 12")
        .await;
    let before_cart = app.cart().await;
    let stock1 = stock(&app, 1).await;

    let body = assert_problem(
        place(&app, &app.client, None).await,
        409,
        "cart-not-orderable",
    )
    .await;
    assert_eq!(
        body["lines"],
        json!([
            {"product_id": 11, "name": "Lamb Rogan Josh", "requested": 3, "in_stock": 1, "reason": "insufficient-stock"},
            {"product_id": 12, "name": "Sushi Platter", "requested": 1, "in_stock": 15, "reason": "unavailable"},
        ])
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Lamb Rogan Josh: 3 in the cart, 1 left"),
        "{body}"
    );

    // Nothing taken, nothing ordered, the cart as it was.
    assert_eq!(stock(&app, 1).await, stock1);
    assert_eq!(stock(&app, 11).await, 1);
    assert_eq!(app.cart().await, before_cart);
    let list: Value = app.get_json("/api/v1/orders").await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn bad_special_requests_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    app.add(1, 1).await;
    let stock1 = stock(&app, 1).await;
    for (body, field) in [
        (
            json!({"special_requests": {"1": "x".repeat(201)}}),
            "special_requests.1",
        ),
        (
            json!({"special_requests": {"5": "not in the cart"}}),
            "special_requests.5",
        ),
        (
            json!({"special_requests": {"pizza": "?"}}),
            "special_requests.pizza",
        ),
        (json!({"special_requests": {"1": 5}}), "special_requests.1"),
        (json!({"notes": "x"}), "notes"),
    ] {
        let res = place(&app, &app.client, Some(body.clone())).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{body} -> {problem}");
    }
    assert_eq!(stock(&app, 1).await, stock1);
    assert_eq!(app.cart().await["item_count"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checkouts_never_sell_more_than_the_stock() {
    let app = app().spawn().await;
    app.sql("UPDATE products SET stock = 3 WHERE id = 9").await;
    let visitors: Vec<reqwest::Client> = (0..10).map(|_| app.another_visitor()).collect();
    for v in &visitors {
        let res = v
            .post(app.url("/api/v1/cart/items"))
            .json(&json!({"product_id": 9, "quantity": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }

    let attempts = visitors.iter().map(|v| place(&app, v, None));
    let results = futures_util::future::join_all(attempts).await;
    let statuses: Vec<u16> = results.iter().map(|r| r.status().as_u16()).collect();
    let sold = statuses.iter().filter(|s| **s == 201).count();
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!((sold, refused), (3, 7), "{statuses:?}");
    assert_eq!(stock(&app, 9).await, 0);

    // The orders in the database add up to the stock that was there.
    let (backend, sql) = (
        app.db.get_database_backend(),
        "SELECT COALESCE(SUM(quantity), 0) AS n FROM order_lines WHERE product_id = 9",
    );
    use sea_orm::ConnectionTrait;
    let row = app
        .db
        .query_one_raw(sea_orm::Statement::from_string(backend, sql))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i64>("", "n").unwrap(), 3);
}
