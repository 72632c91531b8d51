//! What the service keeps about a visitor: the view (`GET /privacy`), the
//! export and forget-me (`DELETE /privacy`), on every session store; and
//! the README's cookie table, made from the cookies' definitions.

use std::collections::HashMap;
use std::str::FromStr;

use api::config::SecretKey;
use api::cookies::{CookieKit, LOYALTY, PREFERENCES};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

use crate::auth::PASSWORD;
use crate::helpers::{
    Backend, COOKIE, SECRET_KEY, TestApp, app, assert_problem, backends, cookie_value, is_removal,
    session_cookie, session_id, set_cookie_for, set_cookies,
};

const PRIVACY: &str = "/api/v1/privacy";
const EXPORT: &str = "/api/v1/privacy/export";

const TABLE_START: &str = "<!-- cookie-table:start (generated from crates/api/src/cookies.rs; tests/api/privacy.rs compares) -->\n";
const TABLE_END: &str = "<!-- cookie-table:end -->";

/// The configuration the README describes: every default.
fn default_config() -> api::Config {
    api::Config::from_vars([("SECRET_KEY".to_owned(), SECRET_KEY.to_owned())].into())
        .expect("the default configuration")
}

#[test]
fn the_readme_cookie_table_is_the_one_the_cookie_definitions_make() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let generated = api::cookies::policy_table(&default_config());
    let block = readme
        .split_once(TABLE_START)
        .and_then(|(_, rest)| rest.split_once(TABLE_END))
        .map(|(block, _)| block);
    assert!(
        block == Some(generated.as_str()),
        "README.md's cookie table is not the one crates/api/src/cookies.rs defines; put this between its markers:\n\n{TABLE_START}{generated}{TABLE_END}\n"
    );
    // That every cookie the service sets is a row of it is `ISSUED`'s
    // job: reading or writing a cookie left out of it fails in debug builds
    // (`cookies::assert_issued`), so the test of any route that does fails.
}

/// The `name`s of the cookies a view lists, in its order.
fn cookie_names(view: &Value) -> Vec<String> {
    view["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn cookie<'v>(view: &'v Value, name: &str) -> &'v Value {
    view["cookies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} is not listed: {view}"))
}

/// The counts of what a part of the view (`session` or `account`) holds,
/// by category.
fn holds(part: &Value) -> HashMap<String, i64> {
    part["holds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["category"].as_str().unwrap().to_owned(),
                h["count"].as_i64().unwrap(),
            )
        })
        .collect()
}

fn counts(pairs: &[(&str, i64)]) -> HashMap<String, i64> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// `GET /privacy` with the app's client: a 200 that sets no cookie.
async fn view(app: &TestApp, client: &reqwest::Client) -> Value {
    let res = client.get(app.url(PRIVACY)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        set_cookies(res.headers()),
        Vec::<String>::new(),
        "a read sets no cookie"
    );
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        value.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// The number in column `n` of the one row `query` answers.
async fn count(app: &TestApp, query: &str) -> i64 {
    let backend = app.db.get_database_backend();
    app.db
        .query_one_raw(Statement::from_string(backend, query))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// What the store holds under the session id a cookie carries, but the
/// marker an ended session leaves (see `session/renew.rs`).
async fn stored(app: &TestApp, cookie_value: &str) -> Option<HashMap<String, Value>> {
    let id = Id::from_str(&session_id(cookie_value)).unwrap();
    let store = &app.state.as_ref().unwrap().sessions;
    let record = store.load(&id).await.unwrap()?;
    let data: HashMap<String, Value> = record
        .data
        .into_iter()
        .filter(|(k, _)| k != "renewed" && k != "ended")
        .collect();
    Some(data).filter(|d| !d.is_empty())
}

/// Places an order of the cart with a special request for dish 1.
async fn order_with_request(app: &TestApp, client: &reqwest::Client, request: &str) -> i64 {
    let res = client
        .post(app.url("/api/v1/orders"))
        .json(&json!({"special_requests": {"1": request}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    res.json::<Value>().await.unwrap()["id"].as_i64().unwrap()
}

async fn put_profile(app: &TestApp, client: &reqwest::Client, name: &str) {
    let res = client
        .put(app.url("/api/v1/profile"))
        .json(&json!({"name": name, "favorite_dish": "Pad Thai"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

async fn list_book(app: &TestApp, client: &reqwest::Client, book_id: i64) {
    let res = client
        .post(app.url("/api/v1/reading-list"))
        .json(&json!({"book_id": book_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
}

#[tokio::test]
async fn the_view_lists_each_kind_of_cookie_as_it_is_set_with_what_it_holds_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let empty = view(&app, &app.client).await;
        assert_eq!(
            empty,
            json!({"cookies": [], "session": {"stored": false, "kept_until": null, "holds": []}, "account": null}),
            "{backend:?}"
        );

        // An order: the session cookie and the loyalty cookie.
        app.add(1, 2).await;
        order_with_request(&app, &app.client, "extra basil").await;
        let v = view(&app, &app.client).await;
        assert_eq!(cookie_names(&v), [COOKIE, "loyalty"], "{backend:?}");
        let session = cookie(&v, COOKIE);
        assert_eq!(session["category"], "strictly-necessary");
        assert_eq!(session["verified"], true);
        assert_eq!(
            session["holds"],
            Value::Null,
            "the session id is never shown"
        );
        assert_eq!(session["expires_at"], v["session"]["kept_until"]);
        let loyalty = cookie(&v, "loyalty");
        assert_eq!(
            (
                &loyalty["category"],
                &loyalty["protection"],
                &loyalty["verified"],
                &loyalty["holds"]
            ),
            (
                &json!("functional"),
                &json!("signed"),
                &json!(true),
                &json!({"spent": "25.00"})
            ),
            "{backend:?}"
        );
        assert_eq!(
            time_of(&loyalty["expires_at"]) - time_of(&loyalty["issued_at"]),
            Duration::days(30)
        );
        assert_eq!(
            holds(&v["session"]),
            counts(&[("orders", 1)]),
            "{backend:?}: {v}"
        );

        // A goodbye: the visit summary.
        app.visit().await;
        assert_eq!(app.delete("/api/v1/session").await.status(), 200);
        let v = view(&app, &app.client).await;
        assert_eq!(
            cookie_names(&v),
            ["loyalty", "last_visit_summary"],
            "{backend:?}"
        );
        assert_eq!(cookie(&v, "last_visit_summary")["holds"]["visit_count"], 1);
        assert_eq!(v["session"]["stored"], false);

        // The two encrypted cookies and VIP.
        app.put_json("/api/v1/preferences", &json!({"theme": "dark"}))
            .await;
        app.put_json("/api/v1/reading-settings", &json!({"font_size": 20}))
            .await;
        app.post_json("/api/v1/vip", &json!({"special_requests": ["gluten-free"]}))
            .await;
        let v = view(&app, &app.client).await;
        assert_eq!(
            cookie_names(&v),
            [
                "preferences",
                "reading_settings",
                "loyalty",
                "vip",
                "last_visit_summary"
            ],
            "{backend:?}"
        );
        let preferences = cookie(&v, "preferences");
        assert_eq!(preferences["protection"], "encrypted");
        assert_eq!(preferences["holds"]["theme"], "dark", "decoded");
        assert_eq!(cookie(&v, "reading_settings")["holds"]["font_size"], 20);
        assert_eq!(
            cookie(&v, "vip")["holds"]["special_requests"],
            json!(["gluten-free"])
        );
        for c in v["cookies"].as_array().unwrap() {
            assert_eq!(c["verified"], true, "{c}");
            assert!(c["purpose"].as_str().unwrap().len() > 20, "{c}");
        }

        // A new session holding one of each kind.
        app.add(1, 1).await;
        app.add(6, 1).await;
        app.visit().await;
        put_profile(&app, &app.client, "Ada").await;
        list_book(&app, &app.client, 7).await;
        app.put_json("/api/v1/reader/genres", &json!({"genres": ["horror"]}))
            .await;
        let v = view(&app, &app.client).await;
        assert_eq!(cookie_names(&v)[0], COOKIE);
        assert_eq!(
            holds(&v["session"]),
            counts(&[
                ("cart", 2),
                ("visits", 2),
                ("profile", 1),
                ("reading-list", 1),
                ("favorite-genres", 1)
            ]),
            "{backend:?}: {v}"
        );
        assert_eq!(v["session"]["stored"], true);
        assert!(time_of(&v["session"]["kept_until"]) > app.clock.now() + Duration::days(13));
        let raw = session_cookie_of(&app).await;
        let text = v.to_string();
        assert!(
            !text.contains(&session_id(&raw)) && !text.contains(&raw),
            "{backend:?}: the view shows the session id"
        );
    }
}

/// The app's client's session cookie value, as a change re-sends it.
async fn session_cookie_of(app: &TestApp) -> String {
    let res = visit_response(app).await;
    session_cookie(res.headers()).expect("a change re-sends the session cookie")
}

/// `POST /visits` with the app's client, as answered.
async fn visit_response(app: &TestApp) -> reqwest::Response {
    app.client
        .post(app.url("/api/v1/visits"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn tampered_and_expired_cookies_show_as_not_verified_and_the_view_changes_nothing_on_every_store()
 {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let res = app
            .put_json("/api/v1/preferences", &json!({"theme": "dark"}))
            .await;
        let preferences = cookie_value(&set_cookie_for(res.headers(), "preferences").unwrap());
        let res = visit_response(&app).await;
        let session = session_cookie(res.headers()).unwrap();
        let key = SecretKey::new(SECRET_KEY.as_bytes().to_vec()).unwrap();
        let old = app.clock.now() - Duration::days(31);
        let expired =
            CookieKit::seal_with(&key, &LOYALTY, &json!({"spent": "10.00"}), old).unwrap();
        let mut flipped = preferences.clone().into_bytes();
        let middle = flipped.len() / 2;
        flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8(flipped).unwrap();
        let made_for_another = CookieKit::seal_with(
            &key,
            &PREFERENCES,
            &json!({"spent": "999.00"}),
            app.clock.now(),
        )
        .unwrap();
        let header = format!(
            "{COOKIE}={session}x; preferences={flipped}; loyalty={expired}; vip={made_for_another}"
        );

        let res = app
            .another_visitor()
            .get(app.url(PRIVACY))
            .header("cookie", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            set_cookies(res.headers()),
            Vec::<String>::new(),
            "{backend:?}: the view removes nothing"
        );
        let v: Value = res.json().await.unwrap();
        assert_eq!(cookie_names(&v), [COOKIE, "preferences", "loyalty", "vip"]);
        for c in v["cookies"].as_array().unwrap() {
            assert_eq!(c["verified"], false, "{backend:?}: {c}");
            assert!(c["problem"].as_str().is_some_and(|p| !p.is_empty()), "{c}");
            assert_eq!(c["holds"], Value::Null, "{c}");
            assert_eq!(c["expires_at"], Value::Null, "{c}");
        }
        assert_eq!(cookie(&v, "loyalty")["problem"], "expired");
        // Nothing of the session behind the tampered cookie.
        assert_eq!(v["session"]["stored"], false, "{backend:?}");

        // The same cookies, untampered, verify.
        let res = app
            .another_visitor()
            .get(app.url(PRIVACY))
            .header(
                "cookie",
                format!("{COOKIE}={session}; preferences={preferences}"),
            )
            .send()
            .await
            .unwrap();
        let v: Value = res.json().await.unwrap();
        assert_eq!(cookie(&v, COOKIE)["verified"], true);
        assert_eq!(cookie(&v, "preferences")["verified"], true);
        assert_eq!(holds(&v["session"]), counts(&[("visits", 1)]));

        // Forget-me removes the cookies that do not verify too, and leaves
        // the session the tampered cookie did not open.
        let res = app
            .another_visitor()
            .delete(app.url(PRIVACY))
            .header("cookie", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204, "{backend:?}");
        let names = [COOKIE, "preferences", "loyalty", "vip"].map(String::from);
        assert_removed(&res, &names);
        assert!(stored(&app, &session).await.is_some(), "{backend:?}");
    }
}

#[tokio::test]
async fn the_export_holds_the_values_and_no_session_id_password_hash_or_other_visitor_on_every_store()
 {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        // Another visitor, with things of their own.
        let other = app.another_visitor();
        put_profile(&app, &other, "Bartholomew").await;
        other
            .post(app.url("/api/v1/cart/items"))
            .json(&json!({"product_id": 1, "quantity": 1}))
            .send()
            .await
            .unwrap();
        order_with_request(&app, &other, "bartholomew-secret-request").await;

        // This visitor: an anonymous order, then an account.
        app.add(1, 1).await;
        order_with_request(&app, &app.client, "no garlic please").await;
        app.put_json("/api/v1/preferences", &json!({"theme": "dark"}))
            .await;
        let res = app.register("ada", PASSWORD).await;
        assert_eq!(res.status(), 201);
        let session = session_cookie(res.headers()).unwrap();
        put_profile(&app, &app.client, "Ada Lovelace").await;
        app.add(6, 2).await;
        list_book(&app, &app.client, 7).await;
        app.visit().await;

        let res = app.get(EXPORT).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        assert_eq!(
            res.headers()["content-disposition"],
            "attachment; filename=\"kitchen-memory-data.json\""
        );
        assert!(
            set_cookies(res.headers()).is_empty(),
            "an export changes nothing"
        );
        let text = res.text().await.unwrap();
        let export: Value = serde_json::from_str(&text).unwrap();

        // The values.
        let account = &export["account"];
        assert_eq!(account["username"], "ada", "{backend:?}: {export}");
        assert_eq!(account["profile"]["name"], "Ada Lovelace");
        assert_eq!(
            account["cart"],
            json!([{"product_id": 6, "name": "Caesar Salad", "quantity": 2}])
        );
        assert_eq!(account["reading"]["list"][0]["book_id"], 7);
        assert_eq!(account["reading"]["list"][0]["title"], "Dracula");
        let orders = account["orders"].as_array().unwrap();
        assert_eq!(
            orders.len(),
            1,
            "the order placed before registering is the account's"
        );
        assert_eq!(
            orders[0]["lines"][0]["special_requests"],
            "no garlic please"
        );
        assert_eq!(account["sessions"].as_array().unwrap().len(), 1);
        assert_eq!(account["sessions"][0]["current"], true);
        assert_eq!(export["session"]["visits"]["count"], 1);
        assert_eq!(cookie(&export, "preferences")["holds"]["theme"], "dark");

        // Never: the session id, the signed cookie, a login handle, the
        // password or its hash, another visitor's data.
        let hash: String = {
            let backend = app.db.get_database_backend();
            app.db
                .query_one_raw(Statement::from_string(
                    backend,
                    "SELECT password_hash FROM users WHERE username = 'ada'",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get("", "password_hash")
                .unwrap()
        };
        let handle = app.get_json("/api/v1/auth/sessions").await["items"][0]["handle"]
            .as_str()
            .unwrap()
            .to_owned();
        for secret in [
            session_id(&session).as_str(),
            session.as_str(),
            handle.as_str(),
            hash.as_str(),
            "$argon2",
            PASSWORD,
            "password",
            "Bartholomew",
            "bartholomew-secret-request",
        ] {
            assert!(
                !text.contains(secret),
                "{backend:?}: the export holds {secret:?}: {text}"
            );
        }

        // The other visitor's export is theirs alone.
        let res = other.get(app.url(EXPORT)).send().await.unwrap();
        let theirs: Value = res.json().await.unwrap();
        assert_eq!(theirs["account"], Value::Null);
        assert_eq!(theirs["session"]["profile"]["name"], "Bartholomew");
        assert_eq!(
            theirs["session"]["orders"][0]["lines"][0]["special_requests"],
            "bartholomew-secret-request"
        );
        let text = theirs.to_string();
        assert!(
            !text.contains("Ada") && !text.contains("no garlic"),
            "{text}"
        );
    }
}

/// Every `Set-Cookie` of a response, by cookie name.
fn set_cookie_names(res: &reqwest::Response) -> HashMap<String, String> {
    set_cookies(res.headers())
        .into_iter()
        .map(|c| {
            (
                cookie::Cookie::parse(c.clone()).unwrap().name().to_owned(),
                c,
            )
        })
        .collect()
}

/// `res` removes each of the cookies `names`, matching their path, and
/// sets no cookie.
fn assert_removed(res: &reqwest::Response, names: &[String]) {
    let set = set_cookie_names(res);
    for name in names {
        let header = set
            .get(name)
            .unwrap_or_else(|| panic!("{name} is not removed: {set:?}"));
        assert!(is_removal(header), "{name}: {header}");
        assert!(header.contains("Path=/"), "{name}: {header}");
    }
    assert!(set.values().all(|c| is_removal(c)), "{set:?}");
}

#[tokio::test]
async fn forget_me_erases_an_anonymous_visitor_and_leaves_nothing_to_list_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        app.add(1, 1).await;
        let order = order_with_request(&app, &app.client, "my name is Ada").await;
        app.visit().await;
        assert_eq!(app.delete("/api/v1/session").await.status(), 200);
        app.put_json("/api/v1/preferences", &json!({"theme": "dark"}))
            .await;
        app.put_json("/api/v1/reading-settings", &json!({"font_size": 20}))
            .await;
        app.post_json("/api/v1/vip", &json!({})).await;
        app.add(1, 1).await;
        let order_2 = order_with_request(&app, &app.client, "ring twice").await;
        put_profile(&app, &app.client, "Ada").await;
        list_book(&app, &app.client, 7).await;
        let session = session_cookie_of(&app).await;
        let held = cookie_names(&view(&app, &app.client).await);
        assert_eq!(held.len(), 6, "{backend:?}: every kind of cookie: {held:?}");

        let res = app.delete(PRIVACY).await;

        assert_eq!(res.status(), 204, "{backend:?}");
        assert_removed(&res, &held);
        assert_eq!(
            stored(&app, &session).await,
            None,
            "{backend:?}: the record is gone"
        );
        // The orders stay for the books, without their special requests
        // (the first was placed in a session a goodbye ended: the visitor
        // can no longer be told from it, and it keeps its request).
        let kept = count(
            &app,
            &format!("SELECT COUNT(*) AS n FROM orders WHERE id IN ({order}, {order_2})"),
        )
        .await;
        assert_eq!(kept, 2);
        let requests = count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM order_lines WHERE order_id = {order_2} AND special_requests IS NOT NULL"
            ),
        )
        .await;
        assert_eq!(requests, 0, "{backend:?}");
        assert_eq!(
            view(&app, &app.client).await,
            json!({"cookies": [], "session": {"stored": false, "kept_until": null, "holds": []}, "account": null}),
            "{backend:?}"
        );
        // The old cookie, sent again, finds nothing either.
        let replayed = app
            .another_visitor()
            .get(app.url(PRIVACY))
            .header("cookie", format!("{COOKIE}={session}"))
            .send()
            .await
            .unwrap();
        let replayed: Value = replayed.json().await.unwrap();
        assert_eq!(replayed["session"]["holds"], json!([]), "{backend:?}");
        assert_eq!(replayed["session"]["stored"], false);

        // Again: still 204; nothing left to remove, and nothing started.
        let res = app.delete(PRIVACY).await;
        assert_eq!(res.status(), 204);
        assert_eq!(set_cookies(res.headers()), Vec::<String>::new());
    }
}

#[tokio::test]
async fn forget_me_erases_a_signed_in_user_on_every_device_and_keeps_their_orders_unlinked_on_every_store()
 {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        assert_eq!(app.register("ada", PASSWORD).await.status(), 201);
        let phone = app.another_visitor();
        let res = phone
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": "ada", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let phone_session = session_cookie(res.headers()).unwrap();
        phone.post(app.url("/api/v1/visits")).send().await.unwrap();
        put_profile(&app, &app.client, "Ada").await;
        list_book(&app, &app.client, 7).await;
        app.add(1, 2).await;
        let order = order_with_request(&app, &app.client, "for Ada, table 4").await;
        app.add(6, 1).await;
        app.put_json("/api/v1/preferences", &json!({"theme": "dark"}))
            .await;
        let session = session_cookie_of(&app).await;
        let v = view(&app, &app.client).await;
        let held = cookie_names(&v);
        assert_eq!(
            holds(&v["account"]),
            counts(&[
                ("profile", 1),
                ("cart", 1),
                ("orders", 1),
                ("reading-list", 1),
                ("active-sessions", 2)
            ]),
            "{backend:?}: {v}"
        );
        assert_eq!(v["account"]["username"], "ada");
        assert_eq!(holds(&v["session"])["sign-in"], 1);
        let untouched = || async {
            let v = view(&app, &app.client).await;
            assert_eq!(v["account"]["username"], "ada", "{backend:?}: erased: {v}");
            assert_eq!(holds(&v["account"])["active-sessions"], 2, "{backend:?}");
            assert_eq!(cookie_names(&v), [COOKIE, "preferences", "loyalty"]);
        };

        // Refused: no password, a wrong one, another site's page.
        let body = assert_problem(app.delete(PRIVACY).await, 422, "validation-failed").await;
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
        untouched().await;
        let wrong = app
            .client
            .delete(app.url(PRIVACY))
            .json(&json!({"password": "not the password at all"}))
            .send()
            .await
            .unwrap();
        assert!(set_cookies(wrong.headers()).is_empty());
        let body = assert_problem(wrong, 422, "validation-failed").await;
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
        untouched().await;
        let cross_site = app
            .client
            .delete(app.url(PRIVACY))
            .header("Origin", "https://elsewhere.example")
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_problem(cross_site, 403, "cross-site-request").await;
        untouched().await;

        let res = app
            .client
            .delete(app.url(PRIVACY))
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .unwrap();

        assert_eq!(res.status(), 204, "{backend:?}");
        assert_removed(&res, &held);
        // Both devices' sessions are gone from the store; the phone is
        // signed out.
        assert_eq!(stored(&app, &session).await, None, "{backend:?}");
        assert_eq!(
            stored(&app, &phone_session).await,
            None,
            "{backend:?}: the phone's"
        );
        let res = phone.get(app.url("/api/v1/auth/me")).send().await.unwrap();
        assert_eq!(res.status(), 401, "{backend:?}");
        // The account and everything it held is gone; the order stays,
        // unlinked and without its special request.
        for table in ["users", "logins", "user_state"] {
            let n = count(&app, &format!("SELECT COUNT(*) AS n FROM {table}")).await;
            assert_eq!(n, 0, "{backend:?}: {table}");
        }
        let unlinked = count(
            &app,
            &format!("SELECT COUNT(*) AS n FROM orders WHERE id = {order} AND user_id IS NULL"),
        )
        .await;
        assert_eq!(unlinked, 1, "{backend:?}: the order is kept, of no one");
        let requests = count(
            &app,
            "SELECT COUNT(*) AS n FROM order_lines WHERE special_requests IS NOT NULL",
        )
        .await;
        assert_eq!(requests, 0, "{backend:?}");
        let lines = count(
            &app,
            &format!(
                "SELECT COUNT(*) AS n FROM order_lines WHERE order_id = {order} AND quantity = 2"
            ),
        )
        .await;
        assert_eq!(lines, 1, "the order's lines stay");
        // Nothing left that the view lists, from either device.
        let empty = json!({"cookies": [], "session": {"stored": false, "kept_until": null, "holds": []}, "account": null});
        assert_eq!(view(&app, &app.client).await, empty, "{backend:?}");
        let phone_view = view(&app, &phone).await;
        assert_eq!(phone_view["account"], Value::Null, "{backend:?}");
        assert_eq!(phone_view["session"]["holds"], json!([]), "{backend:?}");
        assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 401);

        // Sent again (the client still believes it is signed in): 204.
        let again = app
            .client
            .delete(app.url(PRIVACY))
            .json(&json!({"password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 204, "{backend:?}");
    }
}

#[tokio::test]
async fn a_password_sent_by_a_session_that_ended_first_erases_nothing() {
    let app = app().var("SESSION_IDLE_TIMEOUT", "300").spawn().await;
    assert_eq!(app.register("ada", PASSWORD).await.status(), 201);
    put_profile(&app, &app.client, "Ada").await;
    app.clock.advance(Duration::seconds(301));

    let res = app
        .client
        .delete(app.url(PRIVACY))
        .json(&json!({"password": PASSWORD}))
        .send()
        .await
        .unwrap();

    let body = assert_problem(res, 401, "session-expired").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("Nothing was erased"),
        "{body}"
    );
    assert_eq!(app.sign_in("ada", PASSWORD).await.status(), 200);
    assert_eq!(app.get_json("/api/v1/profile").await["name"], "Ada");
}

/// A client whose first forget-me got no answer (a lost response) sends it
/// again with the same cookies: the old id holds only the marker the first
/// call left, and the second call is a 204 too, removing the cookies again.
/// Any other change sent with that cookie is still refused (409).
#[tokio::test]
async fn forget_me_sent_again_with_the_same_cookie_is_a_204_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        // Anonymous, then signed in (the password sent both times).
        for signed_in in [false, true] {
            let client = app.another_visitor();
            let mut body = json!({});
            let res = if signed_in {
                let username = "ada";
                let res = client
                    .post(app.url("/api/v1/auth/register"))
                    .json(&json!({"username": username, "password": PASSWORD}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 201, "{backend:?}");
                body = json!({"password": PASSWORD});
                res
            } else {
                client
                    .post(app.url("/api/v1/cart/items"))
                    .json(&json!({"product_id": 1, "quantity": 1}))
                    .send()
                    .await
                    .unwrap()
            };
            let session = session_cookie(res.headers()).unwrap();
            let res = client
                .put(app.url("/api/v1/preferences"))
                .json(&json!({"theme": "dark"}))
                .send()
                .await
                .unwrap();
            let preferences = cookie_value(&set_cookie_for(res.headers(), "preferences").unwrap());
            let header = format!("{COOKIE}={session}; preferences={preferences}");
            // No cookie store: both calls carry the same cookies.
            let plain = reqwest::Client::new();
            let forget = || {
                plain
                    .delete(app.url(PRIVACY))
                    .header("cookie", &header)
                    .json(&body)
                    .send()
            };

            let first = forget().await.unwrap();
            let second = forget().await.unwrap();

            let what = format!("{backend:?}, signed in: {signed_in}");
            assert_eq!(first.status(), 204, "{what}");
            assert_eq!(second.status(), 204, "{what}: sent again");
            let removed = |res: &reqwest::Response, name: &str| {
                set_cookie_for(res.headers(), name).is_some_and(|c| is_removal(&c))
            };
            assert!(removed(&second, "preferences"), "{what}");
            assert!(removed(&second, COOKIE), "{what}: the session cookie");
            assert_eq!(stored(&app, &session).await, None, "{what}");
            // Still a 409 for a change: its session did end.
            let add = plain
                .post(app.url("/api/v1/cart/items"))
                .header("cookie", &header)
                .json(&json!({"product_id": 1, "quantity": 1}))
                .send()
                .await
                .unwrap();
            assert_problem(add, 409, "session-renewed").await;
        }
        assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM users").await, 0);
    }
}

/// A forget-me that waited behind a sign-in (the session lives on under a
/// new id) is refused like any change, not taken as done: the session it
/// names was not forgotten.
#[tokio::test]
async fn forget_me_sent_with_the_id_a_sign_in_renewed_is_refused_and_forgets_nothing() {
    let app = app().spawn().await;
    let res = app.add(1, 1).await;
    let old = session_cookie(res.headers()).unwrap();
    assert_eq!(app.register("ada", PASSWORD).await.status(), 201);

    let res = reqwest::Client::new()
        .delete(app.url(PRIVACY))
        .header("cookie", format!("{COOKIE}={old}"))
        .send()
        .await
        .unwrap();

    assert_problem(res, 409, "session-renewed").await;
    assert_eq!(
        app.get_json("/api/v1/auth/me").await["user"]["username"],
        "ada"
    );
}

/// Forget-me ends the other device's session in that session's turn: a
/// request of the phone already in flight (here held up in its sign-in
/// check by a transaction on its `logins` row) saves its record before the
/// record is deleted, never after, so nothing of the erased account's
/// session outlives the erasure.
#[tokio::test]
async fn a_request_of_the_other_device_in_flight_does_not_write_its_session_back_after_forget_me() {
    use sea_orm::TransactionTrait;

    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        assert_eq!(app.register("ada", PASSWORD).await.status(), 201);
        let phone = app.another_visitor();
        let res = phone
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": "ada", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let phone_session = session_cookie(res.headers()).unwrap();
        // A minute on: the phone's next request records itself in its row;
        // the laptop's row is brought up to date now, so that only the
        // phone's request meets the transaction below.
        app.clock.advance(Duration::seconds(61));
        view(&app, &app.client).await;
        let blocker = app.db.begin().await.unwrap();
        blocker
            .execute_unprepared(
                "UPDATE logins SET last_seen_at = last_seen_at WHERE id = (SELECT MAX(id) FROM logins)",
            )
            .await
            .unwrap();

        let visit = phone.post(app.url("/api/v1/visits")).send();
        let forget = async {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            app.client
                .delete(app.url(PRIVACY))
                .json(&json!({"password": PASSWORD}))
                .send()
                .await
                .unwrap()
        };
        let release = async {
            tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
            blocker.commit().await.unwrap();
        };
        let (visit, forget, ()) = tokio::join!(visit, forget, release);

        assert_eq!(forget.status(), 204, "{backend:?}");
        let visit = visit.unwrap().status().as_u16();
        assert!(visit < 300, "{backend:?}: the phone's visit: {visit}");
        assert_eq!(
            stored(&app, &phone_session).await,
            None,
            "{backend:?}: the phone's session was written back"
        );
        assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM users").await, 0);
    }
}

/// The account is erased, then the store refuses to delete the session's
/// record: the erasure stands (204, cookies removed) rather than an error
/// saying nothing was done. Sent again with the same cookie once the store
/// answers, it finds its sign-in ended and its account gone: 204, the rest
/// forgotten, not a 401 saying nothing was erased.
#[tokio::test]
async fn forget_me_whose_session_outlives_the_erased_account_is_finished_when_sent_again() {
    let app = app().backend(Backend::Database).spawn().await;
    let res = app.register("ada", PASSWORD).await;
    let session = session_cookie(res.headers()).unwrap();
    put_profile(&app, &app.client, "Ada").await;
    let postgres = app.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    if postgres {
        app.sql("CREATE FUNCTION refuse_session_deletes() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'session deletes refused'; END $$ LANGUAGE plpgsql").await;
        app.sql("CREATE TRIGGER refuse_session_deletes BEFORE DELETE ON sessions FOR EACH ROW EXECUTE FUNCTION refuse_session_deletes()").await;
    } else {
        app.sql("CREATE TRIGGER refuse_session_deletes BEFORE DELETE ON sessions BEGIN SELECT RAISE(ABORT, 'session deletes refused'); END").await;
    }
    let plain = reqwest::Client::new();
    let forget = || {
        plain
            .delete(app.url(PRIVACY))
            .header("cookie", format!("{COOKIE}={session}"))
            .json(&json!({"password": PASSWORD}))
            .send()
    };

    let first = forget().await.unwrap();

    assert_eq!(first.status(), 204);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM users").await, 0);
    assert!(
        stored(&app, &session).await.is_some(),
        "the store kept the record"
    );

    app.sql(if postgres {
        "DROP TRIGGER refuse_session_deletes ON sessions"
    } else {
        "DROP TRIGGER refuse_session_deletes"
    })
    .await;
    let again = forget().await.unwrap();

    assert_eq!(again.status(), 204);
    assert_eq!(stored(&app, &session).await, None);
}

/// A sign-in past its idle limit is no active session, but its row (its IP
/// address and browser) is kept until its next request: the export lists it,
/// marked not active, and the view counts it as an ended session.
#[tokio::test]
async fn the_export_lists_a_sign_in_that_ended_but_is_still_kept() {
    let app = app().var("SESSION_IDLE_TIMEOUT", "300").spawn().await;
    assert_eq!(app.register("ada", PASSWORD).await.status(), 201);
    let phone = app.another_visitor();
    let res = phone
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "ada", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // The laptop keeps going; the phone stops past its idle limit.
    app.clock.advance(Duration::seconds(200));
    view(&app, &app.client).await;
    app.clock.advance(Duration::seconds(200));

    let res = app.get(EXPORT).await;

    assert_eq!(res.status(), 200);
    let export: Value = res.json().await.unwrap();
    let sessions = export["account"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{export}");
    let ended: Vec<&Value> = sessions.iter().filter(|s| s["active"] == false).collect();
    assert_eq!(ended.len(), 1, "{export}");
    assert_eq!(ended[0]["current"], false);
    assert!(ended[0]["client_ip"].is_string(), "{export}");
    let v = view(&app, &app.client).await;
    assert_eq!(
        holds(&v["account"]),
        counts(&[("active-sessions", 1), ("ended-sessions", 1)]),
        "{v}"
    );
}

/// A change of another device that passed its sign-in check just before
/// the account was erased (here the erasure is made to land right before its
/// first write) is refused as a session ended elsewhere (401), not a 500.
#[tokio::test]
async fn a_change_that_meets_its_account_erased_meanwhile_is_a_401() {
    let app = app().spawn().await;
    assert_eq!(app.register("ada", PASSWORD).await.status(), 201);
    if app.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        app.sql("CREATE FUNCTION erase_first() RETURNS trigger AS $$ BEGIN DELETE FROM users WHERE id = NEW.user_id; RETURN NEW; END $$ LANGUAGE plpgsql").await;
        app.sql("CREATE TRIGGER erase_first BEFORE INSERT ON user_state FOR EACH ROW EXECUTE FUNCTION erase_first()").await;
    } else {
        app.sql("CREATE TRIGGER erase_first BEFORE INSERT ON user_state BEGIN DELETE FROM users WHERE id = NEW.user_id; END").await;
    }

    let res = app
        .put_json(
            "/api/v1/profile",
            &json!({"name": "Ada", "favorite_dish": "Pad Thai"}),
        )
        .await;

    assert_problem(res, 401, "session-expired").await;
}

/// Forget-me takes its turn on the session like every change: changes sent
/// at the same time either ran before it (and are erased with the rest) or
/// after it (and are refused, 409): none writes the session back.
#[tokio::test]
async fn changes_sent_with_forget_me_take_turns_and_none_survives_it() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let res = app.add(1, 1).await;
        let session = session_cookie(res.headers()).unwrap();
        let header = format!("{COOKIE}={session}");
        // A client without a cookie store: every request carries the old cookie.
        let plain = reqwest::Client::new();
        let adds = (0..8).map(|i| {
            plain
                .post(app.url("/api/v1/cart/items"))
                .header("cookie", &header)
                .json(&json!({"product_id": 1 + (i % 3), "quantity": 1}))
                .send()
        });
        let forget = plain
            .delete(app.url(PRIVACY))
            .header("cookie", &header)
            .send();
        let (adds, forget) =
            futures_util::future::join(futures_util::future::join_all(adds), forget).await;

        assert_eq!(forget.unwrap().status(), 204, "{backend:?}");
        for res in adds {
            let res = res.unwrap();
            let status = res.status().as_u16();
            if status == 409 {
                assert_problem(res, 409, "session-renewed").await;
            } else {
                assert!(status == 200 || status == 201, "{backend:?}: {status}");
                // Ran before forget-me, in the same session: an add that
                // started a session of its own after it would hold what was
                // just forgotten.
                if let Some(set) = session_cookie(res.headers()) {
                    assert_eq!(
                        session_id(&set),
                        session_id(&session),
                        "{backend:?}: an add started a new session"
                    );
                }
            }
        }
        assert_eq!(stored(&app, &session).await, None, "{backend:?}");
    }
}
