//! Bad input gets a 4xx problem document and leaves the cart exactly as it was.

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{TestApp, app, assert_problem, spawn_app};

async fn with_a_cart() -> (TestApp, Value) {
    let app = spawn_app().await;
    assert_eq!(app.add(1, 2).await.status(), 201);
    assert_eq!(app.add(5, 1).await.status(), 201);
    let before = app.cart().await;
    (app, before)
}

async fn raw_post(
    app: &TestApp,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn malformed_json_is_a_400_and_changes_nothing() {
    let (app, before) = with_a_cart().await;
    let res = raw_post(
        &app,
        "/api/v1/cart/items",
        "application/json",
        r#"{"product_id": 1, "quantity": "#,
    )
    .await;
    assert_problem(res, 400, "malformed-request").await;
    assert_eq!(app.cart().await, before);
}

#[tokio::test]
async fn unknown_fields_and_wrong_types_are_422s_naming_the_field() {
    let (app, before) = with_a_cart().await;

    let res = app
        .post_json(
            "/api/v1/cart/items",
            &json!({"product_id": 1, "quantity": 1, "price": "0.01"}),
        )
        .await;
    let body = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["field"], "price", "{body}");

    let res = app
        .post_json("/api/v1/cart/items", &json!({"product_id": "one"}))
        .await;
    let body = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["field"], "product_id", "{body}");

    let res = app
        .put_json("/api/v1/cart/items/1", &json!({"quantity": 2.5}))
        .await;
    let body = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["field"], "quantity", "{body}");

    let res = app
        .post_json("/api/v1/cart/items", &json!({"quantity": 1}))
        .await;
    let body = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["field"], "product_id", "{body}");

    let res = app.post_json("/api/v1/cart/items", &json!([1, 2])).await;
    assert_problem(res, 422, "validation-failed").await;

    assert_eq!(app.cart().await, before);
}

#[tokio::test]
async fn an_unknown_field_is_named_in_the_errors_of_every_body_reading_endpoint() {
    let app = spawn_app().await;
    let cases = [
        (
            Method::PUT,
            "/api/v1/profile",
            json!({"name": "Ada", "nickname": "Countess"}),
            "nickname",
        ),
        (
            Method::PATCH,
            "/api/v1/profile",
            json!({"spice_level": "hot", "spicyness": "hot"}),
            "spicyness",
        ),
        (
            Method::PATCH,
            "/api/v1/preferences",
            json!({"theme": "dark", "colour": "red"}),
            "colour",
        ),
        (
            Method::POST,
            "/api/v1/vip",
            json!({"special_requests": [], "tier": "gold"}),
            "tier",
        ),
        (
            Method::POST,
            "/api/v1/orders",
            json!({"tip": "5.00"}),
            "tip",
        ),
        // Keys are any JSON string, spaces and colons included.
        (
            Method::POST,
            "/api/v1/cart/items",
            json!({"product_id": 1, "delivery note": "ring twice"}),
            "delivery note",
        ),
        (
            Method::PUT,
            "/api/v1/preferences",
            json!({"theme": "dark", "note: a": 1}),
            "note: a",
        ),
    ];
    for (method, path, body, field) in cases {
        let res = app
            .client
            .request(method.clone(), app.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(
            problem["errors"][0]["field"], field,
            "{method} {path}: {problem}"
        );
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("unknown field"),
            "{method} {path}: {problem}"
        );
    }
}

#[tokio::test]
async fn a_body_that_cannot_be_read_gets_our_words_not_the_transport_s() {
    let app = spawn_app().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // A chunk size that is not hexadecimal: the body's framing is broken.
    let request = format!(
        "PUT /api/v1/preferences HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{{}}\r\n0\r\n\r\n"
    );
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response);

    let (head, body) = response.split_once("\r\n\r\n").unwrap_or_default();
    assert!(head.starts_with("HTTP/1.1 400"), "{response}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{response}"
    );
    let problem: Value = serde_json::from_str(body).unwrap();
    assert_eq!(problem["type"], "/problems/malformed-request", "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("could not be read"), "{problem}");
    for internal in ["hyper", "buffer", "chunk", "error reading"] {
        assert!(
            !detail.to_ascii_lowercase().contains(internal),
            "the detail shows the transport's words ({internal}): {problem}"
        );
    }
}

#[tokio::test]
async fn quantities_outside_one_to_ninety_nine_are_refused() {
    let (app, before) = with_a_cart().await;
    for q in [0, -1, 100, 1_000_000] {
        let body = assert_problem(app.add(2, q).await, 422, "validation-failed").await;
        assert_eq!(body["errors"][0]["field"], "quantity");
        assert_problem(app.set(1, q).await, 422, "validation-failed").await;
    }
    // The cap holds for the sum too: 2 in the cart + 98 would be 100.
    app.sql("UPDATE products SET stock = 500 WHERE id = 1")
        .await;
    let body = assert_problem(app.add(1, 98).await, 422, "validation-failed").await;
    assert!(body["detail"].as_str().unwrap().contains("99"), "{body}");
    assert_eq!(app.cart().await, before);
}

/// JSON has one number type: `2.0` is the whole number 2, as JSON Schema's
/// `integer` says.
#[tokio::test]
async fn a_whole_number_written_with_a_decimal_point_is_that_number() {
    let (app, _) = with_a_cart().await;
    let res = app
        .post_json(
            "/api/v1/cart/items",
            &json!({"product_id": 2.0, "quantity": 3.0}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let cart = app.cart().await;
    let line = cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["product_id"] == 2)
        .expect("dish 2 is in the cart");
    assert_eq!(line["quantity"], 3);
}

/// A fraction where a whole number goes is refused, naming the field, in
/// the words and at the position the body was first read with. (The check
/// is on the number as read: a fraction too small for a float to hold, as
/// in `2.0000000000000001`, reads as 2.)
#[tokio::test]
async fn a_fraction_where_a_whole_number_goes_is_a_422_naming_it() {
    let (app, before) = with_a_cart().await;
    for (body, says) in [
        (
            r#"{"product_id": 2, "quantity": 2.5}"#,
            "invalid type: floating point `2.5`, expected i64 at line 1 column 33",
        ),
        (
            r#"{"product_id": 2, "quantity": 1e300}"#,
            "invalid type: floating point `1e+300`, expected i64 at line 1 column 35",
        ),
        (r#"{"product_id": 2, "quantity": 0.0}"#, "got 0"),
    ] {
        let res = raw_post(&app, "/api/v1/cart/items", "application/json", body).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "quantity", "{body}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{body}: {message}");
    }
    assert_eq!(app.cart().await, before);
}

/// A key given twice is refused, also when a number in the body is written
/// with a decimal point: the service never acts on a different value from
/// the one another reader of the body sees first.
#[tokio::test]
async fn a_repeated_key_is_a_422_naming_it_whatever_the_numbers_look_like() {
    let (app, before) = with_a_cart().await;
    for body in [
        r#"{"product_id": 2, "product_id": 7}"#,
        r#"{"product_id": 2, "quantity": 3.0, "product_id": 7}"#,
        r#"{"product_id": 2.0, "product_id": 7}"#,
        r#"{"quantity": 1.0, "product_id": 2, "product_id": 7}"#,
    ] {
        let res = raw_post(&app, "/api/v1/cart/items", "application/json", body).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "product_id", "{body}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("duplicate field `product_id`"),
            "{body}: {message}"
        );
    }
    assert_eq!(app.cart().await, before);
}

#[tokio::test]
async fn more_than_the_stock_is_a_409_naming_what_is_left() {
    let (app, before) = with_a_cart().await;
    app.sql("UPDATE products SET stock = 3 WHERE id = 1").await;
    let body = assert_problem(app.add(1, 2).await, 409, "insufficient-stock").await;
    assert!(
        body["detail"].as_str().unwrap().contains("Only 3"),
        "{body}"
    );
    assert_problem(app.set(1, 4).await, 409, "insufficient-stock").await;
    let after = app.cart().await;
    assert_eq!(after["lines"], before["lines"]);
    // Three is fine.
    assert_eq!(app.set(1, 3).await.status(), 200);
}

#[tokio::test]
async fn unknown_and_unavailable_dishes_are_refused() {
    let (app, before) = with_a_cart().await;
    let body = assert_problem(app.add(999, 1).await, 422, "validation-failed").await;
    assert_eq!(body["errors"][0]["field"], "product_id");
    assert_problem(app.add(0, 1).await, 422, "validation-failed").await;
    assert_problem(app.set(999, 1).await, 404, "not-found").await;

    app.sql("UPDATE products SET available = false WHERE id = 7")
        .await;
    assert_problem(app.add(7, 1).await, 409, "product-unavailable").await;
    assert_problem(app.set(7, 1).await, 409, "product-unavailable").await;
    assert_eq!(app.cart().await, before);
}

#[tokio::test]
async fn a_cart_holds_at_most_a_hundred_different_dishes() {
    let app = spawn_app().await;
    app.sql(
        "INSERT INTO products (name, description, price_cents, stock, available) \
         SELECT 'Extra ' || id, '', 100, 10, true FROM products",
    )
    .await;
    for _ in 0..3 {
        app.sql(
            "INSERT INTO products (name, description, price_cents, stock, available) \
             SELECT 'More ' || id, '', 100, 10, true FROM products WHERE id <= 30",
        )
        .await;
    }
    let menu: Value = app.get_json("/api/v1/products?per_page=100&page=2").await;
    assert!(menu["total"].as_u64().unwrap() > 100);

    for id in 1..=100 {
        assert!(app.set(id, 1).await.status().is_success(), "dish {id}");
    }
    let before = app.cart().await;
    let body = assert_problem(app.add(101, 1).await, 422, "cart-full").await;
    assert!(body["detail"].as_str().unwrap().contains("100"), "{body}");
    assert_eq!(app.cart().await, before);
    // Lines already in the cart still change.
    assert_eq!(app.set(100, 2).await.status(), 200);
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let (app, before) = with_a_cart().await;
    let big = format!(
        r#"{{"product_id": 1, "quantity": 1, "note": "{}"}}"#,
        "x".repeat(70 * 1024)
    );
    let res = raw_post(&app, "/api/v1/cart/items", "application/json", big.clone()).await;
    let body = assert_problem(res, 413, "payload-too-large").await;
    assert!(
        body["detail"].as_str().unwrap().contains("64 KiB"),
        "{body}"
    );

    // Also when streamed without a Content-Length.
    let stream = futures_stream(big.into_bytes());
    let res = app
        .client
        .post(app.url("/api/v1/cart/items"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    let body = assert_problem(res, 413, "payload-too-large").await;
    assert!(
        body["detail"].as_str().unwrap().contains("64 KiB"),
        "{body}"
    );
    assert_eq!(app.cart().await, before);
}

fn futures_stream(
    bytes: Vec<u8>,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        bytes.chunks(8192).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let (app, before) = with_a_cart().await;
    let res = raw_post(
        &app,
        "/api/v1/cart/items",
        "text/plain",
        r#"{"product_id": 1}"#,
    )
    .await;
    assert_problem(res, 415, "unsupported-media-type").await;
    assert_eq!(app.cart().await, before);
}

#[tokio::test]
async fn a_non_integer_path_id_is_a_400() {
    let (app, before) = with_a_cart().await;
    assert_problem(
        app.put_json("/api/v1/cart/items/pizza", &json!({"quantity": 1}))
            .await,
        400,
        "malformed-request",
    )
    .await;
    assert_problem(
        app.delete("/api/v1/cart/items/pizza").await,
        400,
        "malformed-request",
    )
    .await;
    assert_eq!(app.cart().await, before);
}

/// An id written with a decimal point and no fraction is that id, as in a
/// body; a fraction is still a 400, and so is an exponent (which a body
/// takes: see `AppPath`).
#[tokio::test]
async fn a_path_id_written_with_a_decimal_point_is_that_id() {
    let (app, before) = with_a_cart().await;
    let dish = app.get_json("/api/v1/products/2").await;
    assert_eq!(app.get_json("/api/v1/products/2.0").await, dish);
    let book = app.get_json("/api/v1/books/3").await;
    assert_eq!(app.get_json("/api/v1/books/3.00").await, book);
    for id in ["2.5", "2.", "1e0"] {
        let res = app.get(&format!("/api/v1/products/{id}")).await;
        assert_problem(res, 400, "malformed-request").await;
    }
    assert_eq!(app.cart().await, before);
    let res = app.delete("/api/v1/cart/items/5.0").await;
    assert!(res.status().is_success(), "{}", res.status());
    let lines = app.cart().await["lines"].as_array().unwrap().len();
    assert_eq!(lines, before["lines"].as_array().unwrap().len() - 1);
}

#[tokio::test]
async fn a_path_id_below_one_or_past_the_largest_is_the_same_400_on_every_route() {
    let (app, before) = with_a_cart().await;
    // Written with a decimal point, an id is that number, refused as it is.
    for (id, got) in [
        ("0", "0"),
        ("-1", "-1"),
        ("2147483648", "2147483648"),
        ("0.0", "0"),
        ("-0.0", "0"),
        ("-1.0", "-1"),
        ("2147483648.0", "2147483648"),
    ] {
        let answers = [
            app.get(&format!("/api/v1/products/{id}")).await,
            app.get(&format!("/api/v1/orders/{id}")).await,
            app.put_json(&format!("/api/v1/cart/items/{id}"), &json!({"quantity": 1}))
                .await,
            app.delete(&format!("/api/v1/cart/items/{id}")).await,
        ];
        for res in answers {
            let problem = assert_problem(res, 400, "malformed-request").await;
            let detail = problem["detail"].as_str().unwrap();
            assert!(
                detail.starts_with("A path parameter is invalid: Invalid URL: ")
                    && detail.ends_with(&format!("; got {got}. Ids are positive integers.")),
                "{id}: {detail}"
            );
        }
    }
    assert_eq!(app.cart().await, before);
}

#[tokio::test]
async fn a_garbage_or_forged_session_cookie_starts_a_fresh_session() {
    let app = app().spawn().await;
    assert_eq!(app.add(1, 1).await.status(), 201);

    for cookie in [
        "km_session=garbage",
        "km_session=",
        "km_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=zF4OXvf1KLCoGl4QW_xAig",
        "km_session=%%%%",
    ] {
        let stranger = app.another_visitor();
        let res = stranger
            .get(app.url("/api/v1/cart"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{cookie}");
        let cart: Value = res.json().await.unwrap();
        assert_eq!(cart["lines"], json!([]), "{cookie}");
        let res = stranger
            .post(app.url("/api/v1/cart/items"))
            .header("cookie", cookie)
            .json(&json!({"product_id": 2}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{cookie}");
        let cart: Value = res.json().await.unwrap();
        assert_eq!(cart["item_count"], 1, "{cookie}");
    }
    // The real visitor's cart is untouched.
    assert_eq!(app.cart().await["lines"][0]["product_id"], 1);
}

#[tokio::test]
async fn a_change_sent_from_another_site_is_refused_and_changes_nothing() {
    let (app, before) = with_a_cart().await;
    let own_origin = app.base.clone();
    let post = |origin: Option<&str>, fetch_site: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/cart/items"))
            .json(&json!({"product_id": 2}));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        if let Some(f) = fetch_site {
            req = req.header("sec-fetch-site", f);
        }
        req.send()
    };
    let res = post(Some("http://evil.example"), None).await.unwrap();
    let body = assert_problem(res, 403, "cross-site-request").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("http://evil.example"),
        "{body}"
    );
    assert_problem(
        post(Some("null"), None).await.unwrap(),
        403,
        "cross-site-request",
    )
    .await;
    assert_problem(
        post(None, Some("cross-site")).await.unwrap(),
        403,
        "cross-site-request",
    )
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/orders"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert_problem(res, 403, "cross-site-request").await;
    assert_eq!(app.cart().await, before);

    // The API's own origin (Swagger UI) and clients that send no Origin (curl) may.
    assert_eq!(
        post(Some(&own_origin), Some("same-origin"))
            .await
            .unwrap()
            .status(),
        201
    );
    assert_eq!(post(None, None).await.unwrap().status(), 200);
}
