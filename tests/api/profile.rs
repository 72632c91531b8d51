use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

#[tokio::test]
async fn a_visitor_creates_reads_changes_and_deletes_a_profile() {
    let app = spawn_app().await;
    assert_problem(app.get("/api/v1/profile").await, 404, "not-found").await;

    let res = app
        .client
        .put(app.url("/api/v1/profile"))
        .json(&json!({"name": "  Ada Lovelace ", "favorite_dish": "Pad Thai", "dietary_restrictions": ["vegan", "gluten-free", "vegan"], "spice_level": "medium"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.unwrap();
    assert_eq!(created["name"], "Ada Lovelace");
    assert_eq!(
        created["dietary_restrictions"],
        json!(["vegan", "gluten-free"])
    );
    assert_eq!(created["spice_level"], "medium");
    let created_at = created["created_at"].as_str().unwrap().to_owned();
    assert!(created_at.ends_with('Z'), "{created_at}");

    assert_eq!(app.get_json("/api/v1/profile").await, created);

    // PATCH: absent fields stay, null clears.
    let res = app
        .client
        .patch(app.url("/api/v1/profile"))
        .json(&json!({"spice_level": "hot", "favorite_dish": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let patched: Value = res.json().await.unwrap();
    assert_eq!(patched["spice_level"], "hot");
    assert_eq!(patched["favorite_dish"], Value::Null);
    assert_eq!(patched["name"], "Ada Lovelace");
    assert_eq!(
        patched["dietary_restrictions"],
        json!(["vegan", "gluten-free"])
    );

    // PUT replaces, keeping the creation time.
    let res = app
        .put_json("/api/v1/profile", &json!({"name": "Ada"}))
        .await;
    assert_eq!(res.status(), 200);
    let replaced: Value = res.json().await.unwrap();
    assert_eq!(replaced["dietary_restrictions"], json!([]));
    assert_eq!(replaced["spice_level"], Value::Null);
    assert_eq!(replaced["created_at"], created_at.as_str());

    assert_eq!(app.delete("/api/v1/profile").await.status(), 204);
    assert_problem(app.get("/api/v1/profile").await, 404, "not-found").await;
    assert_eq!(app.delete("/api/v1/profile").await.status(), 204);
}

#[tokio::test]
async fn invalid_profiles_are_refused_field_by_field_and_change_nothing() {
    let app = spawn_app().await;
    app.put_json(
        "/api/v1/profile",
        &json!({"name": "Ada", "spice_level": "mild"}),
    )
    .await;
    let before: Value = app.get_json("/api/v1/profile").await;

    let res = app
        .put_json(
            "/api/v1/profile",
            &json!({"name": "x".repeat(101), "favorite_dish": "y".repeat(101), "dietary_restrictions": ["vegan", "carnivore"], "spice_level": "volcanic"}),
        )
        .await;
    let body = assert_problem(res, 422, "validation-failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "name",
            "favorite_dish",
            "dietary_restrictions",
            "spice_level"
        ]
    );
    assert!(
        body["detail"].as_str().unwrap().contains("carnivore"),
        "{body}"
    );

    for bad in [
        json!({"name": "   "}),
        // The spec's pattern refuses control characters anywhere, ends included.
        json!({"name": "\tBob\n"}),
        json!({"name": "Ada", "favorite_dish": "curry\r"}),
        json!({"name": "Ada", "extra": 1}),
        json!({"name": 7}),
        json!({"name": "Ada", "dietary_restrictions": "vegan"}),
    ] {
        assert_problem(
            app.put_json("/api/v1/profile", &bad).await,
            422,
            "validation-failed",
        )
        .await;
    }
    let res = app
        .client
        .patch(app.url("/api/v1/profile"))
        .json(&json!({"name": null}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation-failed").await;
    let res = app
        .client
        .patch(app.url("/api/v1/profile"))
        .json(&json!({"dietary_restrictions": ["keto"]}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 422, "validation-failed").await;
    // A blank entry is no tag either (the spec lists the tags as an enum).
    let res = app
        .client
        .patch(app.url("/api/v1/profile"))
        .json(&json!({"dietary_restrictions": ["vegan", " "]}))
        .send()
        .await
        .unwrap();
    let problem = assert_problem(res, 422, "validation-failed").await;
    assert_eq!(problem["errors"][0]["field"], "dietary_restrictions");

    assert_eq!(app.get_json("/api/v1/profile").await, before);
}

#[tokio::test]
async fn patching_without_a_profile_is_a_404() {
    let app = spawn_app().await;
    let res = app
        .client
        .patch(app.url("/api/v1/profile"))
        .json(&json!({"spice_level": "hot"}))
        .send()
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
}
