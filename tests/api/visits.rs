use serde_json::{Value, json};

use crate::helpers::{Backend, app, session_cookie, spawn_app};

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

#[tokio::test]
async fn visits_are_counted_and_the_welcome_names_the_customer() {
    let app = spawn_app().await;

    let first_at = app.clock.now();
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
    app.clock.advance(time::Duration::hours(26));
    let second: Value = app.visit().await;
    assert_eq!(second["returning"], true);
    assert_eq!(second["visit_count"], 2);
    // The time of the visit before this one, in UTC, to the second.
    assert_eq!(second["last_visit"], rfc3339(first_at));
    let state: Value = app.get_json("/api/v1/session").await;
    assert_eq!(state["last_visit"], rfc3339(app.clock.now()));
    assert_eq!(second["name"], "Ada");
    assert_eq!(second["favorite_dish"], "Pad Thai");
}

#[tokio::test]
async fn the_session_state_is_read_without_changing_anything() {
    let app = app().backend(Backend::Database).spawn().await;

    // A new visitor: nothing stored, no cookie set.
    let res = app.get("/api/v1/session").await;
    assert!(session_cookie(res.headers()).is_none());
    let fresh: Value = res.json().await.unwrap();
    assert_eq!(
        fresh,
        json!({"returning": false, "visit_count": 0, "last_visit": null, "profile": null, "cart_item_count": 0, "expires_at": null, "reading": null})
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

    // Reading again changes nothing: the record is not written (so its
    // expiry cannot move), the answer is the same, no cookie is set.
    app.count_session_writes().await;
    app.clock.advance(time::Duration::hours(1));
    let res = app.get("/api/v1/session").await;
    assert!(session_cookie(res.headers()).is_none());
    let again: Value = res.json().await.unwrap();
    assert_eq!(again, state);
    assert_eq!(again["expires_at"], expires.as_str());
    assert_eq!(app.session_writes().await, 0);
}
