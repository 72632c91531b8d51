//! A signed-in reader's list, progress, history and genres follow them:
//! kept with the account, seen from every device, merged at sign-in (the
//! further progress wins, histories and genres join, a started book a full
//! list cannot take goes into the history), changed from two devices at once without a lost
//! update, and left with the account at sign-out.

use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::auth::PASSWORD;
use crate::helpers::{Backend, TestApp, app, backends, send};

const LIST: &str = "/api/v1/reading-list";
const GENRES: &str = "/api/v1/reader/genres";
const HISTORY: &str = "/api/v1/reading-history";

/// One browser: the app's own client or another visitor's.
struct Device<'a> {
    app: &'a TestApp,
    client: Client,
}

impl<'a> Device<'a> {
    fn first(app: &'a TestApp) -> Self {
        Device {
            app,
            client: app.client.clone(),
        }
    }

    fn another(app: &'a TestApp) -> Self {
        Device {
            app,
            client: app.another_visitor(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>) -> reqwest::Response {
        send(&self.client, method, self.app.url(path), body.as_ref()).await
    }

    async fn get(&self, path: &str) -> Value {
        let res = self.send(Method::GET, path, None).await;
        assert_eq!(res.status(), 200, "GET {path}");
        res.json().await.unwrap()
    }

    /// Registers `username` and returns the answer's body.
    async fn register(&self, username: &str) -> Value {
        let res = self
            .send(
                Method::POST,
                "/api/v1/auth/register",
                Some(json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(res.status(), 201, "register");
        res.json().await.unwrap()
    }

    /// Signs in as `username` and returns the answer's body.
    async fn sign_in(&self, username: &str) -> Value {
        let res = self
            .send(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"username": username, "password": PASSWORD, "remember_me": false})),
            )
            .await;
        assert_eq!(res.status(), 200, "sign in");
        res.json().await.unwrap()
    }

    async fn sign_out(&self) {
        let res = self
            .send(Method::POST, "/api/v1/auth/logout", Some(json!({})))
            .await;
        assert_eq!(res.status(), 204, "sign out");
    }

    async fn add(&self, book_id: i64) {
        let res = self
            .send(Method::POST, LIST, Some(json!({"book_id": book_id})))
            .await;
        assert_eq!(res.status(), 201, "adding book {book_id}");
    }

    async fn patch(&self, book_id: i64, body: Value) -> reqwest::Response {
        self.send(Method::PATCH, &format!("{LIST}/{book_id}"), Some(body))
            .await
    }

    /// Records pages read (and the chapter), asserting a 200.
    async fn read_to(&self, book_id: i64, pages_read: i64, current_chapter: i64) {
        let body = json!({"pages_read": pages_read, "current_chapter": current_chapter});
        let res = self.patch(book_id, body.clone()).await;
        let status = res.status();
        let text = res.text().await.unwrap();
        assert_eq!(status, 200, "progress {body} on book {book_id}: {text}");
    }

    async fn put_genres(&self, genres: &[&str]) {
        let res = self
            .send(Method::PUT, GENRES, Some(json!({ "genres": genres })))
            .await;
        assert_eq!(res.status(), 200, "favorite genres {genres:?}");
    }

    /// Adds a book, reads `pages_read` pages and takes it off the list.
    async fn abandon(&self, book_id: i64, pages_read: i64) {
        self.add(book_id).await;
        let res = self.patch(book_id, json!({"pages_read": pages_read})).await;
        assert_eq!(res.status(), 200, "reading book {book_id}");
        let res = self
            .send(Method::DELETE, &format!("{LIST}/{book_id}"), None)
            .await;
        assert!(res.status().is_success(), "taking book {book_id} off");
    }

    /// Adds a book and reads it to the last page.
    async fn finish(&self, book_id: i64) {
        self.add(book_id).await;
        let pages = book_pages(self.app, book_id).await;
        let res = self.patch(book_id, json!({"pages_read": pages})).await;
        assert_eq!(res.status(), 200, "finishing book {book_id}");
    }

    /// The whole history, newest first.
    async fn history(&self) -> Vec<HistoryItem> {
        let page = self.get(&format!("{HISTORY}?per_page=100")).await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                // Finished or taken off: whichever the entry says.
                let ended = ["ended_at", "finished_at", "abandoned_at"]
                    .iter()
                    .find_map(|k| e[*k].as_str())
                    .expect("an entry says when it ended");
                HistoryItem {
                    book: e["book"]["id"].as_i64().unwrap(),
                    outcome: e["outcome"].as_str().unwrap().to_owned(),
                    pages_read: e["pages_read"].as_i64().unwrap(),
                    chapter: e["current_chapter"].as_i64().unwrap(),
                    ended: time::OffsetDateTime::parse(
                        ended,
                        &time::format_description::well_known::Rfc3339,
                    )
                    .unwrap(),
                }
            })
            .collect()
    }

    /// The list as (book, pages read, current chapter), in its order.
    async fn list(&self) -> Vec<(i64, i64, i64)> {
        let list = self.get(LIST).await;
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                (
                    e["book"]["id"].as_i64().unwrap(),
                    e["pages_read"].as_i64().unwrap(),
                    e["current_chapter"].as_i64().unwrap(),
                )
            })
            .collect()
    }
}

async fn spawn(backend: Backend) -> TestApp {
    app().backend(backend).spawn().await
}

#[tokio::test]
async fn a_signed_in_readers_list_and_progress_show_on_a_second_device() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.register("ada").await;
        phone.add(1).await;
        phone.add(2).await;
        phone.read_to(1, 50, 5).await;
        let res = phone
            .send(
                Method::PUT,
                GENRES,
                Some(json!({"genres": ["mystery", "poetry"]})),
            )
            .await;
        assert_eq!(res.status(), 200, "{backend:?}");

        let laptop = Device::another(&app);
        laptop.sign_in("ada").await;

        assert_eq!(
            laptop.list().await,
            vec![(1, 50, 5), (2, 0, 1)],
            "{backend:?}"
        );
        assert_eq!(
            laptop.get(GENRES).await["genres"],
            json!(["mystery", "poetry"]),
            "{backend:?}"
        );
        // And back: the laptop's progress shows on the phone.
        laptop.read_to(2, 30, 3).await;
        assert_eq!(
            phone.list().await,
            vec![(1, 50, 5), (2, 30, 3)],
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn signing_in_merges_the_visitors_list_into_the_accounts_and_the_further_progress_wins() {
    for backend in backends() {
        let app = spawn(backend).await;
        let laptop = Device::first(&app);
        laptop.register("ada").await;
        laptop.add(1).await;
        laptop.read_to(1, 50, 4).await;
        laptop.add(2).await;
        laptop.read_to(2, 200, 20).await;
        laptop.sign_out().await;
        let phone = Device::another(&app);
        phone.add(3).await;
        phone.read_to(3, 10, 1).await;
        phone.add(1).await;
        phone.read_to(1, 120, 9).await;
        phone.add(2).await;
        phone.read_to(2, 30, 2).await;

        let answer = phone.sign_in("ada").await;

        assert_eq!(answer["reading_dropped"], json!([]), "{backend:?}");
        // Book 1: the visitor got further (120 over 50); book 2: the
        // account did (200 over 30); book 3 joins after the account's.
        let expected = vec![(1, 120, 9), (2, 200, 20), (3, 10, 1)];
        assert_eq!(phone.list().await, expected, "{backend:?}");
        laptop.sign_in("ada").await;
        assert_eq!(laptop.list().await, expected, "{backend:?}");
    }
}

#[tokio::test]
async fn registering_carries_the_visitors_reading_into_the_new_account() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.add(4).await;
        phone.read_to(4, 12, 2).await;

        let answer = phone.register("ada").await;

        assert_eq!(answer["reading_dropped"], json!([]), "{backend:?}");
        let laptop = Device::another(&app);
        laptop.sign_in("ada").await;
        assert_eq!(laptop.list().await, vec![(4, 12, 2)], "{backend:?}");
    }
}

#[tokio::test]
async fn books_a_full_account_list_cannot_take_at_sign_in_are_named_in_the_answer() {
    for backend in backends() {
        let app = spawn(backend).await;
        let laptop = Device::first(&app);
        laptop.register("ada").await;
        for book in 1..=50 {
            laptop.add(book).await;
        }
        laptop.sign_out().await;
        let phone = Device::another(&app);
        phone.add(51).await;
        phone.read_to(51, 12, 2).await;
        phone.add(52).await;
        phone.add(1).await;
        phone.read_to(1, 7, 1).await;
        app.clock.advance(time::Duration::hours(1));

        let answer = phone.sign_in("ada").await;

        assert_eq!(answer["reading_dropped"], json!([51, 52]), "{backend:?}");
        let list = phone.list().await;
        assert_eq!(list.len(), 50, "{backend:?}");
        assert_eq!(
            list[0],
            (1, 7, 1),
            "a book on both still merges ({backend:?})"
        );
        assert!(
            !list.iter().any(|(book, ..)| *book == 51 || *book == 52),
            "{backend:?}"
        );
        // The started book is not lost: it is in the history as abandoned
        // at the sign-in, with how far the visitor got; the unopened one
        // leaves no trace.
        let history = phone.history().await;
        assert_eq!(
            history
                .iter()
                .map(|e| (e.book, e.outcome.as_str(), e.pages_read, e.chapter))
                .collect::<Vec<_>>(),
            vec![(51, "abandoned", 12, 2)],
            "{backend:?}"
        );
        assert_eq!(history[0].ended, app.clock.now(), "{backend:?}");
        laptop.sign_in("ada").await;
        assert_eq!(laptop.history().await, history, "{backend:?}");
    }
}

#[tokio::test]
async fn signing_in_joins_the_histories_newest_first_and_the_genres_the_accounts_first() {
    for backend in backends() {
        let app = spawn(backend).await;
        let minute = || app.clock.advance(time::Duration::minutes(1));
        let laptop = Device::first(&app);
        laptop.register("ada").await;
        laptop.put_genres(&["mystery", "poetry"]).await;
        let phone = Device::another(&app);
        phone
            .put_genres(&["poetry", "horror", "drama", "fiction", "romance"])
            .await;

        // Book 5 is taken off on both at the same instant: the one entry.
        laptop.abandon(5, 7).await;
        phone.abandon(5, 9).await;
        minute();
        phone.abandon(3, 5).await;
        minute();
        laptop.finish(2).await;
        minute();
        phone.finish(4).await;
        minute();
        laptop.abandon(1, 10).await;
        laptop.sign_out().await;

        phone.sign_in("ada").await;

        let expected = vec![
            (1, "abandoned".to_owned(), 10),
            (4, "finished".to_owned(), book_pages(&app, 4).await),
            (2, "finished".to_owned(), book_pages(&app, 2).await),
            (3, "abandoned".to_owned(), 5),
            (5, "abandoned".to_owned(), 7),
        ];
        let shown = |history: Vec<HistoryItem>| {
            history
                .into_iter()
                .map(|e| (e.book, e.outcome, e.pages_read))
                .collect::<Vec<_>>()
        };
        assert_eq!(shown(phone.history().await), expected, "{backend:?}");
        let genres = json!(["mystery", "poetry", "horror", "drama", "fiction"]);
        assert_eq!(phone.get(GENRES).await["genres"], genres, "{backend:?}");
        // The account keeps them: another device sees the same.
        laptop.sign_in("ada").await;
        assert_eq!(shown(laptop.history().await), expected, "{backend:?}");
        assert_eq!(laptop.get(GENRES).await["genres"], genres, "{backend:?}");
    }
}

/// A book's total pages, as the library gives them.
async fn book_pages(app: &TestApp, book_id: i64) -> i64 {
    let res = app.get(&format!("/api/v1/books/{book_id}")).await;
    assert_eq!(res.status(), 200, "book {book_id}");
    let book: Value = res.json().await.unwrap();
    book["total_pages"].as_i64().unwrap()
}

/// A history entry as a reader reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HistoryItem {
    book: i64,
    outcome: String,
    pages_read: i64,
    chapter: i64,
    /// When it was finished or taken off the list.
    ended: time::OffsetDateTime,
}

#[tokio::test]
async fn progress_updated_from_two_devices_at_once_all_lands() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.register("ada").await;
        let laptop = Device::another(&app);
        laptop.sign_in("ada").await;
        for book in 1..=6 {
            phone.add(book).await;
        }

        // Every update rewrites the whole reading: one made from a stale
        // read would take another device's update back.
        let updates = (1..=6).map(|book| {
            let device = if book % 2 == 0 { &phone } else { &laptop };
            device.patch(book, json!({"pages_read": 10 + book, "current_chapter": 2}))
        });
        let answers = futures_util::future::join_all(updates).await;

        for res in answers {
            let status = res.status();
            let body = res.text().await.unwrap();
            assert_eq!(status, 200, "an update answered {body} ({backend:?})");
        }
        let expected: Vec<_> = (1..=6).map(|book| (book, 10 + book, 2)).collect();
        assert_eq!(phone.list().await, expected, "{backend:?}");
        assert_eq!(laptop.list().await, expected, "{backend:?}");
    }
}

#[tokio::test]
async fn two_devices_reading_one_book_at_once_both_updates_land_one_after_the_other() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.register("ada").await;
        let laptop = Device::another(&app);
        laptop.sign_in("ada").await;
        phone.add(1).await;

        let (a, b) = tokio::join!(
            phone.patch(1, json!({"pages_read": 80})),
            laptop.patch(1, json!({"current_chapter": 7})),
        );

        assert_eq!(
            (a.status().as_u16(), b.status().as_u16()),
            (200, 200),
            "{backend:?}"
        );
        // Neither field was taken back by the other device's update.
        assert_eq!(phone.list().await, vec![(1, 80, 7)], "{backend:?}");
    }
}

#[tokio::test]
async fn after_sign_out_the_anonymous_session_no_longer_shows_the_accounts_list() {
    for backend in backends() {
        let app = spawn(backend).await;
        let phone = Device::first(&app);
        phone.register("ada").await;
        phone.add(1).await;
        phone.read_to(1, 40, 3).await;

        phone.sign_out().await;

        assert!(phone.list().await.is_empty(), "{backend:?}");
        // What the signed-out reader adds is theirs, and joins the account
        // at the next sign-in.
        phone.add(2).await;
        assert_eq!(phone.list().await, vec![(2, 0, 1)], "{backend:?}");
        phone.sign_in("ada").await;
        assert_eq!(
            phone.list().await,
            vec![(1, 40, 3), (2, 0, 1)],
            "{backend:?}"
        );
        // Handed over once: signing out again leaves nothing behind.
        phone.sign_out().await;
        assert!(phone.list().await.is_empty(), "{backend:?}");
    }
}

#[tokio::test]
async fn an_account_reading_column_that_no_longer_decodes_reads_as_empty_and_the_rest_stays() {
    let app = spawn(crate::helpers::default_backend()).await;
    let phone = Device::first(&app);
    phone.register("ada").await;
    phone.add(1).await;
    phone.read_to(1, 40, 3).await;
    app.sql(r#"UPDATE user_state SET favorite_genres = '["cookery"]'"#)
        .await;

    assert_eq!(phone.get(GENRES).await["genres"], json!([]));
    assert_eq!(phone.list().await, vec![(1, 40, 3)]);
}
