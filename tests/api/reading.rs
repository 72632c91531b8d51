//! The reader's session: the reading list with progress, finishing,
//! abandoning, the history and the favorite genres, on every session store.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, app, assert_problem, backends, send, session_cookie};

const LIST: &str = "/api/v1/reading-list";
const HISTORY: &str = "/api/v1/reading-history";
const GENRES: &str = "/api/v1/reader/genres";

async fn spawn(backend: Backend) -> TestApp {
    app().backend(backend).spawn().await
}

fn entry_url(book_id: i64) -> String {
    format!("{LIST}/{book_id}")
}

async fn add(app: &TestApp, book_id: i64) -> reqwest::Response {
    app.post_json(LIST, &json!({"book_id": book_id})).await
}

/// Adds a book, asserting the 201, and returns its entry.
async fn added(app: &TestApp, book_id: i64) -> Value {
    let res = add(app, book_id).await;
    assert_eq!(res.status(), 201, "adding book {book_id}");
    res.json().await.unwrap()
}

async fn patch(app: &TestApp, book_id: i64, body: &Value) -> reqwest::Response {
    send(
        &app.client,
        Method::PATCH,
        app.url(&entry_url(book_id)),
        Some(body),
    )
    .await
}

/// Records progress, asserting a 200, and returns the answer.
async fn progress(app: &TestApp, book_id: i64, body: Value) -> Value {
    let res = patch(app, book_id, &body).await;
    assert_eq!(res.status(), 200, "progress {body} on book {book_id}");
    res.json().await.unwrap()
}

async fn list(app: &TestApp) -> Value {
    let res = app.get(LIST).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn history(app: &TestApp) -> Value {
    let res = app.get(HISTORY).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

async fn genres(app: &TestApp) -> Value {
    let res = app.get(GENRES).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

fn book_ids(items: &Value) -> Vec<i64> {
    items["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["book"]["id"].as_i64().unwrap())
        .collect()
}

/// The reader's whole state as a client sees it, to compare before and after.
async fn everything(app: &TestApp) -> (Value, Value, Value) {
    (list(app).await, history(app).await, genres(app).await)
}

/// A reader with one started book (1, at page 10 of chapter 2), one
/// finished book (2) and two favorite genres.
async fn a_reader_with_some_reading(app: &TestApp) {
    added(app, 1).await;
    progress(app, 1, json!({"pages_read": 10, "current_chapter": 2})).await;
    let book2 = added(app, 2).await;
    let last = book2["book"]["total_pages"].as_i64().unwrap();
    progress(app, 2, json!({"pages_read": last})).await;
    let res = app
        .put_json(GENRES, &json!({"genres": ["mystery", "horror"]}))
        .await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_reader_adds_reads_finishes_and_reads_a_book_again_on_every_session_store() {
    for backend in backends() {
        let app = spawn(backend).await;

        // A new reader has an empty list and history, and reading them starts no session.
        let res = app.get(LIST).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(
            session_cookie(res.headers()).is_none(),
            "{backend:?}: a read created a session"
        );
        assert_eq!(res.json::<Value>().await.unwrap(), json!({"items": []}));
        assert_eq!(
            history(&app).await,
            json!({"items": [], "page": 1, "per_page": 20, "total": 0})
        );

        // Adding a book: 201 with the entry's location, at page 0 of chapter 1.
        let res = add(&app, 1).await;
        assert_eq!(res.status(), 201, "{backend:?}");
        assert_eq!(res.headers()["location"], "/api/v1/reading-list/1");
        assert!(session_cookie(res.headers()).is_some());
        let location = res.headers()["location"].to_str().unwrap().to_owned();
        let entry: Value = res.json().await.unwrap();
        // The location is the entry.
        let res = app.get(&location).await;
        assert_eq!(res.status(), 200, "{backend:?}: GET {location}");
        assert_eq!(res.json::<Value>().await.unwrap(), entry);
        assert_eq!(entry["book"]["id"], 1);
        assert!(
            entry["book"]["title"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert_eq!(entry["pages_read"], 0);
        assert_eq!(entry["percent"], 0);
        assert_eq!(entry["current_chapter"], 1);
        assert!(entry["started_at"].is_string());
        assert_eq!(entry["last_read_at"], Value::Null);
        let total = entry["book"]["total_pages"].as_i64().unwrap();
        let chapters = entry["book"]["chapters"].as_i64().unwrap();
        added(&app, 2).await;
        assert_eq!(book_ids(&list(&app).await), [1, 2], "oldest addition first");

        // Reading some of it.
        app.clock.advance(time::Duration::minutes(30));
        let half = total / 2;
        let answer = progress(
            &app,
            1,
            json!({"pages_read": half, "current_chapter": chapters}),
        )
        .await;
        assert_eq!(answer["status"], "reading", "{answer}");
        assert_eq!(answer["entry"]["pages_read"], half);
        assert_eq!(answer["entry"]["percent"], half * 100 / total);
        assert_eq!(answer["entry"]["current_chapter"], chapters);
        assert!(answer["entry"]["last_read_at"].is_string());
        assert_ne!(answer["entry"]["last_read_at"], entry["started_at"]);
        let listed = list(&app).await;
        assert_eq!(listed["items"][0], answer["entry"]);
        assert_eq!(app.get_json(&location).await, answer["entry"]);

        // Reaching the last page finishes it: off the list, into the history.
        app.clock.advance(time::Duration::minutes(30));
        let answer = progress(&app, 1, json!({"pages_read": total})).await;
        assert_eq!(answer["status"], "finished", "{answer}");
        let finished = &answer["history_entry"];
        assert!(answer.get("entry").is_none());
        assert_eq!(finished["book"]["id"], 1);
        assert_eq!(finished["outcome"], "finished");
        assert_eq!(finished["pages_read"], total);
        assert_eq!(finished["total_pages"], total);
        assert_eq!(finished["percent"], 100);
        assert_eq!(finished["started_at"], entry["started_at"]);
        assert!(finished["finished_at"].is_string(), "{finished}");
        assert_eq!(finished["abandoned_at"], Value::Null);
        assert!(finished.get("ended_at").is_none());
        assert_eq!(book_ids(&list(&app).await), [2]);
        assert_problem(app.get(&location).await, 404, "not-found").await;
        let past = history(&app).await;
        assert_eq!(past["total"], 1);
        assert_eq!(past["items"][0], *finished);

        // It can be read again: back on the list from the start, the history kept.
        let again = added(&app, 1).await;
        assert_eq!(again["pages_read"], 0);
        assert_eq!(again["current_chapter"], 1);
        assert_ne!(again["started_at"], entry["started_at"]);
        assert_eq!(book_ids(&list(&app).await), [2, 1]);
        assert_eq!(history(&app).await["items"][0], *finished);
    }
}

#[tokio::test]
async fn progress_outside_the_book_is_refused_naming_the_limit_and_changes_nothing() {
    for backend in backends() {
        let app = spawn(backend).await;
        a_reader_with_some_reading(&app).await;
        let book = list(&app).await["items"][0]["book"].clone();
        let total = book["total_pages"].as_i64().unwrap();
        let chapters = book["chapters"].as_i64().unwrap();
        let before = everything(&app).await;

        let res = patch(&app, 1, &json!({"pages_read": total + 1})).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "pages_read");
        let message = format!(
            "must be from 0 to {total}, the book's pages; got {}",
            total + 1
        );
        assert_eq!(problem["errors"][0]["message"], message.as_str());
        // The detail names the field once.
        assert_eq!(
            problem["detail"],
            format!("pages_read: {message}").as_str(),
            "{backend:?}"
        );

        let res = patch(&app, 1, &json!({"pages_read": -1})).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "pages_read");

        for chapter in [0, chapters + 1] {
            let res = patch(&app, 1, &json!({"current_chapter": chapter})).await;
            let problem = assert_problem(res, 422, "validation-failed").await;
            assert_eq!(problem["errors"][0]["field"], "current_chapter");
            let limit =
                format!("current_chapter: must be from 1 to {chapters}, the book's chapters");
            assert!(
                problem["detail"].as_str().unwrap().starts_with(&limit),
                "{problem}"
            );
        }

        // One good value and one bad: neither is kept.
        let res = patch(
            &app,
            1,
            &json!({"pages_read": 20, "current_chapter": chapters + 1}),
        )
        .await;
        assert_problem(res, 422, "validation-failed").await;
        let res = patch(
            &app,
            1,
            &json!({"pages_read": total + 1, "current_chapter": 3}),
        )
        .await;
        assert_problem(res, 422, "validation-failed").await;

        // Both wrong: both are named.
        let res = patch(
            &app,
            1,
            &json!({"pages_read": total + 1, "current_chapter": chapters + 1}),
        )
        .await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        let fields: Vec<&str> = problem["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap())
            .collect();
        assert_eq!(fields, ["pages_read", "current_chapter"], "{problem}");

        // null is not a value: refused, not read as left out.
        for body in [
            json!({"pages_read": null}),
            json!({"current_chapter": null}),
            json!({"pages_read": 20, "current_chapter": null}),
        ] {
            let res = patch(&app, 1, &body).await;
            let problem = assert_problem(res, 422, "validation-failed").await;
            let field =
                if body["current_chapter"].is_null() && body.get("current_chapter").is_some() {
                    "current_chapter"
                } else {
                    "pages_read"
                };
            assert_eq!(problem["errors"][0]["field"], field, "{body}: {problem}");
            assert!(
                problem["detail"].as_str().unwrap().contains("null"),
                "{problem}"
            );
        }

        assert_eq!(everything(&app).await, before, "{backend:?}");
        assert_eq!(list(&app).await["items"][0]["pages_read"], 10);
    }
}

#[tokio::test]
async fn abandoning_a_started_book_keeps_how_far_the_reader_got_and_an_unstarted_one_just_leaves() {
    for backend in backends() {
        let app = spawn(backend).await;
        let started = added(&app, 1).await;
        added(&app, 2).await;
        progress(&app, 1, json!({"pages_read": 12, "current_chapter": 2})).await;
        app.clock.advance(time::Duration::hours(1));

        // Started: 200 with the history entry.
        let res = app.delete(&entry_url(1)).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let abandoned: Value = res.json().await.unwrap();
        let total = started["book"]["total_pages"].as_i64().unwrap();
        assert_eq!(abandoned["book"]["id"], 1);
        assert_eq!(abandoned["outcome"], "abandoned");
        assert_eq!(abandoned["pages_read"], 12);
        assert_eq!(abandoned["total_pages"], total);
        assert_eq!(abandoned["percent"], 12 * 100 / total);
        assert_eq!(abandoned["current_chapter"], 2);
        assert_eq!(abandoned["started_at"], started["started_at"]);
        assert!(abandoned["abandoned_at"].is_string(), "{abandoned}");
        assert_ne!(abandoned["abandoned_at"], started["started_at"]);
        assert_eq!(abandoned["finished_at"], Value::Null);
        assert!(abandoned.get("ended_at").is_none());

        // Never started: 204, and no history entry.
        let res = app.delete(&entry_url(2)).await;
        assert_eq!(res.status(), 204);

        assert_eq!(list(&app).await, json!({"items": []}));
        let past = history(&app).await;
        assert_eq!(past["total"], 1);
        assert_eq!(past["items"][0], abandoned);

        // Gone from the list: taking it off again is a 204 that changes nothing.
        let res = app.delete(&entry_url(1)).await;
        assert_eq!(res.status(), 204, "{backend:?}");
        assert_eq!(list(&app).await, json!({"items": []}));
        assert_eq!(history(&app).await, past);
    }
}

#[tokio::test]
async fn the_history_shows_the_newest_first_a_page_at_a_time() {
    for backend in backends() {
        let app = spawn(backend).await;
        for id in [1, 2, 3] {
            let entry = added(&app, id).await;
            app.clock.advance(time::Duration::minutes(10));
            if id == 2 {
                progress(&app, id, json!({"pages_read": 1})).await;
                assert_eq!(app.delete(&entry_url(id)).await.status(), 200);
            } else {
                let last = entry["book"]["total_pages"].clone();
                progress(&app, id, json!({"pages_read": last})).await;
            }
        }

        let past = history(&app).await;
        assert_eq!(book_ids(&past), [3, 2, 1], "{backend:?}: newest first");
        let outcomes: Vec<&str> = past["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, ["finished", "abandoned", "finished"]);
        // Exactly one of finished_at and abandoned_at, as the outcome says.
        let ended: Vec<&str> = past["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| match e["outcome"].as_str().unwrap() {
                "finished" => {
                    assert_eq!(e["abandoned_at"], Value::Null, "{e}");
                    e["finished_at"].as_str().unwrap()
                }
                _ => {
                    assert_eq!(e["finished_at"], Value::Null, "{e}");
                    e["abandoned_at"].as_str().unwrap()
                }
            })
            .collect();
        assert!(ended[0] > ended[1] && ended[1] > ended[2], "{ended:?}");

        let page: Value = app.get_json(&format!("{HISTORY}?page=2&per_page=2")).await;
        assert_eq!(book_ids(&page), [1]);
        assert_eq!(page["page"], 2);
        assert_eq!(page["per_page"], 2);
        assert_eq!(page["total"], 3);
        let res = app.get(&format!("{HISTORY}?per_page=0")).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "per_page");
        let res = app.get(&format!("{HISTORY}?page=501&per_page=101")).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "page");
        assert_eq!(problem["errors"][1]["field"], "per_page");
        // Not a number at all: a malformed request.
        let res = app.get(&format!("{HISTORY}?page=abc")).await;
        assert_problem(res, 400, "malformed-request").await;
    }
}

#[tokio::test]
async fn favorite_genres_are_kept_and_refused_outside_the_vocabulary_or_past_five() {
    for backend in backends() {
        let app = spawn(backend).await;
        assert_eq!(genres(&app).await, json!({"genres": []}), "{backend:?}");

        // Set: repeats dropped, order kept, case ignored.
        let res = app
            .put_json(
                GENRES,
                &json!({"genres": ["Mystery", "horror", "mystery", "science-fiction"]}),
            )
            .await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let kept = json!({"genres": ["mystery", "horror", "science-fiction"]});
        assert_eq!(res.json::<Value>().await.unwrap(), kept);
        assert_eq!(genres(&app).await, kept);

        // A word outside the vocabulary: 422 naming it and listing the vocabulary.
        let res = app
            .put_json(GENRES, &json!({"genres": ["poetry", "cookbooks"]}))
            .await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "genres[1]");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("cookbooks"), "{message}");
        for word in ["fiction", "mystery", "science-fiction", "horror", "drama"] {
            assert!(message.contains(word), "{message} does not list {word}");
        }

        // More than five.
        let six =
            json!({"genres": ["fiction", "mystery", "fantasy", "romance", "history", "poetry"]});
        let res = app.put_json(GENRES, &six).await;
        let problem = assert_problem(res, 422, "validation-failed").await;
        assert_eq!(problem["errors"][0]["field"], "genres");
        assert_eq!(
            problem["errors"][0]["message"],
            "at most 5 favorite genres, repeats counted; got 6"
        );
        assert_eq!(genres(&app).await, kept);

        // More than five entries, even when they repeat one genre: the
        // documented limit is on the list as sent, in the same words.
        for six in [
            json!({"genres": vec!["drama"; 6]}),
            json!({"genres": ["fiction", "mystery", "fantasy", "romance", "history", "fiction"]}),
        ] {
            let res = app.put_json(GENRES, &six).await;
            let problem = assert_problem(res, 422, "validation-failed").await;
            assert_eq!(problem["errors"][0]["field"], "genres");
            assert_eq!(
                problem["errors"][0]["message"],
                "at most 5 favorite genres, repeats counted; got 6",
                "{six}"
            );
            assert_eq!(genres(&app).await, kept, "{six}");
        }

        // Wrong shapes.
        let res = app.put_json(GENRES, &json!({"genres": "mystery"})).await;
        assert_problem(res, 422, "validation-failed").await;
        let res = app
            .put_json(GENRES, &json!({"genres": [], "favorite": "x"}))
            .await;
        assert_problem(res, 422, "validation-failed").await;

        assert_eq!(genres(&app).await, kept, "refusals changed nothing");

        // An empty list clears them.
        let res = app.put_json(GENRES, &json!({"genres": []})).await;
        assert_eq!(res.status(), 200);
        assert_eq!(genres(&app).await, json!({"genres": []}));
    }
}

/// JSON has one number type: a book id, pages and a chapter written with a
/// decimal point are those whole numbers.
#[tokio::test]
async fn numbers_written_with_a_decimal_point_are_those_whole_numbers() {
    let app = app().spawn().await;
    let res = app.post_json(LIST, &json!({"book_id": 1.0})).await;
    assert_eq!(res.status(), 201);
    let answer = progress(&app, 1, json!({"pages_read": 10.0, "current_chapter": 2.0})).await;
    assert_eq!(answer["entry"]["pages_read"], 10);
    assert_eq!(answer["entry"]["current_chapter"], 2);
}

#[tokio::test]
async fn unknown_books_and_books_not_on_the_list_are_not_found() {
    for backend in backends() {
        let app = spawn(backend).await;
        a_reader_with_some_reading(&app).await;
        let before = everything(&app).await;
        let unknown = 2_000_000_000_i64;

        let problem = assert_problem(add(&app, unknown).await, 404, "not-found").await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains(&unknown.to_string()),
            "{problem}"
        );
        assert_problem(add(&app, 0).await, 404, "not-found").await;
        // Past what an id can be: never another book.
        assert_problem(add(&app, 4_294_967_297).await, 404, "not-found").await;

        let res = patch(&app, unknown, &json!({"pages_read": 1})).await;
        assert_problem(res, 404, "not-found").await;
        assert_problem(app.delete(&entry_url(unknown)).await, 404, "not-found").await;
        assert_problem(app.get(&entry_url(unknown)).await, 404, "not-found").await;

        // In the library but not on the list (book 2 was finished, 3 never added).
        let res = patch(&app, 2, &json!({"pages_read": 1})).await;
        assert_problem(res, 404, "not-found").await;
        for id in [2, 3] {
            let problem = assert_problem(app.get(&entry_url(id)).await, 404, "not-found").await;
            assert!(
                problem["detail"]
                    .as_str()
                    .unwrap()
                    .contains("not on the reading list"),
                "{problem}"
            );
        }
        // Taking off a book that is not on the list: done already, 204.
        assert_eq!(app.delete(&entry_url(3)).await.status(), 204, "{backend:?}");
        assert_eq!(app.delete(&entry_url(2)).await.status(), 204, "{backend:?}");

        // A path id that is no id.
        let res = patch(&app, 0, &json!({"pages_read": 1})).await;
        assert_problem(res, 400, "malformed-request").await;
        assert_problem(
            app.delete(&format!("{LIST}/dracula")).await,
            400,
            "malformed-request",
        )
        .await;

        assert_eq!(everything(&app).await, before, "{backend:?}");
    }
}

#[tokio::test]
async fn adding_a_listed_book_again_is_a_conflict_and_keeps_its_progress() {
    for backend in backends() {
        let app = spawn(backend).await;
        a_reader_with_some_reading(&app).await;
        let before = everything(&app).await;

        let problem = assert_problem(add(&app, 1).await, 409, "already-on-reading-list").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("PATCH"),
            "{problem}"
        );
        assert_eq!(everything(&app).await, before, "{backend:?}");
    }
}

#[tokio::test]
async fn malformed_bodies_are_refused_and_leave_the_reading_unchanged() {
    for backend in backends() {
        let app = spawn(backend).await;
        a_reader_with_some_reading(&app).await;
        let before = everything(&app).await;
        let raw = |method: Method, path: &str, body: &'static str| {
            app.client
                .request(method, app.url(path))
                .header("content-type", "application/json")
                .body(body)
                .send()
        };

        // Not JSON.
        let res = raw(Method::POST, LIST, "{\"book_id\": 3").await.unwrap();
        assert_problem(res, 400, "malformed-request").await;
        let res = raw(Method::PATCH, &entry_url(1), "pages_read=5")
            .await
            .unwrap();
        assert_problem(res, 400, "malformed-request").await;
        let res = raw(Method::PUT, GENRES, "{\"genres\": [\"mystery\"")
            .await
            .unwrap();
        assert_problem(res, 400, "malformed-request").await;

        // JSON, but not the expected object.
        for body in [
            json!({"book_id": "three"}),
            json!({}),
            json!({"book_id": 3, "pages_read": 5}),
        ] {
            let res = app.post_json(LIST, &body).await;
            assert_problem(res, 422, "validation-failed").await;
        }
        for body in [
            json!({}),
            json!({"pages_read": "twelve"}),
            json!({"pages_read": 12.5}),
            json!({"pages_read": 12, "page": 3}),
        ] {
            let res = patch(&app, 1, &body).await;
            let problem = assert_problem(res, 422, "validation-failed").await;
            assert!(
                !problem["errors"].as_array().unwrap().is_empty(),
                "{problem}"
            );
        }
        let res = app
            .client
            .post(app.url(LIST))
            .header("content-type", "text/plain")
            .body("{\"book_id\": 3}")
            .send()
            .await
            .unwrap();
        assert_problem(res, 415, "unsupported-media-type").await;

        assert_eq!(everything(&app).await, before, "{backend:?}");
    }
}

#[tokio::test]
async fn a_change_sent_from_another_site_is_refused_and_changes_nothing() {
    for backend in backends() {
        let app = spawn(backend).await;
        a_reader_with_some_reading(&app).await;
        let before = everything(&app).await;
        let evil = |method: Method, path: &str, body: Value| {
            app.client
                .request(method, app.url(path))
                .header("origin", "http://evil.example")
                .json(&body)
                .send()
        };

        for (method, path, body) in [
            (Method::POST, LIST.to_owned(), json!({"book_id": 3})),
            (Method::PATCH, entry_url(1), json!({"pages_read": 11})),
            (Method::DELETE, entry_url(1), json!(null)),
            (
                Method::PUT,
                GENRES.to_owned(),
                json!({"genres": ["poetry"]}),
            ),
        ] {
            let res = evil(method.clone(), &path, body).await.unwrap();
            assert_problem(res, 403, "cross-site-request").await;
        }
        assert_eq!(everything(&app).await, before, "{backend:?}");

        // The same change from the API's own origin passes.
        let res = app
            .client
            .post(app.url(LIST))
            .header("origin", &app.base)
            .json(&json!({"book_id": 3}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
}

#[tokio::test]
async fn two_progress_updates_sent_at_once_both_land() {
    for backend in backends() {
        let app = spawn(backend).await;
        added(&app, 1).await;
        added(&app, 2).await;

        for round in 1..=5_i64 {
            let (to_page, to_chapter, on_other) = (
                json!({"pages_read": round * 3}),
                json!({"current_chapter": 1 + round % 2}),
                json!({"pages_read": round}),
            );
            let (pages, chapter, other) = tokio::join!(
                patch(&app, 1, &to_page),
                patch(&app, 1, &to_chapter),
                patch(&app, 2, &on_other),
            );
            assert_eq!(pages.status(), 200, "{backend:?}");
            assert_eq!(chapter.status(), 200, "{backend:?}");
            assert_eq!(other.status(), 200, "{backend:?}");

            let listed = list(&app).await;
            assert_eq!(book_ids(&listed), [1, 2]);
            assert_eq!(listed["items"][0]["pages_read"], round * 3, "{backend:?}");
            assert_eq!(listed["items"][0]["current_chapter"], 1 + round % 2);
            assert_eq!(listed["items"][1]["pages_read"], round);
        }
    }
}

/// How many books the running app's library holds.
fn library_size(app: &TestApp) -> usize {
    app.state.as_ref().unwrap().library.books().len()
}

#[tokio::test]
async fn the_reading_list_holds_fifty_books_and_refuses_the_fifty_first() {
    for backend in backends() {
        let app = spawn(backend).await;
        let size = library_size(&app);
        assert!(
            size >= 51,
            "the library has {size} books; the demo library must hold more than the list's cap of 50"
        );
        for id in 1..=50 {
            added(&app, id).await;
        }
        let before = everything(&app).await;
        let problem = assert_problem(add(&app, 51).await, 422, "reading-list-full").await;
        assert!(
            problem["detail"].as_str().unwrap().contains("take one off"),
            "{problem}"
        );
        assert_eq!(everything(&app).await, before, "{backend:?}");

        // Taking one off makes room.
        assert_eq!(app.delete(&entry_url(50)).await.status(), 204);
        added(&app, 51).await;
        assert_eq!(list(&app).await["items"].as_array().unwrap().len(), 50);
    }
}
