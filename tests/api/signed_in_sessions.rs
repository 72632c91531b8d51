//! A signed-in session's life: the idle and absolute limits, remember-me,
//! binding to the client IP, and a user's own list of sessions, which the
//! user can end one by one or all but the current one.

use std::net::IpAddr;
use std::str::FromStr;

use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tower_sessions::SessionStore;
use tower_sessions::session::Id;

use crate::auth::PASSWORD;
use crate::helpers::{
    Backend, COOKIE, TestApp, app, assert_problem, backends, is_removal, new_client,
    session_cookie, session_id, set_cookie_for,
};

/// Signs `client` in as `username` (registered already), with or without
/// remember-me; returns the session cookie's value.
async fn sign_in_with(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    remember_me: bool,
) -> reqwest::Response {
    let res = client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": PASSWORD, "remember_me": remember_me}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "signing in");
    res
}

/// Registers `username` with the app's own client; returns the session
/// cookie's value.
async fn register(app: &TestApp, username: &str) -> String {
    let res = app.register(username, PASSWORD).await;
    assert_eq!(res.status(), 201, "registering");
    session_cookie(res.headers()).expect("a session cookie")
}

async fn me(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    client.get(app.url("/api/v1/auth/me")).send().await.unwrap()
}

/// The sign-in the store holds under the session id a cookie carries, if any.
async fn stored_sign_in(app: &TestApp, cookie_value: &str) -> Option<Value> {
    let id = Id::from_str(&session_id(cookie_value)).unwrap();
    let store = &app.state.as_ref().unwrap().sessions;
    let record = store.load(&id).await.unwrap()?;
    record.data.get("sign_in").cloned()
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        value.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

/// The session behind `cookie` holds no sign-in any more, and the app's
/// client is anonymous.
async fn assert_sign_in_gone(app: &TestApp, cookie: &str) {
    let backend = app.backend;
    assert_eq!(stored_sign_in(app, cookie).await, None, "{backend:?}");
    assert_problem(me(app, &app.client).await, 401, "unauthorized").await;
}

/// The `Max-Age` of the session cookie a response sets.
fn session_cookie_max_age(res: &reqwest::Response) -> Option<Duration> {
    let set = set_cookie_for(res.headers(), COOKIE).expect("the session cookie is set");
    cookie::Cookie::parse(set).unwrap().max_age()
}

#[tokio::test]
async fn requests_keep_a_signed_in_session_alive_and_the_idle_limit_ends_it_on_every_store() {
    for backend in backends() {
        let app = app()
            .backend(backend)
            .var("SESSION_IDLE_TIMEOUT", "300")
            .spawn()
            .await;
        let cookie = register(&app, "ada").await;

        // Each request within the limit moves its end.
        for _ in 0..3 {
            app.clock.advance(Duration::seconds(200));
            assert_eq!(me(&app, &app.client).await.status(), 200, "{backend:?}");
        }
        app.clock.advance(Duration::seconds(301));
        let res = me(&app, &app.client).await;

        let removal = set_cookie_for(res.headers(), COOKIE).expect("the cookie is removed");
        assert!(is_removal(&removal), "{backend:?}: {removal}");
        let body = assert_problem(res, 401, "session-expired").await;
        assert!(
            body["detail"].as_str().unwrap().contains("idle"),
            "{backend:?}: {body}"
        );
        assert_eq!(app.logins().await, 0, "{backend:?}");
        // Ended, not merely refused: the next request is anonymous.
        assert_sign_in_gone(&app, &cookie).await;
    }
}

#[tokio::test]
async fn the_absolute_limit_ends_a_session_even_while_it_is_in_use_on_every_store() {
    for backend in backends() {
        let app = app()
            .backend(backend)
            .var("SESSION_IDLE_TIMEOUT", "300")
            .var("SESSION_ABSOLUTE_TIMEOUT", "600")
            .spawn()
            .await;
        register(&app, "ada").await;
        let signed_in_at = time_of(&app.get_json("/api/v1/auth/me").await["signed_in_at"]);

        app.clock.advance(Duration::seconds(250));
        let me_now: Value = me(&app, &app.client).await.json().await.unwrap();
        assert_eq!(
            time_of(&me_now["absolute_ends_at"]),
            signed_in_at + Duration::seconds(600),
            "{backend:?}"
        );
        app.clock.advance(Duration::seconds(250));
        let me_now: Value = me(&app, &app.client).await.json().await.unwrap();
        assert_eq!(
            time_of(&me_now["idle_ends_at"]),
            signed_in_at + Duration::seconds(600),
            "{backend:?}: the idle end never passes the absolute one"
        );
        app.clock.advance(Duration::seconds(100));
        let res = me(&app, &app.client).await;

        let body = assert_problem(res, 401, "session-expired").await;
        assert!(
            body["detail"].as_str().unwrap().contains("absolute"),
            "{backend:?}: {body}"
        );
        assert_eq!(app.logins().await, 0, "{backend:?}");
    }
}

#[tokio::test]
async fn without_remember_me_the_cookie_ends_with_the_browser_also_when_a_write_reissues_it() {
    let app = crate::helpers::spawn_app().await;
    let res = app.register("ada", PASSWORD).await;
    assert_eq!(session_cookie_max_age(&res), None);

    // A visit is kept in the session (the cart lives with the account).
    let res = app
        .client
        .post(app.url("/api/v1/visits"))
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 200);
    assert_eq!(
        session_cookie_max_age(&res),
        None,
        "not the anonymous two weeks"
    );
    // The store keeps the record about as long as the absolute limit, not two weeks.
    let signed_in_at = time_of(&app.get_json("/api/v1/auth/me").await["signed_in_at"]);
    let expires_at = time_of(&app.get_json("/api/v1/session").await["expires_at"]);
    assert!(
        expires_at <= signed_in_at + Duration::hours(9),
        "{expires_at} vs {signed_in_at}"
    );
}

#[tokio::test]
async fn a_remember_me_sign_in_has_a_persistent_cookie_and_outlives_the_idle_and_absolute_limits_on_every_store()
 {
    for backend in backends() {
        let app = app()
            .backend(backend)
            .var("SESSION_IDLE_TIMEOUT", "300")
            .var("SESSION_ABSOLUTE_TIMEOUT", "600")
            .var("REMEMBER_ME_AGE", "86400")
            // Remember-me is asked for per sign-in, whatever anonymous cookies do.
            .var("SESSION_EXPIRE_AT_BROWSER_CLOSE", "true")
            .spawn()
            .await;
        register(&app, "ada").await;
        app.post_json("/api/v1/auth/logout", &json!({})).await;

        let res = sign_in_with(&app, &app.client, "ada", true).await;
        assert_eq!(
            session_cookie_max_age(&res),
            Some(Duration::seconds(86400)),
            "{backend:?}"
        );

        app.clock.advance(Duration::seconds(3600));
        let res = me(&app, &app.client).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["remember_me"], true, "{backend:?}");
        // A write to the session re-issues the cookie until the same end.
        let res = app
            .client
            .post(app.url("/api/v1/visits"))
            .send()
            .await
            .unwrap();
        assert_eq!(
            session_cookie_max_age(&res),
            Some(Duration::seconds(86400 - 3600)),
            "{backend:?}"
        );

        app.clock.advance(Duration::seconds(86400 - 3600));
        let body = assert_problem(me(&app, &app.client).await, 401, "session-expired").await;
        assert!(
            body["detail"].as_str().unwrap().contains("absolute"),
            "{backend:?}: {body}"
        );
    }
}

#[tokio::test]
async fn after_a_signed_in_session_ends_a_new_anonymous_one_gets_the_two_week_cookie() {
    let app = app().var("SESSION_IDLE_TIMEOUT", "300").spawn().await;
    register(&app, "ada").await;
    app.clock.advance(Duration::seconds(301));
    assert_problem(me(&app, &app.client).await, 401, "session-expired").await;

    let res = app.add(1, 1).await;

    assert_eq!(res.status(), 201);
    assert_eq!(
        session_cookie_max_age(&res),
        Some(Duration::seconds(14 * 24 * 3600))
    );
}

#[tokio::test]
async fn a_read_keeps_a_session_alive_without_writing_its_record() {
    let app = app()
        .backend(Backend::Database)
        .var("SESSION_IDLE_TIMEOUT", "300")
        .spawn()
        .await;
    register(&app, "ada").await;
    let idle_end = |me: &Value| time_of(&me["idle_ends_at"]);
    let first = app.get_json("/api/v1/auth/me").await;
    app.count_session_writes().await;

    app.clock.advance(Duration::seconds(30));
    let within_a_minute = app.get_json("/api/v1/auth/me").await;
    app.clock.advance(Duration::seconds(60));
    let after_a_minute = app.get_json("/api/v1/auth/me").await;

    assert_eq!(
        idle_end(&within_a_minute),
        idle_end(&first),
        "recorded at most once a minute"
    );
    assert_eq!(
        idle_end(&after_a_minute),
        idle_end(&first) + Duration::seconds(90),
        "the read after a minute moved the idle end"
    );
    assert_eq!(app.session_writes().await, 0, "no session record written");
}

/// A client that connects from `ip` (a loopback address other than
/// 127.0.0.1 reaches the service from another address) and sends `cookie`.
async fn me_from(app: &TestApp, ip: &str, cookie: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .local_address(IpAddr::from_str(ip).unwrap())
        .build()
        .unwrap()
        .get(app.url("/api/v1/auth/me"))
        .header("cookie", format!("{COOKIE}={cookie}"))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_bound_session_used_from_another_address_is_ended_on_every_store() {
    for backend in backends() {
        let app = app()
            .backend(backend)
            .var("SESSION_BIND_IP", "true")
            .spawn()
            .await;
        let cookie = register(&app, "ada").await;
        assert_eq!(me_from(&app, "127.0.0.1", &cookie).await.status(), 200);

        let res = me_from(&app, "127.0.0.2", &cookie).await;

        assert_problem(res, 401, "session-ip-changed").await;
        assert_sign_in_gone(&app, &cookie).await;
    }
}

#[tokio::test]
async fn an_unbound_session_may_move_to_another_address() {
    let app = crate::helpers::spawn_app().await;
    let cookie = register(&app, "ada").await;

    let res = me_from(&app, "127.0.0.2", &cookie).await;

    assert_eq!(res.status(), 200);
    assert_eq!(me(&app, &app.client).await.status(), 200);
}

/// `GET /auth/sessions` as `client` sees it.
async fn sessions_of(app: &TestApp, client: &reqwest::Client) -> Vec<Value> {
    let res = client
        .get(app.url("/api/v1/auth/sessions"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    body["items"].as_array().unwrap().clone()
}

/// A second device of the same user, signed in with its own user agent.
async fn second_device(app: &TestApp, username: &str) -> (reqwest::Client, String) {
    let phone = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent("KitchenPhone/2.1")
        .build()
        .unwrap();
    let res = sign_in_with(app, &phone, username, true).await;
    let cookie = session_cookie(res.headers()).unwrap();
    (phone, cookie)
}

#[tokio::test]
async fn a_user_sees_each_signed_in_device_and_which_one_is_this_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let laptop_cookie = register(&app, "ada").await;
        let (phone, phone_cookie) = second_device(&app, "ada").await;
        // Another user's sessions are not listed.
        let other = new_client();
        other
            .post(app.url("/api/v1/auth/register"))
            .json(&json!({"username": "bob", "password": PASSWORD}))
            .send()
            .await
            .unwrap();

        let from_laptop = sessions_of(&app, &app.client).await;
        let from_phone = sessions_of(&app, &phone).await;

        assert_eq!(from_laptop.len(), 2, "{backend:?}: {from_laptop:?}");
        let current = |list: &[Value]| list.iter().find(|s| s["current"] == true).unwrap().clone();
        let (laptop, phone_seen) = (current(&from_laptop), current(&from_phone));
        assert_ne!(laptop["handle"], phone_seen["handle"], "{backend:?}");
        assert_eq!(
            from_laptop.iter().filter(|s| s["current"] == true).count(),
            1
        );
        assert_eq!(phone_seen["user_agent"], "KitchenPhone/2.1", "{backend:?}");
        assert_eq!(phone_seen["remember_me"], true);
        assert_eq!(laptop["remember_me"], false);
        assert_eq!(laptop["client_ip"], "127.0.0.1");
        for s in &from_laptop {
            let handle = s["handle"].as_str().unwrap();
            for cookie in [&laptop_cookie, &phone_cookie] {
                assert!(!cookie.contains(handle), "a handle is not the cookie");
                assert_ne!(handle, session_id(cookie), "a handle is not the session id");
            }
        }
    }
}

#[tokio::test]
async fn ending_another_device_signs_it_out_and_only_the_users_own_handles_are_found_on_every_store()
 {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        register(&app, "ada").await;
        let (phone, phone_cookie) = second_device(&app, "ada").await;
        let bob = new_client();
        bob.post(app.url("/api/v1/auth/register"))
            .json(&json!({"username": "bob", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let bobs = sessions_of(&app, &bob).await[0]["handle"]
            .as_str()
            .unwrap()
            .to_owned();
        let phone_handle = sessions_of(&app, &phone)
            .await
            .into_iter()
            .find(|s| s["current"] == true)
            .unwrap()["handle"]
            .as_str()
            .unwrap()
            .to_owned();

        let res = app
            .delete(&format!("/api/v1/auth/sessions/{phone_handle}"))
            .await;

        assert_eq!(res.status(), 204, "{backend:?}");
        assert_eq!(stored_sign_in(&app, &phone_cookie).await, None);
        assert_eq!(me(&app, &phone).await.status(), 401, "{backend:?}");
        assert_eq!(me(&app, &app.client).await.status(), 200, "{backend:?}");
        assert_eq!(sessions_of(&app, &app.client).await.len(), 1);
        // Someone else's handle, an unknown one and one already ended: 404.
        for handle in [bobs.as_str(), "no-such-handle", phone_handle.as_str()] {
            let res = app.delete(&format!("/api/v1/auth/sessions/{handle}")).await;
            assert_problem(res, 404, "not-found").await;
        }
        assert_eq!(me(&app, &bob).await.status(), 200, "{backend:?}");
    }
}

#[tokio::test]
async fn ending_all_other_sessions_keeps_only_this_one_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        register(&app, "ada").await;
        let (phone, _) = second_device(&app, "ada").await;
        let (tablet, _) = second_device(&app, "ada").await;

        let res = app.delete("/api/v1/auth/sessions").await;

        assert_eq!(res.status(), 204, "{backend:?}");
        assert_eq!(me(&app, &phone).await.status(), 401, "{backend:?}");
        assert_eq!(me(&app, &tablet).await.status(), 401, "{backend:?}");
        assert_eq!(me(&app, &app.client).await.status(), 200, "{backend:?}");
        let left = sessions_of(&app, &app.client).await;
        assert_eq!(left.len(), 1);
        assert_eq!(left[0]["current"], true);
    }
}

#[tokio::test]
async fn a_password_change_ends_every_other_session_and_keeps_this_one_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        register(&app, "ada").await;
        let (phone, _) = second_device(&app, "ada").await;

        let res = app
            .put_json(
                "/api/v1/auth/password",
                &json!({"current_password": PASSWORD, "new_password": "quartz ladder mango river"}),
            )
            .await;

        assert_eq!(res.status(), 204, "{backend:?}");
        let laptop_cookie = session_cookie(res.headers()).expect("a new id");
        assert_eq!(me(&app, &phone).await.status(), 401, "{backend:?}");
        assert_eq!(me(&app, &app.client).await.status(), 200, "{backend:?}");
        // The sign-in follows the new id: ending it from another device
        // deletes the record under that id.
        let tablet = new_client();
        let res = tablet
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"username": "ada", "password": "quartz ladder mango river"}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let laptop_handle = sessions_of(&app, &app.client).await;
        let laptop_handle = laptop_handle.iter().find(|s| s["current"] == true).unwrap()["handle"]
            .as_str()
            .unwrap();
        let res = tablet
            .delete(app.url(&format!("/api/v1/auth/sessions/{laptop_handle}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
        assert_eq!(
            stored_sign_in(&app, &laptop_cookie).await,
            None,
            "{backend:?}"
        );
        assert_eq!(me(&app, &app.client).await.status(), 401, "{backend:?}");
    }
}

#[tokio::test]
async fn a_disabled_account_is_signed_out_at_its_next_request() {
    let app = crate::helpers::spawn_app().await;
    register(&app, "ada").await;

    app.sql("UPDATE users SET disabled = TRUE").await;

    assert_problem(me(&app, &app.client).await, 401, "session-expired").await;
    assert_eq!(app.logins().await, 0);
}

#[tokio::test]
async fn the_session_list_needs_a_signed_in_session() {
    let app = crate::helpers::spawn_app().await;
    assert_problem(app.get("/api/v1/auth/sessions").await, 401, "unauthorized").await;
    assert_problem(
        app.delete("/api/v1/auth/sessions").await,
        401,
        "unauthorized",
    )
    .await;
}

/// A request through the trusted proxy (the tests' 127.0.0.1) for a client
/// at `client_ip`.
fn via_proxy(req: reqwest::RequestBuilder, client_ip: &str) -> reqwest::RequestBuilder {
    req.header("x-forwarded-for", format!("{client_ip}, 127.0.0.1"))
}

#[tokio::test]
async fn behind_a_trusted_proxy_a_bound_session_follows_the_forwarded_address_on_every_store() {
    for backend in backends() {
        let app = app()
            .backend(backend)
            .var("SESSION_BIND_IP", "true")
            .var("TRUSTED_PROXIES", "127.0.0.1/32")
            .spawn()
            .await;
        let res = via_proxy(
            app.client.post(app.url("/api/v1/auth/register")),
            "203.0.113.7",
        )
        .json(&json!({"username": "ada", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
        assert_eq!(res.status(), 201);
        let me_via =
            |ip: &'static str| via_proxy(app.client.get(app.url("/api/v1/auth/me")), ip).send();
        assert_eq!(me_via("203.0.113.7").await.unwrap().status(), 200);
        let listed = via_proxy(
            app.client.get(app.url("/api/v1/auth/sessions")),
            "203.0.113.7",
        )
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
        assert_eq!(
            listed["items"][0]["client_ip"], "203.0.113.7",
            "{backend:?}"
        );

        let res = me_via("198.51.100.9").await.unwrap();

        assert_problem(res, 401, "session-ip-changed").await;
        let res = me_via("203.0.113.7").await.unwrap();
        assert_problem(res, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_neither_binds_nor_ends_a_session() {
    let app = app().var("SESSION_BIND_IP", "true").spawn().await;
    let res = via_proxy(
        app.client.post(app.url("/api/v1/auth/register")),
        "203.0.113.7",
    )
    .json(&json!({"username": "ada", "password": PASSWORD}))
    .send()
    .await
    .unwrap();
    assert_eq!(res.status(), 201);

    let res = via_proxy(app.client.get(app.url("/api/v1/auth/me")), "198.51.100.9")
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 200, "the forged header is ignored");
    let listed = sessions_of(&app, &app.client).await;
    assert_eq!(listed[0]["client_ip"], "127.0.0.1");
}

#[tokio::test]
async fn a_sign_in_that_is_never_used_again_is_deleted_once_its_record_is_gone() {
    let app = app()
        .var("SESSION_ABSOLUTE_TIMEOUT", "600")
        .var("SESSION_CLEANUP_INTERVAL_SECS", "1")
        .spawn()
        .await;
    register(&app, "ada").await;
    let (phone, _) = second_device(&app, "ada").await;
    drop(phone);

    // Past the absolute limit, the row stays for the record's grace hour, so
    // that a late request is told which limit ended it.
    app.clock.advance(Duration::seconds(601));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(app.logins().await, 2);
    app.clock.advance(Duration::hours(1));

    let mut left = app.logins().await;
    for _ in 0..50 {
        if left == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        left = app.logins().await;
    }
    assert_eq!(left, 1, "the remember-me sign-in lives on");
}

#[tokio::test]
async fn a_cookie_reissued_under_a_new_secret_key_keeps_the_lifetime_of_its_sign_in() {
    let mut app = app().var("REMEMBER_ME_AGE", "86400").spawn().await;
    register(&app, "ada").await;
    let (phone, _) = second_device(&app, "ada").await;
    app.clock.advance(Duration::seconds(600));

    const NEW: &str = "the-new-secret-key-0123456789abcdef-0123456789";
    app.set_var("SECRET_KEY", Some(NEW));
    app.set_var("SECRET_KEY_FALLBACKS", Some(crate::helpers::SECRET_KEY));
    app.restart().await;
    let laptop = me(&app, &app.client).await;
    let remembered = me(&app, &phone).await;

    assert_eq!(laptop.status(), 200);
    assert_eq!(
        session_cookie_max_age(&laptop),
        None,
        "still a browser-session cookie"
    );
    assert_eq!(remembered.status(), 200);
    assert_eq!(
        session_cookie_max_age(&remembered),
        Some(Duration::seconds(86400 - 600)),
        "still persistent until the same end"
    );
}

#[tokio::test]
async fn a_reissued_cookie_whose_sign_in_cannot_be_read_keeps_the_answer_and_becomes_a_browser_session_cookie()
 {
    let mut app = app()
        .backend(Backend::Database)
        .var("REMEMBER_ME_AGE", "86400")
        .spawn()
        .await;
    register(&app, "ada").await;
    let (phone, _) = second_device(&app, "ada").await;
    const NEW: &str = "the-new-secret-key-0123456789abcdef-0123456789";
    app.set_var("SECRET_KEY", Some(NEW));
    app.set_var("SECRET_KEY_FALLBACKS", Some(crate::helpers::SECRET_KEY));
    app.restart().await;
    // The store cannot load any record now.
    app.sql("ALTER TABLE sessions RENAME TO sessions_away")
        .await;

    // The display preferences never read the session; only re-issuing the
    // cookie does.
    let res = phone
        .get(app.url("/api/v1/preferences"))
        .send()
        .await
        .unwrap();

    assert_eq!(res.status(), 200, "the preferences are still served");
    assert_eq!(
        session_cookie_max_age(&res),
        None,
        "a cookie whose lifetime is unknown lives no longer than the browser"
    );
}

#[tokio::test]
async fn ending_this_sessions_own_handle_signs_it_out() {
    let app = crate::helpers::spawn_app().await;
    let cookie = register(&app, "ada").await;
    let own = sessions_of(&app, &app.client).await[0]["handle"]
        .as_str()
        .unwrap()
        .to_owned();

    let res = app.delete(&format!("/api/v1/auth/sessions/{own}")).await;

    assert_eq!(res.status(), 204);
    let removal = set_cookie_for(res.headers(), COOKIE).expect("the cookie is removed");
    assert!(is_removal(&removal), "{removal}");
    assert_sign_in_gone(&app, &cookie).await;
    assert_eq!(app.logins().await, 0);
}
