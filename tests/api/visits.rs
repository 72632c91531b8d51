use serde_json::{Value, json};

use crate::helpers::{session_cookie, spawn_app};

#[tokio::test]
async fn visits_are_counted_and_the_welcome_names_the_customer() {
    let app = spawn_app().await;

    let first: Value = app.visit().await;
    assert_eq!(first["returning"], false);
    assert_eq!(first["visit_count"], 1);
    assert_eq!(first["last_visit"], Value::Null);
    assert_eq!(first["name"], Value::Null);

    app.put_json(
        "/api/v1/profile",
        &json!({"name": "Ada", "favorite_dish": "Pad Thai"}),
    )
    .await;
    let second: Value = app.visit().await;
    assert_eq!(second["returning"], true);
    assert_eq!(second["visit_count"], 2);
    assert!(second["last_visit"].as_str().unwrap().ends_with('Z'));
    assert_eq!(second["name"], "Ada");
    assert_eq!(second["favorite_dish"], "Pad Thai");
}

#[tokio::test]
async fn the_session_state_is_read_without_changing_anything() {
    let app = spawn_app().await;

    // A new visitor: nothing stored, no cookie set.
    let res = app.get("/api/v1/session").await;
    assert!(session_cookie(res.headers()).is_none());
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(
        fresh,
        json!({"returning": false, "visit_count": 0, "last_visit": null, "profile": null, "cart_item_count": 0, "expires_at": null})
    );

    app.visit().await;
    app.put_json(
        "/api/v1/profile",
        &json!({"name": "Ada", "dietary_restrictions": ["halal"]}),
    )
    .await;
    app.add(1, 3).await;

    let state: Value = app.get_json("/api/v1/session").await;
    assert_eq!(state["returning"], true);
    assert_eq!(state["visit_count"], 1);
    assert_eq!(state["profile"]["name"], "Ada");
    assert_eq!(state["profile"]["dietary_restrictions"], json!(["halal"]));
    assert_eq!(state["cart_item_count"], 3);
    let expires = state["expires_at"].as_str().unwrap().to_owned();

    // Reading again changes nothing: same count, same expiry, no cookie.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let res = app.get("/api/v1/session").await;
    assert!(session_cookie(res.headers()).is_none());
    let again: Value = res.json().await.unwrap();
    assert_eq!(again, state);
    assert_eq!(again["expires_at"], expires.as_str());
}
