//! Cookies as a browser keeps them: preferences (encrypted), loyalty and VIP
//! (signed), the goodbye summary, tampering, expiry and key rotation.

use std::time::Duration;

use api::config::SecretKey;
use api::cookies::{CookieKit, CookieSpec, LOYALTY, PREFERENCES, VIP, VISIT_SUMMARY};
use cookie::{Cookie, SameSite};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

use crate::helpers::{
    SECRET_KEY, TestApp, app, assert_problem, backends, cookie_value, is_removal, session_cookie,
    set_cookie_for, spawn_app,
};

fn key(s: &str) -> SecretKey {
    SecretKey::new(s.as_bytes().to_vec()).unwrap()
}

fn seal(secret: &str, spec: &CookieSpec, value: &Value, issued_at: OffsetDateTime) -> String {
    CookieKit::seal_with(&key(secret), spec, value, issued_at).unwrap()
}

async fn get_with_cookie(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    app.another_visitor()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

/// A `Set-Cookie` header's attributes, read by the `cookie` crate.
fn attrs(set_cookie: &str) -> Cookie<'static> {
    Cookie::parse(set_cookie.to_owned()).expect("a Set-Cookie header")
}

fn days(n: i64) -> cookie::time::Duration {
    cookie::time::Duration::days(n)
}

#[tokio::test]
async fn preferences_round_trip_in_an_encrypted_cookie() {
    let app = spawn_app().await;
    let res = app.get("/api/v1/preferences").await;
    assert!(set_cookie_for(res.headers(), "preferences").is_none());
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"preferred_cuisine": null, "theme": "system", "font_size": "medium", "reduced_motion": false})
    );

    let res = app
        .put_json(
            "/api/v1/preferences",
            &json!({"preferred_cuisine": "italian", "theme": "dark", "reduced_motion": true}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let cookie = set_cookie_for(res.headers(), "preferences").unwrap();
    let a = attrs(&cookie);
    assert_eq!(a.http_only(), Some(true), "{cookie}");
    assert_eq!(a.path(), Some("/"), "{cookie}");
    assert_eq!(a.same_site(), Some(SameSite::Lax), "{cookie}");
    assert_eq!(a.max_age(), Some(days(365)), "{cookie}");
    let raw = cookie_value(&cookie);
    assert!(
        !raw.contains("italian") && !raw.contains("dark"),
        "private content shows: {raw}"
    );
    // Nothing about preferences lands in the session.
    assert!(session_cookie(res.headers()).is_none());

    let res = app
        .client
        .patch(app.url("/api/v1/preferences"))
        .json(&json!({"font_size": "x-large", "preferred_cuisine": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"preferred_cuisine": null, "theme": "dark", "font_size": "x-large", "reduced_motion": true})
    );

    let body = assert_problem(
        app.put_json(
            "/api/v1/preferences",
            &json!({"theme": "sepia", "font_size": "huge"}),
        )
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    assert_eq!(
        app.get_json("/api/v1/preferences").await["font_size"],
        "x-large"
    );

    let res = app.delete("/api/v1/preferences").await;
    assert_eq!(res.status(), 204);
    let removal = set_cookie_for(res.headers(), "preferences").unwrap();
    assert!(
        is_removal(&removal) && removal.contains("Path=/"),
        "{removal}"
    );
    assert_eq!(app.get_json("/api/v1/preferences").await["theme"], "system");
}

#[tokio::test]
async fn the_preferred_cuisine_leads_the_menu() {
    let app = spawn_app().await;
    app.put_json(
        "/api/v1/preferences",
        &json!({"preferred_cuisine": "indian"}),
    )
    .await;
    let menu: Value = app.get_json("/api/v1/menu").await;
    let cuisines: Vec<&str> = menu["others"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["cuisine"].as_str().unwrap())
        .collect();
    let indian = cuisines.iter().take_while(|c| **c == "indian").count();
    assert_eq!(indian, 4, "{cuisines:?}");
    assert!(cuisines[indian..].iter().all(|c| *c != "indian"));
}

#[tokio::test]
async fn loyalty_grows_with_each_checkout_and_cannot_be_raised_by_the_client() {
    let app = spawn_app().await;
    assert_eq!(
        app.get_json("/api/v1/loyalty").await,
        json!({"level": "bronze", "spent": "0.00", "next_level": "silver", "to_next_level": "50.00"})
    );

    app.add(1, 2).await; // 25.00
    let res = app
        .client
        .post(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let cookie = set_cookie_for(res.headers(), "loyalty").unwrap();
    assert_eq!(attrs(&cookie).max_age(), Some(days(30)), "{cookie}");
    assert_eq!(
        app.get_json("/api/v1/loyalty").await,
        json!({"level": "bronze", "spent": "25.00", "next_level": "silver", "to_next_level": "25.00"})
    );

    app.add(12, 1).await; // 24.50
    app.add(1, 1).await; // 12.50
    app.client
        .post(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap();
    let loyalty: Value = app.get_json("/api/v1/loyalty").await;
    assert_eq!(loyalty["level"], "silver");
    assert_eq!(loyalty["spent"], "62.00");

    // A client writing its own ticket gets Bronze, and the cookie removed.
    let forged = format!(
        "loyalty={}",
        cookie_value(&cookie).replace("MjUuMDA", "OTk5LjAw")
    );
    let res = get_with_cookie(&app, "/api/v1/loyalty", &forged).await;
    assert!(is_removal(
        &set_cookie_for(res.headers(), "loyalty").unwrap()
    ));
    assert_eq!(res.json::<Value>().await.unwrap()["level"], "bronze");
    let unsigned = "loyalty=eyJzcGVudCI6Ijk5OS4wMCJ9";
    assert_eq!(
        get_with_cookie(&app, "/api/v1/loyalty", unsigned)
            .await
            .json::<Value>()
            .await
            .unwrap()["level"],
        "bronze"
    );
}

#[tokio::test]
async fn vip_membership_lives_in_a_signed_cookie_and_earns_points() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/vip").await, 404, "not-found").await;

    let res = app
        .post_json(
            "/api/v1/vip",
            &json!({"special_requests": ["gluten-free", " extra-spicy "]}),
        )
        .await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["location"], "/api/v1/vip");
    let cookie = set_cookie_for(res.headers(), "vip").unwrap();
    assert_eq!(attrs(&cookie).max_age(), Some(days(365)), "{cookie}");
    let joined: Value = res.json().await.unwrap();
    assert_eq!(joined["status"], "active");
    assert_eq!(joined["points"], 0);
    assert_eq!(
        joined["special_requests"],
        json!(["gluten-free", "extra-spicy"])
    );
    assert_eq!(
        joined["member_since"],
        OffsetDateTime::now_utc().date().to_string()
    );

    app.add(1, 3).await; // 37.50
    app.client
        .post(app.url("/api/v1/orders"))
        .send()
        .await
        .unwrap();
    let vip: Value = app.get_json("/api/v1/vip").await;
    assert_eq!(vip["points"], 37);

    // Joining again keeps the points and date, replaces the requests.
    let res = app
        .post_json("/api/v1/vip", &json!({"special_requests": []}))
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers().get("location").is_none());
    let again: Value = res.json().await.unwrap();
    assert_eq!(
        (again["points"].clone(), again["special_requests"].clone()),
        (json!(37), json!([]))
    );

    // Bad requests change nothing.
    let eleven: Vec<String> = (0..11).map(|i| format!("r{i}")).collect();
    assert_problem(
        app.post_json("/api/v1/vip", &json!({"special_requests": eleven}))
            .await,
        422,
        "validation-failed",
    )
    .await;
    // Ten requests of 100 four-byte characters would make a cookie over 4096 bytes.
    let heavy: Vec<String> = (0..10).map(|_| "🌶".repeat(100)).collect();
    let body = assert_problem(
        app.post_json("/api/v1/vip", &json!({"special_requests": heavy}))
            .await,
        422,
        "cookie-too-large",
    )
    .await;
    assert!(body["detail"].as_str().unwrap().contains("4096"), "{body}");
    assert_eq!(app.get_json("/api/v1/vip").await["points"], 37);

    let res = app.delete("/api/v1/vip").await;
    assert_eq!(res.status(), 204);
    assert!(is_removal(&set_cookie_for(res.headers(), "vip").unwrap()));
    assert_problem(app.get("/api/v1/vip").await, 404, "not-found").await;
}

#[tokio::test]
async fn tampered_moved_expired_and_foreign_cookies_are_ignored_and_removed() {
    let app = spawn_app().await;
    let now = OffsetDateTime::now_utc();
    let vip = json!({"status": "active", "member_since": "2026-01-15", "points": 15000, "special_requests": []});
    let good = seal(SECRET_KEY, &VIP, &vip, now);
    let res = get_with_cookie(&app, "/api/v1/vip", &format!("vip={good}")).await;
    assert_eq!(res.status(), 200, "a well-made cookie is accepted");

    let mut flipped = good.clone().into_bytes();
    let middle = flipped.len() / 2;
    flipped[middle] = if flipped[middle] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let expired = seal(SECRET_KEY, &VIP, &vip, now - time::Duration::days(366));
    let foreign = seal("another-secret-key-that-is-long-enough", &VIP, &vip, now);
    let moved_purpose = seal(SECRET_KEY, &LOYALTY, &vip, now);
    let oversized = "A".repeat(4100);

    for (what, value) in [
        ("flipped bit", flipped.as_str()),
        ("truncated", &good[..good.len() - 4]),
        ("expired issue time", expired.as_str()),
        ("unknown key", foreign.as_str()),
        ("another purpose", moved_purpose.as_str()),
        ("oversized", oversized.as_str()),
    ] {
        let res = get_with_cookie(&app, "/api/v1/vip", &format!("vip={value}")).await;
        let removal = set_cookie_for(res.headers(), "vip").unwrap_or_default();
        assert!(is_removal(&removal), "{what}: not removed ({removal})");
        assert_problem(res, 404, "not-found").await;
    }

    // A value moved under another cookie's name.
    let res = get_with_cookie(&app, "/api/v1/loyalty", &format!("loyalty={good}")).await;
    assert!(is_removal(
        &set_cookie_for(res.headers(), "loyalty").unwrap()
    ));
    assert_eq!(res.json::<Value>().await.unwrap()["level"], "bronze");
    let prefs = seal(
        SECRET_KEY,
        &PREFERENCES,
        &json!({"preferred_cuisine": null, "theme": "dark", "font_size": "small", "reduced_motion": false}),
        now,
    );
    let res = get_with_cookie(&app, "/api/v1/loyalty", &format!("loyalty={prefs}")).await;
    assert_eq!(res.json::<Value>().await.unwrap()["level"], "bronze");
}

#[tokio::test]
async fn a_cookie_from_a_fallback_key_is_accepted_and_reissued_under_the_current_key() {
    const NEW: &str = "the-new-secret-key-0123456789abcdef-0123456789";
    let app = app()
        .var("SECRET_KEY", NEW)
        .var("SECRET_KEY_FALLBACKS", SECRET_KEY)
        .spawn()
        .await;
    // Ages are counted on the service's clock.
    let now = app.clock.now();
    let issued = now - time::Duration::days(3);
    let old = seal(SECRET_KEY, &LOYALTY, &json!({"spent": "250.00"}), issued);

    let res = get_with_cookie(&app, "/api/v1/loyalty", &format!("loyalty={old}")).await;
    let reissued = set_cookie_for(res.headers(), "loyalty").expect("re-issued");
    assert!(!is_removal(&reissued));
    // The rest of its 30 days, not a fresh 30.
    let max_age = attrs(&reissued).max_age().unwrap().whole_seconds();
    assert!(
        (27 * 86_400 - 60..=27 * 86_400).contains(&max_age),
        "{max_age}"
    );
    assert_eq!(res.json::<Value>().await.unwrap()["level"], "gold");

    // The re-issued value verifies under the new key with nothing more to re-issue.
    let res = get_with_cookie(
        &app,
        "/api/v1/loyalty",
        &format!("loyalty={}", cookie_value(&reissued)),
    )
    .await;
    assert!(set_cookie_for(res.headers(), "loyalty").is_none());
    assert_eq!(res.json::<Value>().await.unwrap()["spent"], "250.00");
    let config =
        api::Config::from_vars([("SECRET_KEY".to_owned(), NEW.to_owned())].into()).unwrap();
    let only_new = CookieKit::new(&config);
    let raw = cookie_value(&reissued)
        .replace("%3D", "=")
        .replace("%2B", "+")
        .replace("%2F", "/");
    match only_new.open::<Value>(&LOYALTY, &raw, now) {
        api::cookies::Opened::Current { value, issued_at } => {
            assert_eq!(value["spent"], "250.00");
            assert_eq!(
                issued_at.unix_timestamp(),
                issued.unix_timestamp(),
                "the issue time is kept"
            );
        }
        other => panic!("the re-issued cookie does not open under the new key alone: {other:?}"),
    }
}

#[tokio::test]
async fn rotating_the_secret_key_logs_no_one_out() {
    let mut app = app()
        .backend(crate::helpers::Backend::Database)
        .spawn()
        .await;
    app.add(4, 2).await;
    let before = app.cart().await;

    // New key, old one as a fallback: the cart is still there, the cookie re-signed.
    const NEW: &str = "the-new-secret-key-0123456789abcdef-0123456789";
    app.set_var("SECRET_KEY", Some(NEW));
    app.set_var("SECRET_KEY_FALLBACKS", Some(SECRET_KEY));
    app.restart().await;
    let res = app.get("/api/v1/cart").await;
    assert!(
        session_cookie(res.headers()).is_some(),
        "re-signed under the new key"
    );
    assert_eq!(res.json::<Value>().await.unwrap(), before);

    // Once re-signed, the old key can go.
    app.set_var("SECRET_KEY_FALLBACKS", None);
    app.restart().await;
    let res = app.get("/api/v1/cart").await;
    assert!(session_cookie(res.headers()).is_none());
    assert_eq!(res.json::<Value>().await.unwrap(), before);
}

#[tokio::test]
async fn goodbye_destroys_the_session_and_the_next_visit_continues_the_count() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        app.visit().await;
        app.visit().await;
        let res = app
            .put_json("/api/v1/profile", &json!({"name": "Ada"}))
            .await;
        app.put_json("/api/v1/preferences", &json!({"theme": "dark"}))
            .await;
        app.add(1, 1).await;
        let old_cookie = session_cookie(res.headers()).unwrap();
        let id: Id = old_cookie[44..].parse().unwrap();
        let store = app.state.as_ref().unwrap().sessions.clone();
        assert!(store.load(&id).await.unwrap().is_some());

        let res = app.delete("/api/v1/session").await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let removal = set_cookie_for(res.headers(), "km_session").unwrap();
        assert!(is_removal(&removal), "{backend:?}: {removal}");
        let summary_cookie = set_cookie_for(res.headers(), VISIT_SUMMARY.name).unwrap();
        let a = attrs(&summary_cookie);
        assert!(
            a.http_only() == Some(true) && a.max_age() == Some(days(30)),
            "{summary_cookie}"
        );
        let summary: Value = res.json().await.unwrap();
        assert_eq!(
            (summary["name"].clone(), summary["visit_count"].clone()),
            (json!("Ada"), json!(2))
        );

        // The record is gone (what is left under the id for a few seconds is
        // a tombstone that holds nothing of the visitor's: see
        // `session/renew.rs`); replaying the old cookie gets an empty session.
        let left = store.load(&id).await.unwrap();
        assert!(
            left.as_ref()
                .is_none_or(|r| r.data.keys().all(|k| k == "renewed" || k == "ended")),
            "{backend:?}: the record is still in the store: {left:?}"
        );
        let res =
            get_with_cookie(&app, "/api/v1/session", &format!("km_session={old_cookie}")).await;
        let state: Value = res.json().await.unwrap();
        assert_eq!(state["visit_count"], 0, "{backend:?}");
        assert_eq!(state["profile"], Value::Null);
        assert_eq!(state["cart_item_count"], 0);

        // The same browser comes back: a new session continues the count.
        let state: Value = app.get_json("/api/v1/session").await;
        assert_eq!(
            state["visit_count"], 0,
            "{backend:?}: the browser's session is new"
        );
        let welcome: Value = app.visit().await;
        assert_eq!(welcome["returning"], true, "{backend:?}");
        assert_eq!(welcome["visit_count"], 3);
        assert_eq!(welcome["name"], "Ada");
        assert_eq!(welcome["last_visit"], summary["date"]);
        // Preferences outlived the session.
        assert_eq!(app.get_json("/api/v1/preferences").await["theme"], "dark");
    }
}

#[tokio::test]
async fn a_forged_visit_summary_does_not_continue_any_count() {
    let app = spawn_app().await;
    let forged = format!(
        "last_visit_summary={}",
        seal(
            "not-our-secret-key-0123456789abcdef",
            &VISIT_SUMMARY,
            &json!({"name": "Mallory", "visit_count": 999, "date": "2026-11-01T00:00:00Z"}),
            OffsetDateTime::now_utc()
        )
    );
    let res = app
        .another_visitor()
        .post(app.url("/api/v1/visits"))
        .header("cookie", forged)
        .send()
        .await
        .unwrap();
    let welcome: Value = res.json().await.unwrap();
    assert_eq!(
        (
            welcome["returning"].clone(),
            welcome["visit_count"].clone(),
            welcome["name"].clone()
        ),
        (json!(false), json!(1), Value::Null)
    );
    tokio::time::sleep(Duration::from_millis(1)).await;
}

#[tokio::test]
async fn cookie_attributes_follow_the_configuration_and_removal_matches_them() {
    let app = app()
        .var("APP_ENV", "production")
        .var("SESSION_COOKIE_DOMAIN", "127.0.0.1")
        .var("SESSION_COOKIE_SAMESITE", "strict")
        .spawn()
        .await;
    let res = app
        .put_json("/api/v1/preferences", &json!({"theme": "light"}))
        .await;
    let set = set_cookie_for(res.headers(), "preferences").unwrap();
    let a = attrs(&set);
    assert_eq!(a.secure(), Some(true), "{set}");
    assert_eq!(a.http_only(), Some(true), "{set}");
    assert_eq!(a.same_site(), Some(SameSite::Strict), "{set}");
    assert_eq!(a.domain(), Some("127.0.0.1"), "{set}");
    assert_eq!(a.path(), Some("/"), "{set}");
    let res = app.delete("/api/v1/preferences").await;
    let removal = set_cookie_for(res.headers(), "preferences").unwrap();
    let a = attrs(&removal);
    assert!(is_removal(&removal));
    assert!(
        a.domain() == Some("127.0.0.1") && a.path() == Some("/"),
        "{removal}"
    );
}

/// A cookie's age is judged by the service's clock, the one it stamps
/// orders and visits with, not by the wall clock.
#[tokio::test]
async fn a_cookie_expires_by_the_service_clock() {
    let app = spawn_app().await;
    let res = app
        .put_json("/api/v1/preferences", &json!({"theme": "dark"}))
        .await;
    assert_eq!(res.status(), 200);

    app.clock.advance(time::Duration::days(364));
    let res = app.get("/api/v1/preferences").await;
    assert!(set_cookie_for(res.headers(), "preferences").is_none());
    assert_eq!(res.json::<Value>().await.unwrap()["theme"], "dark");

    // A year and a day after it was issued: expired, removed, defaults apply.
    app.clock.advance(time::Duration::days(2));
    let res = app.get("/api/v1/preferences").await;
    assert!(is_removal(
        &set_cookie_for(res.headers(), "preferences").unwrap_or_default()
    ));
    assert_eq!(res.json::<Value>().await.unwrap()["theme"], "system");
}
