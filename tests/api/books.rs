//! The library: browsing the books a page at a time, filtering them, one
//! book, and caching, as a reader's app would use them.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::helpers::{app, assert_problem, backends, spawn_app};

const GENRES: [&str; 14] = [
    "fiction",
    "mystery",
    "science-fiction",
    "fantasy",
    "romance",
    "history",
    "biography",
    "science",
    "philosophy",
    "poetry",
    "children",
    "horror",
    "adventure",
    "drama",
];

fn items(page: &Value) -> &Vec<Value> {
    page["items"].as_array().expect("items")
}

fn ids(page: &Value) -> Vec<i64> {
    items(page)
        .iter()
        .map(|b| b["id"].as_i64().unwrap())
        .collect()
}

fn titles(page: &Value) -> Vec<&str> {
    items(page)
        .iter()
        .map(|b| b["title"].as_str().unwrap())
        .collect()
}

fn genres_of(book: &Value) -> BTreeSet<&str> {
    book["genres"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect()
}

fn etag_of(res: &reqwest::Response) -> String {
    res.headers()["etag"].to_str().unwrap().to_owned()
}

fn cache_control_of(res: &reqwest::Response) -> String {
    res.headers()
        .get("cache-control")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

fn field_names(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_fresh_install_has_a_demo_library_of_at_least_40_books_with_every_genre_twice_or_more() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;

        let all: Value = app.get_json("/api/v1/books?per_page=100").await;
        let total = all["total"].as_u64().unwrap();
        assert!(total >= 40, "{backend:?}: only {total} books");
        assert_eq!(items(&all).len() as u64, total);
        for book in items(&all) {
            for field in ["title", "author", "description", "language"] {
                assert!(
                    book[field].as_str().is_some_and(|s| !s.is_empty()),
                    "{field} in {book}"
                );
            }
            assert!(book["total_pages"].as_u64().unwrap() >= 1, "{book}");
            assert!(book["chapters"].as_u64().unwrap() >= 1, "{book}");
            assert!(!genres_of(book).is_empty(), "{book}");
            assert_eq!(book["language"].as_str().unwrap().len(), 2, "{book}");
        }

        for genre in GENRES {
            let page: Value = app
                .get_json(&format!("/api/v1/books?genre={genre}&per_page=100"))
                .await;
            assert!(
                page["total"].as_u64().unwrap() >= 2,
                "{backend:?}: genre {genre} has fewer than 2 books"
            );
        }

        // Several books by the same author, for "more by an author you read".
        for author in ["Agatha Christie", "Arthur Conan Doyle", "Jane Austen"] {
            let count = items(&all).iter().filter(|b| b["author"] == author).count();
            assert!(count >= 3, "{author}: {count} books");
        }
    }
}

#[tokio::test]
async fn a_book_shows_its_title_author_genres_pages_chapters_year_and_language() {
    let app = spawn_app().await;

    let dracula: Value = app.get_json("/api/v1/books/7").await;

    assert_eq!(dracula["id"], 7);
    assert_eq!(dracula["title"], "Dracula");
    assert_eq!(dracula["author"], "Bram Stoker");
    assert_eq!(dracula["published_year"], 1897);
    assert_eq!(dracula["chapters"], 27);
    assert!(dracula["total_pages"].as_u64().unwrap() > 300);
    assert_eq!(dracula["language"], "en");
    assert_eq!(genres_of(&dracula), BTreeSet::from(["fiction", "horror"]));
    assert!(!dracula["description"].as_str().unwrap().is_empty());
    // A book before the common era has a negative year.
    let republic: Value = app.get_json("/api/v1/books?q=the%20republic").await;
    assert!(items(&republic)[0]["published_year"].as_i64().unwrap() < 0);
}

#[tokio::test]
async fn the_library_is_listed_by_id_a_page_at_a_time() {
    let app = spawn_app().await;

    let first: Value = app.get_json("/api/v1/books").await;
    assert_eq!(first["page"], 1);
    assert_eq!(first["per_page"], 20);
    assert_eq!(ids(&first), (1..=20).collect::<Vec<_>>());
    let total = first["total"].as_u64().unwrap();

    let second: Value = app.get_json("/api/v1/books?page=2&per_page=7").await;
    assert_eq!(second["page"], 2);
    assert_eq!(second["per_page"], 7);
    assert_eq!(ids(&second), (8..=14).collect::<Vec<_>>());
    assert_eq!(second["total"].as_u64().unwrap(), total);

    let last: Value = app
        .get_json(&format!(
            "/api/v1/books?page={}&per_page=10",
            total.div_ceil(10)
        ))
        .await;
    assert_eq!(
        items(&last).len() as u64,
        total - (total.div_ceil(10) - 1) * 10
    );

    let beyond: Value = app.get_json("/api/v1/books?page=50").await;
    assert!(items(&beyond).is_empty());
    assert_eq!(beyond["total"].as_u64().unwrap(), total);
}

#[tokio::test]
async fn the_genre_filter_keeps_the_books_of_any_of_the_genres_given() {
    let app = spawn_app().await;

    let poetry: Value = app
        .get_json("/api/v1/books?genre=poetry&per_page=100")
        .await;
    assert!(
        items(&poetry)
            .iter()
            .all(|b| genres_of(b).contains("poetry"))
    );
    assert!(titles(&poetry).contains(&"Leaves of Grass"));
    let drama: Value = app.get_json("/api/v1/books?genre=drama&per_page=100").await;
    assert!(titles(&drama).contains(&"Hamlet"));

    let either: Value = app
        .get_json("/api/v1/books?genre=poetry,Drama&per_page=100")
        .await;
    let expected: BTreeSet<i64> = ids(&poetry).into_iter().chain(ids(&drama)).collect();
    assert_eq!(ids(&either).into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(either["total"].as_u64().unwrap(), expected.len() as u64);
    let sorted = ids(&either);
    assert!(sorted.is_sorted(), "by id: {sorted:?}");
}

#[tokio::test]
async fn the_author_filter_finds_a_part_of_the_name_ignoring_case() {
    let app = spawn_app().await;

    for author in [
        "christie",
        "Agatha%20Christie",
        "%20%20AGATHA%20CHRISTIE%20",
    ] {
        let page: Value = app
            .get_json(&format!("/api/v1/books?author={author}"))
            .await;
        assert_eq!(page["total"], 3, "author={author}");
        assert!(
            items(&page)
                .iter()
                .all(|b| b["author"] == "Agatha Christie")
        );
        assert!(titles(&page).contains(&"The Murder of Roger Ackroyd"));
    }

    let nobody: Value = app.get_json("/api/v1/books?author=nobody%20at%20all").await;
    assert_eq!(nobody["total"], 0);
    assert!(items(&nobody).is_empty());

    // A blank author is no filter.
    let blank: Value = app.get_json("/api/v1/books?author=%20").await;
    let all: Value = app.get_json("/api/v1/books").await;
    assert_eq!(blank["total"], all["total"]);
}

#[tokio::test]
async fn the_text_search_finds_a_title_or_an_author_ignoring_case() {
    let app = spawn_app().await;

    let holmes: Value = app.get_json("/api/v1/books?q=SHERLOCK").await;
    assert_eq!(titles(&holmes), ["The Adventures of Sherlock Holmes"]);

    let tolkien: Value = app.get_json("/api/v1/books?q=%20tolkien%20").await;
    assert_eq!(
        titles(&tolkien),
        ["The Hobbit", "The Fellowship of the Ring"]
    );

    let dracula: Value = app.get_json("/api/v1/books?q=dracula").await;
    assert_eq!(ids(&dracula), [7]);

    let none: Value = app.get_json("/api/v1/books?q=cookbook").await;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn filters_given_together_must_all_match() {
    let app = spawn_app().await;

    let hound: Value = app
        .get_json("/api/v1/books?genre=horror&author=doyle")
        .await;
    assert_eq!(titles(&hound), ["The Hound of the Baskervilles"]);

    let page: Value = app
        .get_json("/api/v1/books?genre=mystery,horror&author=stevenson&q=jekyll")
        .await;
    assert_eq!(titles(&page), ["Strange Case of Dr Jekyll and Mr Hyde"]);

    let austen: Value = app
        .get_json("/api/v1/books?genre=romance&author=austen&per_page=2&page=2")
        .await;
    assert_eq!(austen["total"], 4);
    assert_eq!(titles(&austen), ["Emma", "Persuasion"]);

    let none: Value = app
        .get_json("/api/v1/books?genre=poetry&author=christie")
        .await;
    assert_eq!(none["total"], 0);
}

#[tokio::test]
async fn an_unknown_genre_is_a_422_that_lists_the_vocabulary() {
    let app = spawn_app().await;

    for query in [
        "genre=cookery",
        "genre=mystery,cookery",
        "genre=",
        "genre=mystery,,horror",
    ] {
        let problem = assert_problem(
            app.get(&format!("/api/v1/books?{query}")).await,
            422,
            "validation-failed",
        )
        .await;
        assert_eq!(field_names(&problem), ["genre"], "{query}");
        let detail = problem["detail"].as_str().unwrap();
        for genre in GENRES {
            assert!(detail.contains(genre), "{query}: {detail} lacks {genre}");
        }
    }
}

#[tokio::test]
async fn overlong_texts_and_bad_paging_are_422s_naming_each_parameter() {
    let app = spawn_app().await;
    let long = "a".repeat(101);

    let problem = assert_problem(
        app.get(&format!(
            "/api/v1/books?author={long}&q={long}&page=0&per_page=101"
        ))
        .await,
        422,
        "validation-failed",
    )
    .await;
    assert_eq!(field_names(&problem), ["author", "q", "page", "per_page"]);
    assert!(problem["detail"].as_str().unwrap().contains("100"));

    // 100 characters are fine.
    let res = app
        .get(&format!("/api/v1/books?q={}", "a".repeat(100)))
        .await;
    assert_eq!(res.status(), 200);

    assert_problem(
        app.get("/api/v1/books?page=first").await,
        400,
        "malformed-request",
    )
    .await;
}

#[tokio::test]
async fn an_unknown_book_is_a_404_and_a_malformed_id_a_400() {
    let app = spawn_app().await;

    for path in ["/api/v1/books/999", "/api/v1/books/2147483647"] {
        let problem = assert_problem(app.get(path).await, 404, "not-found").await;
        let detail = problem["detail"].as_str().unwrap();
        let id = path.rsplit('/').next().unwrap();
        assert!(
            detail.contains(&format!("no book with id {id}")),
            "{detail}"
        );
        // It says where the books are to be found.
        assert!(detail.contains("GET /api/v1/books"), "{detail}");
    }
    for path in [
        "/api/v1/books/abc",
        "/api/v1/books/0",
        "/api/v1/books/-3",
        "/api/v1/books/1.5",
        "/api/v1/books/2147483648",
    ] {
        assert_problem(app.get(path).await, 400, "malformed-request").await;
    }
}

#[tokio::test]
async fn shared_caches_may_keep_the_library_and_a_client_holding_it_gets_a_304() {
    let app = app().var("CATALOG_CACHE_TTL_MS", "2500").spawn().await;

    for path in ["/api/v1/books?genre=horror", "/api/v1/books/7"] {
        let first = app.get(path).await;
        assert_eq!(first.status(), 200, "{path}");
        assert_eq!(cache_control_of(&first), "public, max-age=3", "{path}");
        assert!(first.headers().get("set-cookie").is_none(), "{path}");
        let etag = etag_of(&first);
        assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

        for held in [etag.clone(), format!("W/{etag}"), "*".to_owned()] {
            let res = app
                .client
                .get(app.url(path))
                .header("if-none-match", &held)
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 304, "{path} with If-None-Match: {held}");
            assert_eq!(etag_of(&res), etag);
            assert!(cache_control_of(&res).starts_with("public"));
            assert!(res.bytes().await.unwrap().is_empty(), "a 304 has no body");
        }
        let res = app
            .client
            .get(app.url(path))
            .header("if-none-match", "\"an-older-library\"")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }

    // Errors depend on the request: never marked for shared caches.
    for path in [
        "/api/v1/books/999",
        "/api/v1/books/abc",
        "/api/v1/books?genre=cookery",
    ] {
        let res = app.get(path).await;
        assert!(res.status().is_client_error(), "{path}");
        let cache_control = cache_control_of(&res);
        assert!(
            !cache_control.contains("public") && !cache_control.contains("max-age"),
            "{path}: {cache_control}"
        );
    }
}

#[tokio::test]
async fn every_instance_gives_the_library_the_same_etag_and_a_change_a_new_one() {
    let mut app = spawn_app().await;
    let other = app.another_instance().await;

    let here = etag_of(&app.get("/api/v1/books").await);
    let there = app
        .another_visitor()
        .get(format!("{}/api/v1/books", other.base))
        .send()
        .await
        .unwrap();
    assert_eq!(etag_of(&there), here);
    drop(other);

    // The library is read at start: after a change and a restart, a new tag.
    app.sql("UPDATE books SET total_pages = 420 WHERE id = 7")
        .await;
    app.restart().await;
    let res = app
        .client
        .get(app.url("/api/v1/books/7"))
        .header("if-none-match", &here)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_ne!(etag_of(&res), here);
    assert_eq!(res.json::<Value>().await.unwrap()["total_pages"], 420);
}

#[tokio::test]
async fn a_book_row_with_a_genre_outside_the_vocabulary_is_left_out_not_a_crash() {
    let mut app = spawn_app().await;
    let before: Value = app.get_json("/api/v1/books").await;

    app.sql("UPDATE books SET genres = 'fiction,cookery' WHERE id = 7")
        .await;
    app.restart().await;

    let after: Value = app.get_json("/api/v1/books").await;
    assert_eq!(
        after["total"].as_u64().unwrap(),
        before["total"].as_u64().unwrap() - 1
    );
    assert_problem(app.get("/api/v1/books/7").await, 404, "not-found").await;
    assert_eq!(app.get("/api/v1/books/8").await.status(), 200);
}
