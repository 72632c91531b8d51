//! A signed-in user's cart, profile and orders follow them across devices:
//! handed over at registration and sign-in, shared by every session of the
//! account, and left with the account at sign-out.

use reqwest::Client;
use serde_json::{Value, json};

use crate::auth::PASSWORD;
use crate::helpers::{Backend, TestApp, app, assert_problem, backends, send};

/// One browser: the app's own client or another visitor's.
struct Device<'a> {
    app: &'a TestApp,
    client: Client,
}

impl<'a> Device<'a> {
    fn first(app: &'a TestApp) -> Self {
        Device {
            app,
            client: app.client.clone(),
        }
    }

    fn another(app: &'a TestApp) -> Self {
        Device {
            app,
            client: app.another_visitor(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        send(&self.client, method, self.app.url(path), body.as_ref()).await
    }

    async fn get(&self, path: &str) -> Value {
        let res = self.send(reqwest::Method::GET, path, None).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// The app's own client registers `ada`; another device signs in to it.
    async fn both_signed_in_as_ada(app: &'a TestApp) -> (Self, Self) {
        let phone = Device::first(app);
        phone.register("ada").await;
        let laptop = Device::another(app);
        laptop.sign_in("ada").await;
        (phone, laptop)
    }

    async fn register(&self, username: &str) {
        let res = self
            .send(
                reqwest::Method::POST,
                "/api/v1/auth/register",
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(res.status(), 201, "register");
    }

    async fn sign_in(&self, username: &str) {
        let res = self
            .send(
                reqwest::Method::POST,
                "/api/v1/auth/login",
                Some(json!({"username": username, "password": PASSWORD, "remember_me": false})),
            )
            .await;
        assert_eq!(res.status(), 200, "sign in");
    }

    async fn sign_out(&self) {
        let res = self
            .send(
                reqwest::Method::POST,
                "/api/v1/auth/logout",
                Some(json!({})),
            )
            .await;
        assert_eq!(res.status(), 204, "sign out");
    }

    async fn add(&self, product_id: i64, quantity: i64) -> reqwest::Response {
        self.send(
            reqwest::Method::POST,
            "/api/v1/cart/items",
            Some(json!({"product_id": product_id, "quantity": quantity})),
        )
        .await
    }

    async fn added(&self, product_id: i64, quantity: i64) {
        let status = self.add(product_id, quantity).await.status();
        assert!(status == 200 || status == 201, "adding answered {status}");
    }

    /// The cart's lines as (dish, quantity), in order.
    async fn cart_lines(&self) -> Vec<(i64, i64)> {
        let cart = self.get("/api/v1/cart").await;
        cart["lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["product_id"].as_i64().unwrap(),
                    l["quantity"].as_i64().unwrap(),
                )
            })
            .collect()
    }

    async fn put_profile(&self, profile: Value) {
        let status = self
            .send(reqwest::Method::PUT, "/api/v1/profile", Some(profile))
            .await
            .status();
        assert!(
            status == 200 || status == 201,
            "PUT /profile answered {status}"
        );
    }

    async fn order(&self) -> reqwest::Response {
        self.send(reqwest::Method::POST, "/api/v1/orders", None)
            .await
    }

    async fn ordered(&self) -> i64 {
        let res = self.order().await;
        assert_eq!(res.status(), 201, "order");
        res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
    }

    async fn order_ids(&self) -> Vec<i64> {
        let list = self.get("/api/v1/orders").await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect()
    }
}

async fn spawn(backend: Backend) -> TestApp {
    let app = app().backend(backend).spawn().await;
    // Enough of every dish that only the tests' own limits apply.
    app.sql("UPDATE products SET stock = 500, available = TRUE")
        .await;
    app
}

#[tokio::test]
async fn registering_carries_the_visitors_cart_and_profile_into_the_new_account() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.added(1, 2).await;
        phone.added(3, 1).await;
        phone
            .put_profile(json!({"name": "Ada", "spice_level": "hot"}))
            .await;

        phone.register("ada").await;

        assert_eq!(
            phone.cart_lines().await,
            vec![(1, 2), (3, 1)],
            "{backend:?}"
        );
        let session = phone.get("/api/v1/session").await;
        assert_eq!(session["cart_item_count"], 3, "{backend:?}");
        assert_eq!(session["profile"]["name"], "Ada", "{backend:?}");
        // Kept with the account: another device signed in sees them.
        let laptop = Device::another(&app);
        laptop.sign_in("ada").await;
        assert_eq!(
            laptop.cart_lines().await,
            vec![(1, 2), (3, 1)],
            "{backend:?}"
        );
        let profile = laptop.get("/api/v1/profile").await;
        assert_eq!(profile["name"], "Ada", "{backend:?}");
        assert_eq!(profile["spice_level"], "hot", "{backend:?}");
        let menu = laptop.get("/api/v1/menu").await;
        assert!(
            !menu["recommended"].as_array().unwrap().is_empty(),
            "the menu is personalized from the account's profile ({backend:?})"
        );
    }
}

#[tokio::test]
async fn signing_in_merges_the_visitors_cart_into_the_accounts_within_the_caps() {
    for backend in backends() {
        let app = spawn(backend).await;
        app.sql("UPDATE products SET stock = 6 WHERE id = 3").await;
        let laptop = Device::first(&app);
        laptop.register("ada").await;
        laptop.added(1, 3).await;
        laptop.added(2, 60).await;
        laptop.added(3, 4).await;
        laptop.sign_out().await;
        let phone = Device::another(&app);
        phone.added(4, 1).await;
        phone.added(1, 2).await;
        phone.added(2, 50).await;
        phone.added(3, 5).await;

        phone.sign_in("ada").await;

        // Quantities add up; 60 + 50 stops at the line cap, 4 + 5 at the stock;
        // a new dish comes after the account's.
        let expected = vec![(1, 5), (2, 99), (3, 6), (4, 1)];
        assert_eq!(phone.cart_lines().await, expected, "{backend:?}");
        laptop.sign_in("ada").await;
        assert_eq!(laptop.cart_lines().await, expected, "{backend:?}");
    }
}

#[tokio::test]
async fn signing_in_fills_the_accounts_profile_without_overwriting_it() {
    for backend in backends() {
        let app = spawn(backend).await;
        let laptop = Device::first(&app);
        laptop.register("ada").await;
        laptop
            .put_profile(json!({"name": "Ada", "spice_level": "hot"}))
            .await;
        laptop.sign_out().await;
        let phone = Device::another(&app);
        phone
            .put_profile(json!({
                "name": "Guest", "favorite_dish": "Pad Thai",
                "dietary_restrictions": ["vegan"], "spice_level": "mild"
            }))
            .await;

        phone.sign_in("ada").await;

        let profile = phone.get("/api/v1/profile").await;
        assert_eq!(profile["name"], "Ada", "{backend:?}");
        assert_eq!(profile["spice_level"], "hot", "{backend:?}");
        assert_eq!(profile["favorite_dish"], "Pad Thai", "{backend:?}");
        assert_eq!(
            profile["dietary_restrictions"],
            json!(["vegan"]),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn orders_placed_anonymously_are_claimed_and_seen_from_another_device() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.added(1, 1).await;
        let anonymous = phone.ordered().await;
        phone.register("ada").await;
        phone.added(2, 1).await;
        let signed_in = phone.ordered().await;
        assert!(
            phone.cart_lines().await.is_empty(),
            "checkout emptied the account's cart"
        );

        let laptop = Device::another(&app);
        laptop.sign_in("ada").await;

        assert_eq!(
            laptop.order_ids().await,
            vec![signed_in, anonymous],
            "{backend:?}"
        );
        let order = laptop.get(&format!("/api/v1/orders/{anonymous}")).await;
        assert_eq!(order["lines"][0]["product_id"], 1, "{backend:?}");
        // Nobody else sees them, and neither does the phone once signed out.
        let stranger = Device::another(&app);
        let res = stranger
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/orders/{signed_in}"),
                None,
            )
            .await;
        assert_problem(res, 404, "not-found").await;
        phone.sign_out().await;
        assert!(phone.order_ids().await.is_empty(), "{backend:?}");
    }
}

#[tokio::test]
async fn a_cart_change_on_one_device_shows_on_the_other() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (phone, laptop) = Device::both_signed_in_as_ada(&app).await;

        phone.added(1, 2).await;
        assert_eq!(laptop.cart_lines().await, vec![(1, 2)], "{backend:?}");
        laptop.added(1, 1).await;
        laptop
            .send(
                reqwest::Method::PUT,
                "/api/v1/cart/items/2",
                Some(json!({"quantity": 4})),
            )
            .await;
        assert_eq!(
            phone.cart_lines().await,
            vec![(1, 3), (2, 4)],
            "{backend:?}"
        );
        let res = phone
            .send(reqwest::Method::DELETE, "/api/v1/cart/items/1", None)
            .await;
        assert_eq!(res.status(), 204);
        assert_eq!(laptop.cart_lines().await, vec![(2, 4)], "{backend:?}");
        phone.ordered().await;
        assert!(laptop.cart_lines().await.is_empty(), "{backend:?}");
    }
}

#[tokio::test]
async fn after_sign_out_the_cart_is_empty_and_signing_in_again_brings_the_accounts_back() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.register("ada").await;
        phone.added(5, 2).await;
        phone.put_profile(json!({"name": "Ada"})).await;

        phone.sign_out().await;

        assert!(phone.cart_lines().await.is_empty(), "{backend:?}");
        let session = phone.get("/api/v1/session").await;
        assert_eq!(session["cart_item_count"], 0, "{backend:?}");
        assert_eq!(session["profile"], Value::Null, "{backend:?}");
        // What the signed-out visitor adds is theirs, and joins the account
        // at the next sign-in.
        phone.added(6, 1).await;
        phone.sign_in("ada").await;
        assert_eq!(
            phone.cart_lines().await,
            vec![(5, 2), (6, 1)],
            "{backend:?}"
        );
        assert_eq!(phone.get("/api/v1/profile").await["name"], "Ada");
    }
}

#[tokio::test]
async fn devices_adding_to_one_account_cart_at_once_lose_nothing() {
    for backend in backends() {
        let app = spawn(backend).await;
        let devices = [
            Device::first(&app),
            Device::another(&app),
            Device::another(&app),
        ];
        devices[0].register("ada").await;
        for device in &devices[1..] {
            device.sign_in("ada").await;
        }

        let adds = devices.iter().enumerate().flat_map(|(n, device)| {
            // Each device adds one of a shared dish and one of its own, eight times.
            (0..8).flat_map(move |_| [device.add(1, 1), device.add(10 + n as i64, 1)])
        });
        let answers = futures_util::future::join_all(adds).await;

        for res in answers {
            let status = res.status();
            let body = res.text().await.unwrap();
            assert!(
                status == 200 || status == 201,
                "an add answered {status} {body} ({backend:?})"
            );
        }
        let lines = devices[0].cart_lines().await;
        assert_eq!(lines.len(), 4, "{backend:?}");
        assert!(lines.contains(&(1, 24)), "{lines:?} ({backend:?})");
        for n in 10..13 {
            assert!(lines.contains(&(n, 8)), "{lines:?} ({backend:?})");
        }
    }
}

#[tokio::test]
async fn two_devices_ordering_one_account_cart_at_once_order_it_once() {
    for backend in backends() {
        let app = spawn(backend).await;
        let (phone, laptop) = Device::both_signed_in_as_ada(&app).await;
        phone.added(1, 3).await;
        let before = phone.get("/api/v1/products/1").await["stock"]
            .as_i64()
            .unwrap();

        let (a, b) = tokio::join!(phone.order(), laptop.order());

        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses[0], 201, "{backend:?}");
        assert!(
            statuses[1] == 409 || statuses[1] == 422,
            "the second order found the cart changed or empty, not {} ({backend:?})",
            statuses[1]
        );
        let after = phone.get("/api/v1/products/1").await["stock"]
            .as_i64()
            .unwrap();
        assert_eq!(before - after, 3, "the stock was taken once ({backend:?})");
        assert_eq!(phone.order_ids().await.len(), 1, "{backend:?}");
    }
}

#[tokio::test]
async fn an_account_cart_that_no_longer_decodes_reads_as_empty_and_is_replaced() {
    let app = spawn(crate::helpers::default_backend()).await;
    let phone = Device::first(&app);
    phone.register("ada").await;
    phone.added(1, 1).await;
    app.sql(r#"UPDATE user_state SET cart = '{"lines":[{"product_id":1,"quantity":0}]}'"#)
        .await;

    assert!(phone.cart_lines().await.is_empty());
    phone.added(2, 1).await;
    assert_eq!(phone.cart_lines().await, vec![(2, 1)]);
}

#[tokio::test]
async fn profile_changes_from_two_devices_at_once_both_apply() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.register("ada").await;
        phone.put_profile(json!({"name": "Ada"})).await;
        let laptop = Device::another(&app);
        laptop.sign_in("ada").await;

        let (a, b) = tokio::join!(
            phone.send(
                reqwest::Method::PATCH,
                "/api/v1/profile",
                Some(json!({"spice_level": "hot"}))
            ),
            laptop.send(
                reqwest::Method::PATCH,
                "/api/v1/profile",
                Some(json!({"favorite_dish": "Pad Thai"}))
            ),
        );

        assert_eq!(
            (a.status().as_u16(), b.status().as_u16()),
            (200, 200),
            "{backend:?}"
        );
        let profile = phone.get("/api/v1/profile").await;
        assert_eq!(profile["spice_level"], "hot", "{backend:?}");
        assert_eq!(profile["favorite_dish"], "Pad Thai", "{backend:?}");
    }
}
