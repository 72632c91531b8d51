use serde_json::{Value, json};

use crate::helpers::{assert_problem, spawn_app};

fn names(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d.get("product").unwrap_or(d)["name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn products_carry_spice_and_dietary_tags_and_filter_by_them() {
    let app = spawn_app().await;
    let all: Value = app.get_json("/api/v1/products?per_page=100").await;
    let mut tags = std::collections::BTreeSet::new();
    let mut spices = std::collections::BTreeSet::new();
    for dish in all["items"].as_array().unwrap() {
        spices.insert(dish["spice_level"].as_str().unwrap().to_owned());
        for t in dish["dietary_tags"].as_array().unwrap() {
            tags.insert(t.as_str().unwrap().to_owned());
        }
    }
    assert_eq!(spices.len(), 3, "the demo menu covers every spice level");
    assert_eq!(
        tags.len(),
        7,
        "the demo menu covers every dietary tag: {tags:?}"
    );

    let vegan_gf: Value = app
        .get_json("/api/v1/products?dietary=vegan,gluten-free&per_page=100")
        .await;
    assert!(vegan_gf["total"].as_u64().unwrap() >= 2);
    for dish in vegan_gf["items"].as_array().unwrap() {
        let t = &dish["dietary_tags"];
        assert!(
            t.as_array().unwrap().contains(&json!("vegan"))
                && t.as_array().unwrap().contains(&json!("gluten-free")),
            "{dish}"
        );
    }

    let hot: Value = app.get_json("/api/v1/products?spice=hot").await;
    assert!(
        hot["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["spice_level"] == "hot")
    );
    assert_eq!(hot["total"], hot["items"].as_array().unwrap().len());

    let curry: Value = app.get_json("/api/v1/products?q=MASALA").await;
    assert_eq!(
        names(&curry["items"]),
        ["Chicken Tikka Masala", "Chana Masala"]
    );

    let body = assert_problem(
        app.get("/api/v1/products?dietary=vegan,paleo&spice=volcanic")
            .await,
        422,
        "validation-failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["dietary", "spice"]);

    // What the spec's lists cannot hold: an empty tag or an empty level.
    for query in ["dietary=", "dietary=vegan,,halal", "spice=", "spice=%20"] {
        let body = assert_problem(
            app.get(&format!("/api/v1/products?{query}")).await,
            422,
            "validation-failed",
        )
        .await;
        let field = query.split('=').next().unwrap();
        assert_eq!(body["errors"][0]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn without_a_profile_the_menu_recommends_nothing_and_lists_everything() {
    let app = spawn_app().await;
    let menu: Value = app.get_json("/api/v1/menu").await;
    assert_eq!(menu["recommended"], json!([]));
    assert_eq!(menu["others"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn only_dishes_meeting_every_restriction_are_recommended_with_reasons() {
    let app = spawn_app().await;
    app.put_json("/api/v1/profile", &json!({"name": "Ada", "dietary_restrictions": ["vegan", "gluten-free"], "spice_level": "medium"})).await;
    let menu: Value = app.get_json("/api/v1/menu").await;

    let recommended = menu["recommended"].as_array().unwrap();
    assert!(!recommended.is_empty());
    for r in recommended {
        let tags = r["product"]["dietary_tags"].as_array().unwrap();
        assert!(
            tags.contains(&json!("vegan")) && tags.contains(&json!("gluten-free")),
            "{r}"
        );
        assert!(
            r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x.as_str().unwrap().contains("vegan, gluten-free")),
            "{r}"
        );
    }
    // Medium first (Chana Masala is the vegan, gluten-free medium dish), then one step away.
    assert_eq!(recommended[0]["product"]["name"], "Chana Masala");
    assert!(
        recommended[0]["reasons"]
            .as_array()
            .unwrap()
            .contains(&json!("Matches your spice level (medium)"))
    );
    // Vegetarian-but-not-vegan and chicken dishes are not recommended.
    let rec_names = names(&menu["recommended"]);
    assert!(!rec_names.contains(&"Chicken Tikka Masala".to_owned()));
    assert!(!rec_names.contains(&"Margherita Pizza".to_owned()));
    // Everything available is listed exactly once.
    assert_eq!(
        recommended.len() + menu["others"].as_array().unwrap().len(),
        20
    );
}

#[tokio::test]
async fn the_favorite_ranks_first_among_dishes_of_the_same_spice() {
    let app = spawn_app().await;
    app.put_json(
        "/api/v1/profile",
        &json!({"name": "Ada", "favorite_dish": "tiramisu", "spice_level": "mild"}),
    )
    .await;
    let menu: Value = app.get_json("/api/v1/menu").await;
    let rec = names(&menu["recommended"]);
    assert_eq!(rec[0], "Tiramisu");
    // Then the other mild dishes by name, then the medium ones; hot ones are not recommended.
    assert_eq!(rec[1], "Beef Burger");
    assert!(!rec.contains(&"Lamb Rogan Josh".to_owned()));
    assert!(names(&menu["others"]).contains(&"Lamb Rogan Josh".to_owned()));
}
