//! Reading settings as a browser keeps them: their own encrypted cookie,
//! round trip, defaults, validation, tampering and independence from the
//! display preferences.

use api::config::SecretKey;
use api::cookies::{CookieKit, READING_SETTINGS};
use cookie::{Cookie, SameSite};
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::{
    SECRET_KEY, TestApp, app, assert_problem, backends, cookie_value, is_removal, send,
    session_cookie, set_cookie_for, spawn_app,
};

const PATH: &str = "/api/v1/reading-settings";

fn defaults() -> Value {
    json!({"font_size": 18, "theme": "system", "line_spacing": 1.5,
           "font_family": "serif", "text_width": "medium"})
}

async fn patch(app: &TestApp, body: &Value) -> reqwest::Response {
    send(&app.client, Method::PATCH, app.url(PATH), Some(body)).await
}

/// A GET from a fresh client that sends exactly `cookie`.
async fn get_with_cookie(app: &TestApp, cookie: &str) -> reqwest::Response {
    app.another_visitor()
        .get(app.url(PATH))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
}

fn seal(secret: &str, value: &Value, issued_at: OffsetDateTime) -> String {
    let key = SecretKey::new(secret.as_bytes().to_vec()).unwrap();
    CookieKit::seal_with(&key, &READING_SETTINGS, value, issued_at).unwrap()
}

#[tokio::test]
async fn a_new_reader_gets_the_defaults_and_no_cookie() {
    let app = spawn_app().await;
    let res = app.get(PATH).await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie_for(res.headers(), "reading_settings").is_none());
    assert!(session_cookie(res.headers()).is_none());
    assert_eq!(res.json::<Value>().await.unwrap(), defaults());
}

#[tokio::test]
async fn settings_round_trip_in_their_own_encrypted_cookie_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let chosen = json!({"font_size": 24, "theme": "sepia", "line_spacing": 2.25,
                            "font_family": "dyslexic-friendly", "text_width": "narrow"});
        let res = app.put_json(PATH, &chosen).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let set = set_cookie_for(res.headers(), "reading_settings").unwrap();
        let raw = cookie_value(&set);
        assert!(
            !raw.contains("sepia") && !raw.contains("dyslexic"),
            "private content shows: {raw}"
        );
        // Nothing about the settings lands in the session.
        assert!(session_cookie(res.headers()).is_none(), "{backend:?}");
        assert_eq!(res.json::<Value>().await.unwrap(), chosen);

        assert_eq!(app.get_json(PATH).await, chosen, "{backend:?}");
    }
}

#[tokio::test]
async fn the_cookie_is_http_only_kept_a_year_on_the_whole_site_and_same_site() {
    let app = spawn_app().await;
    let res = app.put_json(PATH, &json!({"theme": "dark"})).await;
    let set = set_cookie_for(res.headers(), "reading_settings").unwrap();
    let a = Cookie::parse(set.clone()).unwrap();
    assert_eq!(a.http_only(), Some(true), "{set}");
    assert_eq!(
        a.max_age(),
        Some(cookie::time::Duration::days(365)),
        "{set}"
    );
    assert_eq!(a.same_site(), Some(SameSite::Lax), "{set}");
    assert_eq!(a.path(), Some("/"), "{set}");
}

#[tokio::test]
async fn the_cookie_follows_the_configured_attributes_like_the_preferences() {
    let app = app()
        .var("APP_ENV", "production")
        .var("SESSION_COOKIE_DOMAIN", "127.0.0.1")
        .var("SESSION_COOKIE_SAMESITE", "strict")
        .spawn()
        .await;
    let res = app.put_json(PATH, &json!({"theme": "light"})).await;
    let set = set_cookie_for(res.headers(), "reading_settings").unwrap();
    let a = Cookie::parse(set.clone()).unwrap();
    assert_eq!(
        (a.secure(), a.same_site(), a.domain()),
        (Some(true), Some(SameSite::Strict), Some("127.0.0.1")),
        "{set}"
    );
    let res = app.delete(PATH).await;
    let removal = set_cookie_for(res.headers(), "reading_settings").unwrap();
    let a = Cookie::parse(removal.clone()).unwrap();
    assert!(is_removal(&removal), "{removal}");
    assert_eq!((a.domain(), a.path()), (Some("127.0.0.1"), Some("/")));
}

#[tokio::test]
async fn put_replaces_everything_and_fields_left_out_take_their_defaults() {
    let app = spawn_app().await;
    app.put_json(
        PATH,
        &json!({"font_size": 30, "theme": "dark", "font_family": "sans-serif"}),
    )
    .await;
    let res = app.put_json(PATH, &json!({"line_spacing": 2})).await;
    assert_eq!(res.status(), 200);
    let mut expected = defaults();
    expected["line_spacing"] = json!(2.0);
    assert_eq!(res.json::<Value>().await.unwrap(), expected);
    assert_eq!(app.get_json(PATH).await, expected);
}

#[tokio::test]
async fn patch_changes_only_the_fields_sent() {
    let app = spawn_app().await;
    app.put_json(PATH, &json!({"font_size": 14, "theme": "dark"}))
        .await;
    let res = patch(&app, &json!({"text_width": "Wide", "line_spacing": 1.25})).await;
    assert_eq!(res.status(), 200);
    let expected = json!({"font_size": 14, "theme": "dark", "line_spacing": 1.25,
                          "font_family": "serif", "text_width": "wide"});
    assert_eq!(res.json::<Value>().await.unwrap(), expected);
    // Absent and null both leave a field as it is.
    let res = patch(&app, &json!({"theme": null})).await;
    assert_eq!(res.json::<Value>().await.unwrap(), expected);
    assert_eq!(app.get_json(PATH).await, expected);

    // A PATCH with no cookie yet starts from the defaults.
    let fresh = spawn_app().await;
    let res = patch(&fresh, &json!({"theme": "sepia"})).await;
    let mut expected = defaults();
    expected["theme"] = json!("sepia");
    assert_eq!(res.json::<Value>().await.unwrap(), expected);
}

#[tokio::test]
async fn delete_removes_the_cookie_and_the_defaults_return() {
    let app = spawn_app().await;
    app.put_json(PATH, &json!({"theme": "dark", "font_size": 26}))
        .await;
    let res = app.delete(PATH).await;
    assert_eq!(res.status(), 204);
    let removal = set_cookie_for(res.headers(), "reading_settings").unwrap();
    assert!(
        is_removal(&removal) && removal.contains("Path=/"),
        "{removal}"
    );
    assert_eq!(app.get_json(PATH).await, defaults());
    // Idempotent: again, with nothing to remove.
    assert_eq!(app.delete(PATH).await.status(), 204);
}

#[tokio::test]
async fn each_field_out_of_bounds_is_a_422_naming_it_and_nothing_changes() {
    let app = spawn_app().await;
    let kept = json!({"font_size": 22, "theme": "dark", "line_spacing": 1.75,
                      "font_family": "sans-serif", "text_width": "wide"});
    assert_eq!(app.put_json(PATH, &kept).await.status(), 200);
    for (field, bad, names) in [
        ("font_size", json!(11), "12 to 32"),
        ("font_size", json!(33), "12 to 32"),
        ("line_spacing", json!(0.75), "1.0 to 2.5"),
        ("line_spacing", json!(2.75), "1.0 to 2.5"),
        ("line_spacing", json!(1.3), "steps of 0.25"),
        ("theme", json!("neon"), "light, dark, sepia, system"),
        (
            "font_family",
            json!("comic-sans"),
            "serif, sans-serif, dyslexic-friendly",
        ),
        ("text_width", json!("huge"), "narrow, medium, wide"),
    ] {
        for method in [Method::PUT, Method::PATCH] {
            let body = json!({ field: bad });
            let res = send(&app.client, method.clone(), app.url(PATH), Some(&body)).await;
            assert!(
                set_cookie_for(res.headers(), "reading_settings").is_none(),
                "{method} {body}"
            );
            let problem = assert_problem(res, 422, "validation-failed").await;
            let errors = problem["errors"].as_array().unwrap();
            assert_eq!(errors.len(), 1, "{problem}");
            assert_eq!(errors[0]["field"], field, "{problem}");
            assert!(
                errors[0]["message"].as_str().unwrap().contains(names),
                "{method} {body}: {problem}"
            );
        }
    }
    // Several at once: each is named, and a valid field beside them is not applied.
    let res = app
        .put_json(
            PATH,
            &json!({"font_size": 99, "theme": "neon", "text_width": "narrow"}),
        )
        .await;
    let problem = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(problem["errors"].as_array().unwrap().len(), 2, "{problem}");
    assert_eq!(app.get_json(PATH).await, kept);
}

#[tokio::test]
async fn a_body_of_the_wrong_shape_is_refused() {
    let app = spawn_app().await;
    for body in [
        json!({"font_size": "large"}),
        json!({"font_size": 18.5}),
        json!({"colour": "red"}),
    ] {
        let res = app.put_json(PATH, &body).await;
        assert!(res.status().is_client_error(), "{body}: {}", res.status());
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
    }
    assert_eq!(app.get_json(PATH).await, defaults());
}

/// JSON has one number type: a size written `20.0` is the whole number 20.
#[tokio::test]
async fn a_whole_number_written_with_a_decimal_point_is_that_number() {
    let app = spawn_app().await;
    let res = app
        .put_json(PATH, &json!({"font_size": 20.0, "line_spacing": 2.0}))
        .await;
    assert_eq!(res.status(), 200);
    let settings: Value = res.json().await.unwrap();
    assert_eq!(settings["font_size"], 20);
    assert_eq!(settings["line_spacing"], 2.0);
}

/// A number sent for a word is named as the number sent, not as the whole
/// number a second reading of the body made of it.
#[tokio::test]
async fn a_number_for_a_word_is_refused_as_the_number_sent() {
    let app = spawn_app().await;
    let res = app.put_json(PATH, &json!({"theme": 5.0})).await;
    let problem = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "theme", "{problem}");
    let message = problem["errors"][0]["message"].as_str().unwrap();
    assert!(
        message
            .starts_with("invalid type: floating point `5.0`, expected a string at line 1 column "),
        "{message}"
    );
    assert_eq!(app.get_json(PATH).await, defaults());
}

/// Beside a whole number written with a decimal point, which is taken, the
/// field refused is the one in error.
#[tokio::test]
async fn a_whole_number_with_a_point_is_not_blamed_for_another_fields_error() {
    let app = spawn_app().await;
    let res = app
        .put_json(PATH, &json!({"font_size": 20.0, "theme": 5.0}))
        .await;
    let problem = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "theme", "{problem}");
    assert_eq!(app.get_json(PATH).await, defaults());
}

#[tokio::test]
async fn a_tampered_cookie_reads_as_the_defaults_and_is_removed() {
    let app = spawn_app().await;
    let res = app
        .put_json(PATH, &json!({"theme": "dark", "font_size": 28}))
        .await;
    let good = cookie_value(&set_cookie_for(res.headers(), "reading_settings").unwrap());

    // The genuine cookie reads back.
    let res = get_with_cookie(&app, &format!("reading_settings={good}")).await;
    assert_eq!(res.json::<Value>().await.unwrap()["theme"], "dark");

    let mut flipped = good.clone().into_bytes();
    // A letter or digit of the sealed text, not inside a `%` escape (a
    // changed escape can make the cookie unreadable as a cookie rather than
    // as a seal).
    let mid = (flipped.len() / 2..flipped.len())
        .find(|&i| flipped[i].is_ascii_alphanumeric() && !flipped[i - 2..i].contains(&b'%'))
        .unwrap();
    flipped[mid] = if flipped[mid] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let now = app.clock.now();
    let stored = json!({"font_size": 28, "theme": "dark", "line_spacing": 1.5,
                        "font_family": "serif", "text_width": "medium"});
    for (why, raw) in [
        ("a flipped byte", flipped),
        ("truncated", good[..good.len() - 4].to_owned()),
        ("not ours at all", "hello".to_owned()),
        (
            "sealed with another key",
            seal("another-secret-key-0123456789abcdef-0123", &stored, now),
        ),
        (
            "expired",
            seal(
                SECRET_KEY,
                &stored,
                now - time::Duration::days(365) - time::Duration::minutes(1),
            ),
        ),
        (
            "a value out of bounds",
            seal(
                SECRET_KEY,
                &json!({"font_size": 99, "theme": "dark", "line_spacing": 1.5,
                                     "font_family": "serif", "text_width": "medium"}),
                now,
            ),
        ),
        ("the display preferences' cookie moved over", {
            let key = SecretKey::new(SECRET_KEY.as_bytes().to_vec()).unwrap();
            CookieKit::seal_with(&key, &api::cookies::PREFERENCES, &stored, now).unwrap()
        }),
    ] {
        let res = get_with_cookie(&app, &format!("reading_settings={raw}")).await;
        assert_eq!(res.status(), 200, "{why}");
        let removal = set_cookie_for(res.headers(), "reading_settings")
            .unwrap_or_else(|| panic!("{why}: not removed"));
        assert!(is_removal(&removal), "{why}: {removal}");
        assert_eq!(res.json::<Value>().await.unwrap(), defaults(), "{why}");
    }
    // A sealed cookie made by the service's own key today is accepted.
    let res = get_with_cookie(
        &app,
        &format!("reading_settings={}", seal(SECRET_KEY, &stored, now)),
    )
    .await;
    assert!(set_cookie_for(res.headers(), "reading_settings").is_none());
    assert_eq!(res.json::<Value>().await.unwrap(), stored);
}

#[tokio::test]
async fn the_reading_settings_and_the_display_preferences_are_independent() {
    let app = spawn_app().await;
    let res = app
        .put_json("/api/v1/preferences", &json!({"theme": "dark"}))
        .await;
    assert!(set_cookie_for(res.headers(), "reading_settings").is_none());
    let res = app.put_json(PATH, &json!({"theme": "sepia"})).await;
    assert!(set_cookie_for(res.headers(), "preferences").is_none());
    assert_eq!(app.get_json("/api/v1/preferences").await["theme"], "dark");
    assert_eq!(app.get_json(PATH).await["theme"], "sepia");

    // Forgetting one leaves the other.
    let res = app.delete(PATH).await;
    assert!(set_cookie_for(res.headers(), "preferences").is_none());
    assert_eq!(app.get_json("/api/v1/preferences").await["theme"], "dark");
    assert_eq!(app.get_json(PATH).await["theme"], "system");

    app.put_json(PATH, &json!({"font_size": 20})).await;
    let res = app.delete("/api/v1/preferences").await;
    assert!(set_cookie_for(res.headers(), "reading_settings").is_none());
    assert_eq!(app.get_json(PATH).await["font_size"], 20);
    assert_eq!(app.get_json("/api/v1/preferences").await["theme"], "system");
}

#[tokio::test]
async fn the_settings_outlive_the_session() {
    let app = spawn_app().await;
    app.visit().await;
    app.put_json(PATH, &json!({"theme": "sepia"})).await;
    let res = app.delete("/api/v1/session").await;
    assert!(set_cookie_for(res.headers(), "reading_settings").is_none());
    assert_eq!(app.get_json(PATH).await["theme"], "sepia");
}
