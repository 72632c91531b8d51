//! Welcome and goodbye for readers: the welcome and the session name the
//! book the reader is in the middle of, and a goodbye (or a logout) keeps
//! it in the signed summary cookie for the next visit to offer back.

use api::config::SecretKey;
use api::cookies::{CookieKit, VISIT_SUMMARY};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{SECRET_KEY, TestApp, app, backends, cookie_value, send, set_cookie_for};

const LIST: &str = "/api/v1/reading-list";

/// The id of the running app's library book titled `title`.
async fn book_id(app: &TestApp, title: &str) -> i64 {
    let library = &app.state.as_ref().unwrap().library;
    let book = library
        .books()
        .iter()
        .find(|b| b.title == title)
        .unwrap_or_else(|| panic!("{title} is not in the library"));
    book.id.into()
}

async fn add(app: &TestApp, book_id: i64) {
    let res = app.post_json(LIST, &json!({"book_id": book_id})).await;
    assert_eq!(res.status(), 201, "adding book {book_id}");
}

/// Reads `book_id` up to `pages` a minute after the last change, so the
/// order of reading is clear even on the test's standing clock.
async fn read(app: &TestApp, book_id: i64, pages: u32) {
    app.clock.advance(time::Duration::minutes(1));
    let res = send(
        &app.client,
        Method::PATCH,
        app.url(&format!("{LIST}/{book_id}")),
        Some(&json!({"pages_read": pages})),
    )
    .await;
    assert_eq!(res.status(), 200, "reading book {book_id} to page {pages}");
}

/// A new visitor's `POST /visits` carrying `summary` sealed as the visit
/// summary cookie an earlier build would have left.
async fn visit_with_summary(app: &TestApp, summary: &Value) -> reqwest::Response {
    let key = SecretKey::new(SECRET_KEY.as_bytes().to_vec()).unwrap();
    let sealed = CookieKit::seal_with(&key, &VISIT_SUMMARY, summary, app.clock.now()).unwrap();
    app.another_visitor()
        .post(app.url("/api/v1/visits"))
        .header("cookie", format!("last_visit_summary={sealed}"))
        .send()
        .await
        .unwrap()
}

/// The `reading` of a welcome or a session, as (title, pages, from_last_visit).
fn offered(body: &Value) -> Option<(String, u64, bool)> {
    let r = &body["reading"];
    if r.is_null() {
        return None;
    }
    Some((
        r["book"]["title"].as_str().unwrap().to_owned(),
        r["pages_read"].as_u64().unwrap(),
        r["from_last_visit"].as_bool().unwrap(),
    ))
}

fn dracula_at(pages: u64, from_last_visit: bool) -> Option<(String, u64, bool)> {
    Some(("Dracula".to_owned(), pages, from_last_visit))
}

#[tokio::test]
async fn a_returning_reader_is_greeted_with_the_book_read_most_recently_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        let welcome = app.visit().await;
        assert_eq!(welcome["reading"], Value::Null, "{backend:?}: {welcome}");

        let dracula = book_id(&app, "Dracula").await;
        let emma = book_id(&app, "Emma").await;
        add(&app, dracula).await;
        add(&app, emma).await;
        read(&app, dracula, 212).await;
        read(&app, emma, 30).await;

        let welcome = app.visit().await;
        assert_eq!(
            offered(&welcome),
            Some(("Emma".to_owned(), 30, false)),
            "{backend:?}: {welcome}"
        );

        read(&app, dracula, 230).await;
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), dracula_at(230, false), "{welcome}");
        let r = &welcome["reading"];
        assert_eq!(r["book"]["id"], dracula);
        assert_eq!(r["book"]["author"], "Bram Stoker");
        // The book as every other answer shows it; its pages only there.
        assert_eq!(
            r["book"]["genres"],
            json!(["fiction", "horror"]),
            "{welcome}"
        );
        assert_eq!(r.get("total_pages"), None, "{welcome}");
        let total = r["book"]["total_pages"].as_u64().unwrap();
        assert_eq!(r["percent"].as_u64().unwrap(), 230 * 100 / total);
        assert!(r["current_chapter"].as_u64().unwrap() >= 1);
        assert!(r["last_activity_at"].is_string(), "{welcome}");
        assert_eq!(r.get("last_read_at"), None, "{welcome}");

        let session = app.get_json("/api/v1/session").await;
        assert_eq!(session["reading"], welcome["reading"], "{backend:?}");
    }
}

#[tokio::test]
async fn goodbye_keeps_the_last_book_and_the_next_visit_offers_it_back_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        app.visit().await;
        let dracula = book_id(&app, "Dracula").await;
        add(&app, dracula).await;
        read(&app, dracula, 212).await;

        let res = app.delete("/api/v1/session").await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let goodbye: Value = res.json().await.unwrap();
        assert_eq!(goodbye["last_book"]["book_id"], dracula, "{goodbye}");
        assert_eq!(goodbye["last_book"]["pages_read"], 212, "{goodbye}");

        // The session is gone: its reading list is empty, but the welcome
        // offers the book back, named from the library.
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), dracula_at(212, true), "{welcome}");
        assert_eq!(welcome["visit_count"], 2, "{welcome}");
        assert_eq!(app.get_json(LIST).await["items"], json!([]), "{backend:?}");
        // The session itself holds nothing of it.
        assert_eq!(
            app.get_json("/api/v1/session").await["reading"],
            Value::Null
        );

        // A second goodbye without reading keeps the book still.
        app.delete("/api/v1/session").await;
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), dracula_at(212, true), "{welcome}");

        // Once the reader picks a book up again, the list is what counts.
        let emma = book_id(&app, "Emma").await;
        add(&app, emma).await;
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), Some(("Emma".to_owned(), 0, false)));
    }
}

#[tokio::test]
async fn goodbye_drops_a_kept_book_the_reader_took_off_or_finished_since_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        app.visit().await;
        let dracula = book_id(&app, "Dracula").await;
        add(&app, dracula).await;
        read(&app, dracula, 212).await;
        app.delete("/api/v1/session").await;

        // The next visit picks it up again, reads on to 300 and takes it
        // off: page 212 is stale, so the goodbye keeps no book.
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), dracula_at(212, true), "{welcome}");
        add(&app, dracula).await;
        read(&app, dracula, 300).await;
        let res = app.delete(&format!("{LIST}/{dracula}")).await;
        assert_eq!(res.status(), 200, "{backend:?}: abandoned part-read");
        let res = app.delete("/api/v1/session").await;
        assert_eq!(res.status(), 200, "{backend:?}");
        let goodbye: Value = res.json().await.unwrap();
        assert_eq!(goodbye["last_book"], Value::Null, "{backend:?}: {goodbye}");
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), None, "{backend:?}: {welcome}");

        // Finished since: the same.
        add(&app, dracula).await;
        read(&app, dracula, 100).await;
        app.delete("/api/v1/session").await;
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), dracula_at(100, true), "{welcome}");
        add(&app, dracula).await;
        let total = welcome["reading"]["book"]["total_pages"].as_u64().unwrap();
        read(&app, dracula, u32::try_from(total).unwrap()).await;
        let goodbye: Value = app.delete("/api/v1/session").await.json().await.unwrap();
        assert_eq!(goodbye["last_book"], Value::Null, "{backend:?}: {goodbye}");
        let welcome = app.visit().await;
        assert_eq!(offered(&welcome), None, "{backend:?}: {welcome}");
    }
}

#[tokio::test]
async fn logout_keeps_the_last_book_of_a_signed_in_reader_on_every_store() {
    for backend in backends() {
        let app = app().backend(backend).spawn().await;
        assert_eq!(
            app.register("mina", "a-long-passphrase-1897")
                .await
                .status(),
            201
        );
        app.visit().await;
        let dracula = book_id(&app, "Dracula").await;
        add(&app, dracula).await;
        read(&app, dracula, 99).await;
        assert_eq!(
            offered(&app.get_json("/api/v1/session").await),
            dracula_at(99, false)
        );

        let res = app.post_json("/api/v1/auth/logout", &json!({})).await;
        assert!(res.status().is_success(), "{backend:?}: {}", res.status());
        let summary = set_cookie_for(res.headers(), "last_visit_summary")
            .expect("the logout leaves a summary");
        assert!(!cookie_value(&summary).is_empty());

        let welcome = app.visit().await;
        assert_eq!(
            offered(&welcome),
            dracula_at(99, true),
            "{backend:?}: {welcome}"
        );
    }
}

/// A summary cookie written before the library existed has no `last_book`:
/// it still reads (the count goes on) and offers no book.
#[tokio::test]
async fn a_summary_cookie_from_before_the_library_still_reads() {
    let app = app().spawn().await;
    let res = visit_with_summary(
        &app,
        &json!({"name": "Lucy", "visit_count": 6, "date": "2026-11-20T19:00:00Z"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert!(set_cookie_for(res.headers(), "last_visit_summary").is_none());
    let welcome: Value = res.json().await.unwrap();
    assert_eq!(
        (
            &welcome["visit_count"],
            &welcome["name"],
            &welcome["reading"]
        ),
        (&json!(7), &json!("Lucy"), &Value::Null),
        "{welcome}"
    );

    // One written when the place's time was called `last_read_at` still
    // reads, and so does one with a field this build does not know (only
    // another build of the server can have signed it).
    let dracula = book_id(&app, "Dracula").await;
    for extra in [json!({}), json!({"shelf": "bedside"})] {
        let mut summary = json!({"name": "Mina", "visit_count": 2, "date": "2026-11-20T19:00:00Z",
                "last_book": {"book_id": dracula, "pages_read": 150, "current_chapter": 9,
                              "last_read_at": "2026-11-20T18:00:00Z"}});
        for (k, v) in extra.as_object().unwrap() {
            summary[k] = v.clone();
            summary["last_book"][k] = v.clone();
        }
        let welcome: Value = visit_with_summary(&app, &summary)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            (&welcome["visit_count"], &welcome["name"]),
            (&json!(3), &json!("Mina")),
            "{extra}: {welcome}"
        );
        assert_eq!(
            offered(&welcome),
            dracula_at(150, true),
            "{extra}: {welcome}"
        );
        assert_eq!(
            welcome["reading"]["last_activity_at"], "2026-11-20T18:00:00Z",
            "{welcome}"
        );
    }

    // One that names a book the library does not have offers nothing.
    let gone = json!({"name": null, "visit_count": 2, "date": "2026-11-20T19:00:00Z",
            "last_book": {"book_id": 999_999, "pages_read": 5, "current_chapter": 1,
                          "last_activity_at": "2026-11-20T18:00:00Z"}});
    let welcome: Value = visit_with_summary(&app, &gone).await.json().await.unwrap();
    assert_eq!(
        (&welcome["visit_count"], &welcome["reading"]),
        (&json!(3), &Value::Null)
    );
}
