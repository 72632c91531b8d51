//! Accounts and signing in: register, log in, log out, who am I, and a
//! password change; a new session id at each, the old one loading nothing.

use serde_json::{Value, json};

use crate::helpers::{
    COOKIE, assert_problem, backends, is_removal, new_client, session_cookie, set_cookie_for,
    spawn_app,
};

pub const PASSWORD: &str = "plum orbit candle seventy";

#[tokio::test]
async fn registering_creates_the_account_and_signs_in() {
    let app = spawn_app().await;

    let res = app
        .post_json(
            "/api/v1/auth/register",
            &json!({"username": "Ada", "password": PASSWORD, "display_name": "Ada Lovelace"}),
        )
        .await;

    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["location"], "/api/v1/auth/me");
    assert!(session_cookie(res.headers()).is_some(), "a session cookie");
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["username"], "ada", "folded to lower case");
    assert_eq!(user["display_name"], "Ada Lovelace");
    assert_eq!(user["role"], "customer");
    let me = app.get_json("/api/v1/auth/me").await;
    assert_eq!(me["user"]["username"], "ada");
}

#[tokio::test]
async fn a_taken_username_is_a_conflict_whatever_its_case() {
    let app = spawn_app().await;
    assert_eq!(app.register("ada", PASSWORD).await.status(), 201);

    let res = app
        .another_visitor()
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": "ADA", "password": "quartz ladder mango river"}))
        .send()
        .await
        .unwrap();

    assert_problem(res, 409, "username-taken").await;
}

#[tokio::test]
async fn a_weak_password_or_bad_username_is_refused_saying_why() {
    let app = spawn_app().await;

    let res = app.register("a b", "password1").await;

    let body = assert_problem(res, 422, "validation-failed").await;
    let errors = body["errors"].as_array().unwrap();
    let message = |field: &str| {
        errors
            .iter()
            .find(|e| e["field"] == field)
            .map(|e| e["message"].as_str().unwrap().to_owned())
    };
    assert!(message("username").is_some(), "{body}");
    assert!(
        message("password").unwrap().contains("too easy to guess"),
        "{body}"
    );
    assert_eq!(app.get("/api/v1/auth/me").await.status(), 401);
}

#[tokio::test]
async fn logging_in_answers_the_user_and_signs_in() {
    let app = spawn_app().await;
    app.register("ada", PASSWORD).await;
    app.post_json("/api/v1/auth/logout", &json!({})).await;

    let res = app.sign_in("ADA", PASSWORD).await;

    assert_eq!(res.status(), 200);
    let user: Value = res.json().await.unwrap();
    assert_eq!(user["username"], "ada");
    assert_eq!(
        app.get_json("/api/v1/auth/me").await["user"]["id"],
        user["id"]
    );
}

#[tokio::test]
async fn me_is_401_when_anonymous() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/auth/me").await, 401, "unauthorized").await;
}

#[tokio::test]
async fn logging_out_removes_the_cookie_and_leaves_the_visit_summary() {
    for backend in backends() {
        let app = crate::helpers::app().backend(backend).spawn().await;
        app.register("ada", PASSWORD).await;
        app.visit().await;

        let res = app
            .client
            .post(app.url("/api/v1/auth/logout"))
            .send()
            .await
            .unwrap();

        assert_eq!(res.status(), 204, "{backend:?}");
        let removal = set_cookie_for(res.headers(), COOKIE).expect("the session cookie removed");
        assert!(is_removal(&removal), "{backend:?}: {removal}");
        assert!(
            set_cookie_for(res.headers(), "last_visit_summary").is_some(),
            "{backend:?}: the summary left behind"
        );
        assert_problem(app.get("/api/v1/auth/me").await, 401, "unauthorized").await;
    }
}

#[tokio::test]
async fn an_anonymous_logout_is_204_too() {
    let app = spawn_app().await;
    let res = new_client()
        .post(app.url("/api/v1/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
}
