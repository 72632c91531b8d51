use serde_json::{Value, json};

use crate::helpers::{app, backends, session_cookie, spawn_app};

fn line_ids(cart: &Value) -> Vec<i64> {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["product_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_visitor_browses_fills_changes_and_empties_a_cart_on_every_session_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;

        // A new visitor has an empty cart and no session.
        let res = app.get("/api/v1/cart").await;
        assert!(
            session_cookie(res.headers()).is_none(),
            "{backend:?}: a read created a session"
        );
        let empty: Value = res.json().await.unwrap();
        assert_eq!(
            empty,
            json!({"lines": [], "unavailable": [], "item_count": 0, "total": "0.00"})
        );

        // Adding a new dish: 201 with the line's location, and the session cookie.
        let res = app.add(1, 2).await;
        assert_eq!(res.status(), 201, "{backend:?}");
        assert_eq!(res.headers()["location"], "/api/v1/cart/items/1");
        assert!(session_cookie(res.headers()).is_some());
        let cart: Value = res.json().await.unwrap();
        assert_eq!(
            cart["lines"][0],
            json!({"product_id": 1, "name": "Margherita Pizza", "unit_price": "12.50", "quantity": 2, "line_total": "25.00"})
        );

        // Adding more of it: 200, quantities accumulate; quantity defaults to 1.
        let res = app
            .post_json("/api/v1/cart/items", &json!({"product_id": 1}))
            .await;
        assert_eq!(res.status(), 200);
        let cart: Value = res.json().await.unwrap();
        assert_eq!(cart["lines"][0]["quantity"], 3);

        // Setting a quantity overrides it, and adds a line when needed.
        assert_eq!(app.set(6, 3).await.status(), 200);
        assert_eq!(app.set(1, 1).await.status(), 200);
        let cart = app.cart().await;
        assert_eq!(line_ids(&cart), [1, 6]);
        assert_eq!(cart["item_count"], 4);
        assert_eq!(cart["total"], "42.80", "12.50 + 3 x 10.10");

        // Removing a line; removing it again is still fine.
        assert_eq!(app.delete("/api/v1/cart/items/1").await.status(), 204);
        assert_eq!(app.delete("/api/v1/cart/items/1").await.status(), 204);
        let cart = app.cart().await;
        assert_eq!(line_ids(&cart), [6]);
        assert_eq!(cart["total"], "30.30");

        // Emptying the cart.
        assert_eq!(app.delete("/api/v1/cart").await.status(), 204);
        let cart = app.cart().await;
        assert_eq!(cart["lines"], json!([]));
        assert_eq!(cart["total"], "0.00");
        assert_eq!(app.delete("/api/v1/cart").await.status(), 204);
    }
}

#[tokio::test]
async fn prices_come_from_the_menu_at_read_time() {
    let app = spawn_app().await;
    app.add(2, 2).await;
    app.sql("UPDATE products SET price_cents = 1999 WHERE id = 2")
        .await;
    let cart = app.cart().await;
    assert_eq!(cart["lines"][0]["unit_price"], "19.99");
    assert_eq!(cart["total"], "39.98");
}

#[tokio::test]
async fn a_line_whose_dish_is_unavailable_or_gone_is_reported_and_left_out_of_the_total() {
    let app = spawn_app().await;
    for id in [1, 2, 3] {
        assert!(app.add(id, 1).await.status().is_success());
    }
    app.sql("UPDATE products SET available = false WHERE id = 2")
        .await;
    app.sql("DELETE FROM products WHERE id = 3").await;

    let cart = app.cart().await;
    assert_eq!(line_ids(&cart), [1]);
    assert_eq!(cart["item_count"], 1);
    assert_eq!(cart["total"], "12.50");
    assert_eq!(
        cart["unavailable"],
        json!([
            {"product_id": 2, "name": "Chicken Tikka Masala", "quantity": 1, "reason": "unavailable"},
            {"product_id": 3, "name": null, "quantity": 1, "reason": "removed"},
        ])
    );

    // The visitor can still remove such a line.
    assert_eq!(app.delete("/api/v1/cart/items/3").await.status(), 204);
    assert_eq!(app.cart().await["unavailable"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn money_stays_exact_through_quantities_and_totals() {
    let app = spawn_app().await;
    app.sql("UPDATE products SET price_cents = 1999 WHERE id = 1")
        .await;
    app.sql("UPDATE products SET price_cents = 1010 WHERE id = 2")
        .await;
    app.sql("UPDATE products SET price_cents = 10 WHERE id = 3")
        .await;
    app.set(1, 3).await;
    app.set(2, 7).await;
    app.set(3, 3).await;
    let cart = app.cart().await;
    assert_eq!(cart["lines"][0]["line_total"], "59.97");
    assert_eq!(cart["lines"][1]["line_total"], "70.70");
    assert_eq!(cart["lines"][2]["line_total"], "0.30");
    assert_eq!(cart["total"], "130.97");
}

#[tokio::test]
async fn dish_ids_past_what_the_menu_can_hold_are_unknown_dishes_never_another_dish() {
    let app = spawn_app().await;
    app.add(1, 1).await;
    // 2^32 + 1 would be dish 1 if it were narrowed to 32 bits.
    let wrapped = 4_294_967_297_i64;

    let res = app.add(wrapped, 1).await;
    let problem = crate::helpers::assert_problem(res, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "product_id");
    // In a path, an id past the largest is refused before any lookup.
    crate::helpers::assert_problem(app.set(wrapped, 2).await, 400, "malformed-request").await;
    crate::helpers::assert_problem(
        app.get(&format!("/api/v1/products/{wrapped}")).await,
        400,
        "malformed-request",
    )
    .await;
    let res = app
        .post_json(
            "/api/v1/orders",
            &json!({"special_requests": {wrapped.to_string(): "extra basil"}}),
        )
        .await;
    let problem = crate::helpers::assert_problem(res, 422, "validation-failed").await;
    assert_eq!(
        problem["errors"][0]["field"],
        format!("special_requests.{wrapped}")
    );

    assert_eq!(app.cart().await["lines"][0]["quantity"], 1);
    crate::helpers::assert_problem(
        app.delete(&format!("/api/v1/cart/items/{wrapped}")).await,
        400,
        "malformed-request",
    )
    .await;
    assert_eq!(app.cart().await["lines"][0]["product_id"], 1);
}
