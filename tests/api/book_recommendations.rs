//! Book recommendations: a starter set for a new reader, rankings that learn
//! from finished, in-progress and abandoned books and favorite genres, the
//! `limit` bounds, and a read that writes no session; on every session store.

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, app, assert_problem, backends, send, session_cookie, set_cookies,
};

const RECS: &str = "/api/v1/recommendations/books";
const LIST: &str = "/api/v1/reading-list";
const GENRES: &str = "/api/v1/reader/genres";

async fn spawn(backend: Backend) -> TestApp {
    app().backend(backend).spawn().await
}

/// A book as the library lists it.
#[derive(Debug, Clone)]
struct Book {
    id: i64,
    title: String,
    author: String,
    genres: BTreeSet<String>,
    total_pages: i64,
}

impl Book {
    fn from_json(v: &Value) -> Self {
        Book {
            id: v["id"].as_i64().unwrap(),
            title: v["title"].as_str().unwrap().to_owned(),
            author: v["author"].as_str().unwrap().to_owned(),
            genres: v["genres"]
                .as_array()
                .unwrap()
                .iter()
                .map(|g| g.as_str().unwrap().to_owned())
                .collect(),
            total_pages: v["total_pages"].as_i64().unwrap(),
        }
    }

    fn shares_genre(&self, other: &Book) -> bool {
        !self.genres.is_disjoint(&other.genres)
    }

    fn shared_genres(&self, other: &Book) -> usize {
        self.genres.intersection(&other.genres).count()
    }
}

/// Every book of the library (optionally of one genre), as `GET /books`
/// lists them, page by page.
async fn books(app: &TestApp, genre: Option<&str>) -> Vec<Book> {
    let filter = genre.map(|g| format!("&genre={g}")).unwrap_or_default();
    let mut all = Vec::new();
    for page in 1.. {
        let res = app
            .get(&format!("/api/v1/books?per_page=100&page={page}{filter}"))
            .await;
        assert_eq!(res.status(), 200, "listing books");
        let body: Value = res.json().await.unwrap();
        let items = body["items"].as_array().unwrap();
        if items.is_empty() {
            break;
        }
        all.extend(items.iter().map(Book::from_json));
    }
    all
}

/// One recommendation as a client reads it.
#[derive(Debug, Clone)]
struct Rec {
    book: Book,
    score: i64,
    reasons: Vec<String>,
}

/// `GET /recommendations/books?limit=`, asserting a 200: the items and the
/// `starter` flag.
async fn recommendations(app: &TestApp, limit: Option<i64>) -> (Vec<Rec>, bool) {
    let path = match limit {
        Some(n) => format!("{RECS}?limit={n}"),
        None => RECS.to_owned(),
    };
    let res = app.get(&path).await;
    assert_eq!(res.status(), 200, "recommendations");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let items = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| Rec {
            book: Book::from_json(&i["book"]),
            score: i["score"].as_i64().unwrap(),
            reasons: i["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_owned())
                .collect(),
        })
        .collect();
    (items, body["starter"].as_bool().unwrap())
}

fn ids(recs: &[Rec]) -> Vec<i64> {
    recs.iter().map(|r| r.book.id).collect()
}

fn scores(recs: &[Rec]) -> BTreeMap<i64, i64> {
    recs.iter().map(|r| (r.book.id, r.score)).collect()
}

/// Puts a book on the list, asserting the 201.
async fn add(app: &TestApp, book: &Book) {
    let res = app.post_json(LIST, &json!({"book_id": book.id})).await;
    assert_eq!(res.status(), 201, "adding {}", book.title);
}

async fn read_to(app: &TestApp, book: &Book, pages_read: i64) {
    let res = send(
        &app.client,
        Method::PATCH,
        app.url(&format!("{LIST}/{}", book.id)),
        Some(&json!({"pages_read": pages_read})),
    )
    .await;
    assert_eq!(
        res.status(),
        200,
        "reading {} to page {pages_read}",
        book.title
    );
}

/// Adds a book and reads it to the last page.
async fn finish(app: &TestApp, book: &Book) {
    add(app, book).await;
    read_to(app, book, book.total_pages).await;
}

/// Adds a book, reads `pages_read` pages and takes it off the list.
async fn abandon(app: &TestApp, book: &Book, pages_read: i64) {
    add(app, book).await;
    read_to(app, book, pages_read).await;
    let res = app.delete(&format!("{LIST}/{}", book.id)).await;
    assert_eq!(res.status(), 200, "abandoning {}", book.title);
}

async fn set_genres(app: &TestApp, genres: &[&str]) {
    let res = app.put_json(GENRES, &json!({ "genres": genres })).await;
    assert_eq!(res.status(), 200, "favorite genres {genres:?}");
}

/// The genre a starter pick names: "A first pick from the mystery shelf".
fn shelf(reasons: &[String]) -> Option<String> {
    match reasons {
        [one] => one
            .strip_prefix("A first pick from the ")
            .and_then(|s| s.strip_suffix(" shelf"))
            .map(ToOwned::to_owned),
        _ => None,
    }
}

/// A mystery whose author wrote another book of the library.
fn a_mystery_with_a_second_by_its_author(library: &[Book]) -> (Book, Book) {
    library
        .iter()
        .filter(|b| b.genres.contains("mystery"))
        .find_map(|m| {
            library
                .iter()
                .find(|o| o.id != m.id && o.author == m.author)
                .map(|o| (m.clone(), o.clone()))
        })
        .expect("the demo library has an author with two books, one a mystery")
}

#[tokio::test]
async fn a_new_reader_gets_a_starter_set_covering_many_genres_and_no_session() {
    for backend in backends() {
        let app = spawn(backend).await;
        let library = books(&app, None).await;
        assert!(library.len() >= 40, "{backend:?}: the demo library");

        let res = app.get(RECS).await;
        assert_eq!(res.status(), 200, "{backend:?}");
        assert!(
            set_cookies(res.headers()).is_empty(),
            "{backend:?}: a read set a cookie"
        );
        let (recs, starter) = recommendations(&app, None).await;
        assert!(starter, "{backend:?}");
        assert_eq!(recs.len(), 10, "{backend:?}: the default limit");
        // Ten books, ten different shelves, each book of the shelf it is from.
        let shelves: Vec<String> = recs
            .iter()
            .map(|r| {
                let genre = shelf(&r.reasons).unwrap_or_else(|| panic!("{r:?}"));
                assert!(r.book.genres.contains(&genre), "{backend:?}: {r:?}");
                assert_eq!(r.score, 0, "{backend:?}");
                genre
            })
            .collect();
        let distinct: BTreeSet<&String> = shelves.iter().collect();
        assert_eq!(distinct.len(), 10, "{backend:?}: {shelves:?}");

        // Asked for more: every genre the library has before a second of any.
        let (recs, _) = recommendations(&app, Some(50)).await;
        assert_eq!(recs.len(), library.len().min(50), "{backend:?}");
        let genres: BTreeSet<&String> = library.iter().flat_map(|b| &b.genres).collect();
        let first_round: BTreeSet<String> = recs[..genres.len()]
            .iter()
            .filter_map(|r| shelf(&r.reasons))
            .collect();
        assert_eq!(first_round.len(), genres.len(), "{backend:?}");
        // The same again: the order is stable.
        assert_eq!(
            ids(&recs),
            ids(&recommendations(&app, Some(50)).await.0),
            "{backend:?}"
        );
    }
}

#[tokio::test]
async fn recommendations_change_as_the_history_grows() {
    for backend in backends() {
        let app = spawn(backend).await;
        let library = books(&app, None).await;
        let mysteries = books(&app, Some("mystery")).await;
        assert!(
            mysteries.len() >= 3,
            "{backend:?}: the demo library's mysteries"
        );
        let (mystery, same_author) = a_mystery_with_a_second_by_its_author(&library);

        finish(&app, &mystery).await;
        let (recs, starter) = recommendations(&app, Some(50)).await;
        assert!(!starter, "{backend:?}");
        assert!(!ids(&recs).contains(&mystery.id), "{backend:?}: finished");

        // Every other mystery is recommended, for the finished one, above
        // every book that shares nothing with it.
        let because = format!("Because you finished {}", mystery.title);
        let first_unrelated = recs.iter().position(|r| r.score == 0).unwrap_or(recs.len());
        for m in mysteries.iter().filter(|m| m.id != mystery.id) {
            let at = recs
                .iter()
                .position(|r| r.book.id == m.id)
                .unwrap_or_else(|| panic!("{backend:?}: {} is not recommended", m.title));
            assert!(at < first_unrelated, "{backend:?}: {} at {at}", m.title);
            assert!(recs[at].score > 0);
            assert!(
                recs[at].reasons.contains(&because),
                "{backend:?}: {:?}",
                recs[at]
            );
        }
        // The same author's other book rises above every book by another
        // author that shares no more genres with the finished one.
        let at = recs
            .iter()
            .position(|r| r.book.id == same_author.id)
            .unwrap();
        assert!(
            recs[at]
                .reasons
                .contains(&format!("You have read {} before", mystery.author)),
            "{backend:?}: {:?}",
            recs[at]
        );
        for (i, r) in recs.iter().enumerate() {
            if r.book.author != mystery.author
                && r.book.shared_genres(&mystery) <= same_author.shared_genres(&mystery)
            {
                assert!(
                    at < i,
                    "{backend:?}: {} before {}",
                    r.book.title,
                    same_author.title
                );
            }
        }
        let before = scores(&recs);

        // A second mystery finished: no mystery falls, the related ones rise.
        let second = mysteries
            .iter()
            .find(|m| m.id != mystery.id && m.id != same_author.id)
            .unwrap();
        finish(&app, second).await;
        let (recs, _) = recommendations(&app, Some(50)).await;
        for r in recs.iter().filter(|r| r.book.genres.contains("mystery")) {
            assert!(
                r.score > before[&r.book.id],
                "{backend:?}: {} went from {} to {}",
                r.book.title,
                before[&r.book.id],
                r.score
            );
        }

        // A book in progress speaks for its genres by how far it got.
        let reading = library
            .iter()
            .find(|b| !b.shares_genre(&mystery) && !b.shares_genre(second) && b.total_pages >= 4)
            .expect("a book sharing no genre with two mysteries");
        add(&app, reading).await;
        read_to(&app, reading, reading.total_pages / 2).await;
        let (recs, _) = recommendations(&app, Some(50)).await;
        assert!(!ids(&recs).contains(&reading.id), "{backend:?}: listed");
        let because = format!("Because you are reading {}", reading.title);
        let kin = recs
            .iter()
            .find(|r| {
                r.book.shares_genre(reading)
                    && !r.book.shares_genre(&mystery)
                    && !r.book.shares_genre(second)
            })
            .expect("a book sharing a genre with the one in progress only");
        assert!(kin.score > 0, "{backend:?}: {kin:?}");
        assert!(kin.reasons.contains(&because), "{backend:?}: {kin:?}");
    }
}

#[tokio::test]
async fn favorite_genres_change_the_ranking() {
    for backend in backends() {
        let app = spawn(backend).await;
        for genre in ["poetry", "history"] {
            set_genres(&app, &[genre]).await;
            let shelf = books(&app, Some(genre)).await;
            let (recs, starter) = recommendations(&app, Some(50)).await;
            assert!(!starter, "{backend:?}");
            // The genre's books come first, each saying why.
            let liked = format!("You like {genre}");
            for r in &recs[..shelf.len()] {
                assert!(r.book.genres.contains(genre), "{backend:?}: {r:?}");
                assert!(r.reasons.contains(&liked), "{backend:?}: {r:?}");
                assert!(r.score > 0);
            }
            assert!(
                recs[shelf.len()..].iter().all(|r| r.score == 0),
                "{backend:?}"
            );
        }
    }
}

#[tokio::test]
async fn nothing_already_listed_or_finished_is_recommended() {
    for backend in backends() {
        let app = spawn(backend).await;
        let library = books(&app, None).await;
        // Finish one, and list four others of the starter set.
        let (starters, _) = recommendations(&app, Some(5)).await;
        let finished = &starters[0].book;
        finish(&app, finished).await;
        for r in &starters[1..] {
            add(&app, &r.book).await;
        }
        let (recs, _) = recommendations(&app, Some(50)).await;
        for r in &starters {
            assert!(
                !ids(&recs).contains(&r.book.id),
                "{backend:?}: {} is recommended",
                r.book.title
            );
        }
        // Nothing counts against any book: all the others can be offered.
        assert_eq!(recs.len(), (library.len() - 5).min(50), "{backend:?}");
    }
}

#[tokio::test]
async fn an_abandoned_book_pushes_its_genre_down() {
    for backend in backends() {
        let app = spawn(backend).await;
        let horror = books(&app, Some("horror")).await;
        let dropped = horror
            .iter()
            .find(|b| b.total_pages >= 20)
            .expect("a horror book")
            .clone();
        set_genres(&app, &["horror", "poetry"]).await;
        let before = scores(&recommendations(&app, Some(50)).await.0);

        abandon(&app, &dropped, 5).await;
        let (recs, _) = recommendations(&app, Some(50)).await;
        let after = scores(&recs);
        assert!(
            !after.contains_key(&dropped.id),
            "{backend:?}: the dropped book"
        );
        // (A library of more than 50 books may bring in others at the end.)
        for r in recs.iter().filter(|r| before.contains_key(&r.book.id)) {
            if r.book.shares_genre(&dropped) || r.book.author == dropped.author {
                assert!(
                    r.score < before[&r.book.id],
                    "{backend:?}: {} stayed at {}",
                    r.book.title,
                    r.score
                );
            } else {
                assert_eq!(r.score, before[&r.book.id], "{backend:?}: {}", r.book.title);
            }
        }

        // Without the favorites to hold it up, no book of its genres is offered.
        set_genres(&app, &[]).await;
        // Nothing the reader read speaks for a book: all first picks.
        let (recs, starter) = recommendations(&app, Some(50)).await;
        assert!(starter, "{backend:?}: every item is a first pick");
        assert!(
            recs.iter()
                .all(|r| r.score == 0 && shelf(&r.reasons).is_some()),
            "{backend:?}"
        );
        for r in &recs {
            assert!(
                !r.book.shares_genre(&dropped),
                "{backend:?}: {} is offered",
                r.book.title
            );
        }
    }
}

#[tokio::test]
async fn a_listed_book_not_yet_opened_gets_first_picks_and_an_author_only_begun_is_not_read() {
    for backend in backends() {
        let app = spawn(backend).await;
        let library = books(&app, None).await;
        let (book, same_author) = a_mystery_with_a_second_by_its_author(&library);
        add(&app, &book).await;

        // Listed, not opened: every item is a first pick, and says so.
        let (recs, starter) = recommendations(&app, Some(50)).await;
        assert!(starter, "{backend:?}");
        assert!(
            recs.iter()
                .all(|r| r.score == 0 && shelf(&r.reasons).is_some()),
            "{backend:?}"
        );

        // One page read: the author's other book rises, but the author is
        // not one the reader has read.
        read_to(&app, &book, 1).await;
        let (recs, starter) = recommendations(&app, Some(50)).await;
        assert!(!starter, "{backend:?}");
        let read_before = format!("You have read {} before", book.author);
        let other = recs
            .iter()
            .find(|r| r.book.id == same_author.id)
            .expect("the same author's other book");
        assert!(other.score > 0, "{backend:?}: {other:?}");
        assert!(
            other
                .reasons
                .contains(&format!("Because you are reading {}", book.title)),
            "{backend:?}: {other:?}"
        );
        assert!(
            !other.reasons.contains(&read_before),
            "{backend:?}: {other:?}"
        );

        // Half of it read: now the author counts as read.
        read_to(&app, &book, book.total_pages / 2).await;
        let (recs, _) = recommendations(&app, Some(50)).await;
        let other = recs.iter().find(|r| r.book.id == same_author.id).unwrap();
        assert!(
            other.reasons.contains(&read_before),
            "{backend:?}: {other:?}"
        );
    }
}

#[tokio::test]
async fn a_limit_outside_1_to_50_is_refused() {
    for backend in backends() {
        let app = spawn(backend).await;
        for limit in ["0", "51", "-1", "1000000000000"] {
            let res = app.get(&format!("{RECS}?limit={limit}")).await;
            let problem = assert_problem(res, 422, "validation-failed").await;
            assert_eq!(problem["errors"][0]["field"], "limit", "{backend:?}");
            let detail = problem["detail"].as_str().unwrap();
            assert!(detail.contains("50"), "{backend:?}: {detail}");
        }
        let res = app.get(&format!("{RECS}?limit=ten")).await;
        assert_problem(res, 400, "malformed-request").await;
        assert_eq!(recommendations(&app, Some(1)).await.0.len(), 1);
        assert_eq!(recommendations(&app, Some(50)).await.0.len(), 50);
    }
}

#[tokio::test]
async fn asking_for_recommendations_writes_no_session() {
    for backend in backends() {
        let app = spawn(backend).await;
        // A new visitor: no cookie of any kind.
        let res = app.get(&format!("{RECS}?limit=3")).await;
        assert_eq!(res.status(), 200);
        assert!(set_cookies(res.headers()).is_empty(), "{backend:?}");

        // A reader: the session is read, not written or renewed.
        let (starters, _) = recommendations(&app, Some(1)).await;
        add(&app, &starters[0].book).await;
        if backend == Backend::Database {
            app.count_session_writes().await;
        }
        let res = app.get(RECS).await;
        assert_eq!(res.status(), 200);
        assert!(session_cookie(res.headers()).is_none(), "{backend:?}");
        if backend == Backend::Database {
            assert_eq!(app.session_writes().await, 0);
        }
    }
}
