//! The admin who runs the menu: who may, what is checked, and how soon a
//! change shows in carts and the menu, on this instance and on others.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, app, assert_problem, send, services};

const PASSWORD: &str = "saffron-lantern-harbor-71";
/// Long enough that only an invalidation, never the TTL, can explain a
/// change seen during a test.
pub(crate) const LONG_TTL_MS: &str = "600000";

/// Signs the app's own client in as a new admin, `chef`.
pub(crate) async fn sign_in_as_admin(app: &TestApp) {
    assert_eq!(app.register("chef", PASSWORD).await.status(), 201);
    app.make_admin("chef").await;
}

async fn post(app: &TestApp, body: &Value) -> reqwest::Response {
    send(
        &app.client,
        reqwest::Method::POST,
        app.url("/api/v1/admin/products"),
        Some(body),
    )
    .await
}

async fn put(app: &TestApp, id: i64, body: &Value) -> reqwest::Response {
    send(
        &app.client,
        reqwest::Method::PUT,
        app.url(&format!("/api/v1/admin/products/{id}")),
        Some(body),
    )
    .await
}

pub(crate) async fn patch(
    app: &TestApp,
    id: impl std::fmt::Display,
    body: &Value,
) -> reqwest::Response {
    send(
        &app.client,
        reqwest::Method::PATCH,
        app.url(&format!("/api/v1/admin/products/{id}")),
        Some(body),
    )
    .await
}

async fn delete(app: &TestApp, id: i64) -> reqwest::Response {
    app.delete(&format!("/api/v1/admin/products/{id}")).await
}

fn ramen() -> Value {
    json!({
        "name": "Miso Ramen",
        "description": "Pork broth, white miso, soft egg.",
        "price": "14.50",
        "image_url": "https://images.example.com/dishes/miso-ramen.jpg",
        "stock": 12,
        "spice_level": "medium",
        "dietary_tags": ["dairy-free", "nut-free"],
        "cuisine": "japanese",
    })
}

/// A visitor's cart, read through `base`.
pub(crate) async fn cart_at(client: &reqwest::Client, base: &str) -> Value {
    let res = client
        .get(format!("{base}/api/v1/cart"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

pub(crate) async fn add_at(
    client: &reqwest::Client,
    base: &str,
    id: i64,
    quantity: i64,
) -> reqwest::Response {
    client
        .post(format!("{base}/api/v1/cart/items"))
        .json(&json!({"product_id": id, "quantity": quantity}))
        .send()
        .await
        .unwrap()
}

pub(crate) fn unit_price(cart: &Value, id: i64) -> String {
    cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_id"] == id)
        .map(|l| l["unit_price"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no line for dish {id}: {cart}"))
}

/// A GET's JSON body, read by `client`.
async fn json_at(client: &reqwest::Client, url: impl reqwest::IntoUrl) -> Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

async fn menu_etag(client: &reqwest::Client, base: &str) -> String {
    let res = client
        .get(format!("{base}/api/v1/products"))
        .send()
        .await
        .unwrap();
    res.headers()["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn admin_routes_refuse_anonymous_visitors_with_401_and_customers_with_403() {
    let app = app().spawn().await;
    let before: Value = app.get_json("/api/v1/products/1").await;
    let attempts = |app: &TestApp| {
        let client = app.client.clone();
        let base = app.base.clone();
        async move {
            let mut answers = Vec::new();
            for (method, path, body) in [
                (
                    reqwest::Method::POST,
                    "/api/v1/admin/products",
                    Some(ramen()),
                ),
                (
                    reqwest::Method::PUT,
                    "/api/v1/admin/products/1",
                    Some(ramen()),
                ),
                (
                    reqwest::Method::PATCH,
                    "/api/v1/admin/products/1",
                    Some(json!({"price": "1.00"})),
                ),
                (reqwest::Method::DELETE, "/api/v1/admin/products/1", None),
            ] {
                let url = format!("{base}{path}");
                answers.push((
                    format!("{method} {path}"),
                    send(&client, method, url, body.as_ref()).await,
                ));
            }
            answers
        }
    };

    for (what, res) in attempts(&app).await {
        let problem = assert_problem(res, 401, "unauthorized").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("Sign in"),
            "{what}: {problem}"
        );
    }
    assert_eq!(app.register("sam", PASSWORD).await.status(), 201);
    for (what, res) in attempts(&app).await {
        let problem = assert_problem(res, 403, "forbidden").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("admin"),
            "{what}: {problem}"
        );
    }

    let after: Value = app.get_json("/api/v1/products/1").await;
    assert_eq!(after, before, "nothing changed");
    let menu: Value = app.get_json("/api/v1/products?per_page=100").await;
    assert_eq!(menu["total"], 20, "nothing was created");
}

#[tokio::test]
async fn an_admin_creates_a_dish_that_shows_on_the_menu_and_goes_in_carts_at_once() {
    let app = app().var("CATALOG_CACHE_TTL_MS", LONG_TTL_MS).spawn().await;
    let customer = app.another_visitor();
    let etag_before = menu_etag(&customer, &app.base).await;
    sign_in_as_admin(&app).await;

    let res = post(&app, &ramen()).await;
    assert_eq!(res.status(), 201);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    let dish: Value = res.json().await.unwrap();
    let id = dish["id"].as_i64().unwrap();
    assert_eq!(location, format!("/api/v1/products/{id}"));
    assert_eq!(
        dish,
        json!({
            "id": id, "name": "Miso Ramen", "description": "Pork broth, white miso, soft egg.",
            "price": "14.50", "image_url": "https://images.example.com/dishes/miso-ramen.jpg",
            "stock": 12, "available": true, "spice_level": "medium",
            "dietary_tags": ["dairy-free", "nut-free"], "cuisine": "japanese",
        })
    );

    // The public read, the menu and a cart see it at once.
    let shown: Value = json_at(&customer, app.url(&location)).await;
    assert_eq!(shown, dish);
    assert_ne!(menu_etag(&customer, &app.base).await, etag_before);
    let menu: Value = json_at(&customer, app.url("/api/v1/products?q=ramen")).await;
    assert_eq!(menu["items"], json!([dish]));
    assert_eq!(add_at(&customer, &app.base, id, 2).await.status(), 201);
    let cart = cart_at(&customer, &app.base).await;
    assert_eq!(cart["total"], "29.00");

    // The optional fields have their defaults.
    let plain = json!({"name": "Rice", "description": "Steamed.", "price": "2", "stock": 0});
    let res = post(&app, &plain).await;
    assert_eq!(res.status(), 201);
    let rice: Value = res.json().await.unwrap();
    assert_eq!(rice["price"], "2.00");
    assert_eq!(rice["image_url"], Value::Null);
    assert_eq!(rice["available"], true);
    assert_eq!(rice["spice_level"], "mild");
    assert_eq!(rice["dietary_tags"], json!([]));
    assert_eq!(rice["cuisine"], Value::Null);
}

#[tokio::test]
async fn invalid_dishes_are_refused_naming_every_field_and_change_nothing() {
    let app = app().spawn().await;
    sign_in_as_admin(&app).await;
    let before: Value = app.get_json("/api/v1/products?per_page=100").await;

    let bad = json!({
        "name": "   ",
        "description": "x".repeat(1001),
        "price": "12.345",
        "image_url": "ftp://images.example.com/x.jpg",
        "stock": -1,
        "spice_level": "volcanic",
        "dietary_tags": ["vegan", "paleo"],
        "cuisine": "martian",
    });
    let problem = assert_problem(post(&app, &bad).await, 422, "validation-failed").await;
    let mut fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "cuisine",
            "description",
            "dietary_tags",
            "image_url",
            "name",
            "price",
            "spice_level",
            "stock"
        ],
        "{problem}"
    );

    // Prices: positive, two decimals, a decimal string.
    for (price, why) in [
        (json!("0.00"), "more than zero"),
        (json!("-3.00"), "decimal string"),
        (json!("9.999"), "two decimal places"),
        (json!("100000.01"), "at most"),
        (json!(12.5), "string"),
    ] {
        let mut body = ramen();
        body["price"] = price.clone();
        let problem = assert_problem(put(&app, 1, &body).await, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "price", "{price}: {problem}");
        assert!(
            problem["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{price}: {problem}"
        );
    }

    // Missing and unknown fields; a patch that clears what cannot be cleared.
    let mut missing = ramen();
    missing.as_object_mut().unwrap().remove("price");
    let problem = assert_problem(post(&app, &missing).await, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "price", "{problem}");
    let mut unknown = ramen();
    unknown["calories"] = json!(500);
    let problem = assert_problem(post(&app, &unknown).await, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "calories", "{problem}");
    let problem = assert_problem(
        patch(&app, 1, &json!({"name": null, "stock": null})).await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");

    // Unknown and malformed ids.
    assert_problem(put(&app, 999_999, &ramen()).await, 404, "not-found").await;
    assert_problem(
        patch(&app, 999_999, &json!({"stock": 1})).await,
        404,
        "not-found",
    )
    .await;
    assert_problem(delete(&app, 999_999).await, 404, "not-found").await;
    assert_problem(
        patch(&app, "ramen", &json!({"stock": 1})).await,
        400,
        "malformed-request",
    )
    .await;
    assert_problem(
        patch(&app, 0, &json!({"stock": 1})).await,
        400,
        "malformed-request",
    )
    .await;

    let after: Value = app.get_json("/api/v1/products?per_page=100").await;
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_replaced_or_patched_dish_shows_in_carts_and_the_menu_at_once() {
    let app = app().var("CATALOG_CACHE_TTL_MS", LONG_TTL_MS).spawn().await;
    let customer = app.another_visitor();
    assert_eq!(add_at(&customer, &app.base, 1, 2).await.status(), 201);
    assert_eq!(unit_price(&cart_at(&customer, &app.base).await, 1), "12.50");
    let etag_before = menu_etag(&customer, &app.base).await;
    sign_in_as_admin(&app).await;

    // Replace: every field as sent, the optional ones absent reset.
    let res = put(&app, 1, &ramen()).await;
    assert_eq!(res.status(), 200);
    let replaced: Value = res.json().await.unwrap();
    assert_eq!(replaced["id"], 1);
    assert_eq!(replaced["name"], "Miso Ramen");
    let cart = cart_at(&customer, &app.base).await;
    assert_eq!(cart["lines"][0]["name"], "Miso Ramen", "{cart}");
    assert_eq!(cart["total"], "29.00");
    let etag_replaced = menu_etag(&customer, &app.base).await;
    assert_ne!(etag_replaced, etag_before);

    // Patch: only the fields sent change; null clears the picture.
    let res = patch(
        &app,
        1,
        &json!({"price": "9.99", "image_url": null, "dietary_tags": ["vegan"]}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    let mut expected = replaced.clone();
    expected["price"] = json!("9.99");
    expected["image_url"] = Value::Null;
    expected["dietary_tags"] = json!(["vegan"]);
    assert_eq!(patched, expected);
    let shown: Value = json_at(&customer, app.url("/api/v1/products/1")).await;
    assert_eq!(shown, patched);
    let cart = cart_at(&customer, &app.base).await;
    assert_eq!(unit_price(&cart, 1), "9.99");
    assert_eq!(cart["total"], "19.98");
    let menu: Value = json_at(&customer, app.url("/api/v1/menu")).await;
    let on_menu = menu["others"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == 1)
        .unwrap();
    assert_eq!(on_menu["price"], "9.99", "{menu}");
    assert_ne!(menu_etag(&customer, &app.base).await, etag_replaced);

    // An empty patch changes nothing and says so with the dish.
    let res = patch(&app, 1, &json!({})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap(), patched);
}

#[tokio::test]
async fn a_deleted_dish_leaves_the_menu_and_carts_but_stays_in_order_history() {
    let app = app().var("CATALOG_CACHE_TTL_MS", LONG_TTL_MS).spawn().await;
    let customer = app.another_visitor();
    assert_eq!(add_at(&customer, &app.base, 2, 1).await.status(), 201);
    let res = customer
        .post(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let order: Value = res.json().await.unwrap();
    let order_url = app.url(&format!("/api/v1/orders/{}", order["id"]));
    assert_eq!(add_at(&customer, &app.base, 2, 1).await.status(), 201);
    sign_in_as_admin(&app).await;

    assert_eq!(delete(&app, 2).await.status(), 204);
    assert_eq!(
        delete(&app, 2).await.status(),
        204,
        "deleting again is fine"
    );

    // Off the menu, out of the cart's total, refused when added.
    let shown: Value = json_at(&customer, app.url("/api/v1/products/2")).await;
    assert_eq!(shown["available"], false);
    let menu: Value = json_at(&customer, app.url("/api/v1/products?per_page=100")).await;
    assert!(
        menu["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["id"] != 2),
        "{menu}"
    );
    let cart = cart_at(&customer, &app.base).await;
    assert_eq!(cart["lines"], json!([]));
    assert_eq!(
        cart["unavailable"],
        json!([{"product_id": 2, "name": "Chicken Tikka Masala", "quantity": 1, "reason": "unavailable"}])
    );
    assert_problem(
        add_at(&customer, &app.base, 2, 1).await,
        409,
        "product-unavailable",
    )
    .await;

    // The order placed before still shows its line as it was.
    let again: Value = json_at(&customer, &order_url).await;
    assert_eq!(again, order);
    assert_eq!(again["lines"][0]["name"], "Chicken Tikka Masala");

    // Putting it back on the menu is a patch.
    let res = patch(&app, 2, &json!({"available": true})).await;
    assert_eq!(res.status(), 200);
    assert_eq!(add_at(&customer, &app.base, 2, 1).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn with_redis_a_price_change_shows_in_a_cart_on_another_instance_at_once() {
    assert!(
        services().is_some(),
        "set TEST_DATABASE_URL and TEST_REDIS_URL"
    );
    let app = app()
        .backend(Backend::Redis)
        .var("CATALOG_CACHE_TTL_MS", LONG_TTL_MS)
        .spawn()
        .await;
    let other = app.another_instance().await;
    let customer = app.another_visitor();
    assert_eq!(add_at(&customer, &other.base, 1, 2).await.status(), 201);
    assert_eq!(
        unit_price(&cart_at(&customer, &other.base).await, 1),
        "12.50"
    );
    let etag_before = menu_etag(&customer, &other.base).await;
    sign_in_as_admin(&app).await;

    for (round, price) in ["11.25", "13.75", "12.00"].into_iter().enumerate() {
        let res = patch(&app, 1, &json!({"price": price})).await;
        assert_eq!(res.status(), 200);
        let cart = cart_at(&customer, &other.base).await;
        assert_eq!(unit_price(&cart, 1), price, "round {round}: {cart}");
    }
    assert_ne!(menu_etag(&customer, &other.base).await, etag_before);
    // Both instances agree on the menu's version.
    assert_eq!(
        menu_etag(&customer, &other.base).await,
        menu_etag(&customer, &app.base).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_another_instance_shows_a_price_change_within_the_cache_ttl() {
    let ttl = Duration::from_millis(2_000);
    let app = app()
        .backend(Backend::Database)
        .var("CATALOG_CACHE_TTL_MS", &ttl.as_millis().to_string())
        .spawn()
        .await;
    let other = app.another_instance().await;
    let customer = app.another_visitor();
    assert_eq!(add_at(&customer, &other.base, 1, 1).await.status(), 201);
    sign_in_as_admin(&app).await;

    let changed_at = Instant::now();
    assert_eq!(
        patch(&app, 1, &json!({"price": "15.40"})).await.status(),
        200
    );
    loop {
        let cart = cart_at(&customer, &other.base).await;
        if unit_price(&cart, 1) == "15.40" {
            break;
        }
        // A little slack past the TTL for the reload and a busy machine.
        assert!(
            changed_at.elapsed() < ttl + Duration::from_millis(1_500),
            "still the old price {:?} after the change: {cart}",
            changed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends `rounds` patches of dish `url` one after another, the `n`th with
/// `body(n)`, and returns each answer's status and dish.
async fn patch_rounds(
    client: &reqwest::Client,
    url: &str,
    rounds: i64,
    body: impl Fn(i64) -> Value,
) -> Vec<(reqwest::StatusCode, Value)> {
    let mut answers = Vec::new();
    for n in 0..rounds {
        let res = send(
            client,
            reqwest::Method::PATCH,
            url.to_owned(),
            Some(&body(n)),
        )
        .await;
        answers.push((res.status(), res.json::<Value>().await.unwrap()));
    }
    answers
}

#[tokio::test]
async fn two_admins_changing_one_dish_at_once_each_get_their_change_applied() {
    let app = app().spawn().await;
    sign_in_as_admin(&app).await;
    let sous = app.another_visitor();
    let res = send(
        &sous,
        reqwest::Method::POST,
        app.url("/api/v1/auth/register"),
        Some(&json!({"username": "sous", "password": PASSWORD})),
    )
    .await;
    assert_eq!(res.status(), 201);
    app.make_admin("sous").await;

    // One changes the stock, the other the price, over and over, at once.
    let url = app.url("/api/v1/admin/products/1");
    let rounds = 15;
    let (stocks, prices) = tokio::join!(
        patch_rounds(&app.client, &url, rounds, |n| json!({"stock": 100 + n})),
        patch_rounds(&sous, &url, rounds, |n| {
            json!({"price": format!("{}.50", 10 + n)})
        }),
    );

    for (n, (status, dish)) in stocks.iter().enumerate() {
        assert_eq!(*status, 200, "{dish}");
        assert_eq!(dish["stock"], 100 + n, "each answer shows its own change");
    }
    for (n, (status, dish)) in prices.iter().enumerate() {
        assert_eq!(*status, 200, "{dish}");
        assert_eq!(dish["price"], format!("{}.50", 10 + n));
    }
    let shown = app.get_json("/api/v1/products/1").await;
    assert_eq!(shown["stock"], 100 + rounds - 1);
    assert_eq!(shown["price"], format!("{}.50", 10 + rounds - 1));
}
