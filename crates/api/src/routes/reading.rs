//! The reader's session: the reading list with progress (`/reading-list`),
//! the history of finished and abandoned books (`/reading-history`) and the
//! favorite genres (`/reader/genres`). Kept in the session, or with the
//! account when the reader is signed in.
//!
//! The answers that only read fetch just the kinds they show
//! ([`VisitorSession::reading_history`], [`VisitorSession::favorite_genres`],
//! ...). Every change goes through [`VisitorSession::change_reading`], which runs
//! the domain's check before it stores anything: a refused change (a book
//! not in the library, pages past the book's last, a genre not in the
//! vocabulary, a full list) leaves all four values as they were.

use std::str::FromStr;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::BookId;
use domain::library::{Book, Genre};
use domain::reading::{
    BookProgress, HistoryEntry, MAX_GENRES, MAX_HISTORY, MAX_LIST, Outcome, ProgressOutcome,
    Reading, ReadingError,
};
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::openapi::schema::{Array, ArrayBuilder};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db::library::Library;
use crate::error::{ApiError, FieldChecks, FieldError, PROBLEM_JSON, Problem, ProblemKind};
use crate::extract::{AppJson, AppPath, AppQuery};
use crate::openapi;
use crate::paging::parse_paging;
use crate::responses::Created;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;
use crate::views::BookView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_reading_list, add_to_reading_list))
        .routes(routes!(
            get_reading_entry,
            update_progress,
            remove_from_reading_list
        ))
        .routes(routes!(get_reading_history))
        .routes(routes!(get_genres, put_genres))
}

/// A book on the reading list, with how far the reader is in it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
        "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
        "published_year": 1897, "language": "en",
        "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
    "pages_read": 212, "percent": 50, "current_chapter": 14,
    "started_at": "2026-11-20T19:00:00Z", "last_read_at": "2026-11-25T21:40:00Z"
}))]
pub struct ReadingEntryView {
    pub book: BookView,
    /// 0 to the book's `total_pages`.
    pub pages_read: u32,
    /// `pages_read` as a whole percentage of the book's pages, rounded
    /// down: 100 only at the last page.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    /// 1 to the book's `chapters`.
    pub current_chapter: u32,
    /// When the book went on the list.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// The last progress update; null before the first.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_read_at: Option<OffsetDateTime>,
}

/// The reading list.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{
    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
        "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
        "published_year": 1897, "language": "en",
        "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
    "pages_read": 212, "percent": 50, "current_chapter": 14,
    "started_at": "2026-11-20T19:00:00Z", "last_read_at": "2026-11-25T21:40:00Z"
}]}))]
pub struct ReadingListView {
    /// Oldest addition first, the most recently added last (at most 50).
    pub items: Vec<ReadingEntryView>,
}

/// A finished or abandoned book.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
        "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
        "published_year": 1897, "language": "en",
        "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
    "outcome": "finished", "pages_read": 418, "total_pages": 418, "percent": 100,
    "current_chapter": 27,
    "started_at": "2026-11-20T19:00:00Z", "finished_at": "2026-11-26T22:10:00Z",
    "abandoned_at": null
}))]
pub struct HistoryEntryView {
    pub book: BookView,
    /// `finished`: the last page was reached (`finished_at` says when);
    /// `abandoned`: taken off the list after reading some of it
    /// (`abandoned_at` says when).
    #[schema(schema_with = openapi::word::<Outcome>)]
    pub outcome: Outcome,
    /// How far the reader got (all of it when finished).
    pub pages_read: u32,
    /// The book's pages when the entry was made.
    pub total_pages: u32,
    /// `pages_read` as a whole percentage of `total_pages`, rounded down.
    #[schema(minimum = 0, maximum = 100)]
    pub percent: u8,
    pub current_chapter: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// When the last page was reached; null when the book was abandoned.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    /// When the book was taken off the list; null when it was finished.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub abandoned_at: Option<OffsetDateTime>,
}

/// One page of the reading history.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"items": [{
    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
        "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
        "published_year": 1897, "language": "en",
        "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
    "outcome": "finished", "pages_read": 418, "total_pages": 418, "percent": 100,
    "current_chapter": 27,
    "started_at": "2026-11-20T19:00:00Z", "finished_at": "2026-11-26T22:10:00Z",
    "abandoned_at": null
}], "page": 1, "per_page": 20, "total": 1}))]
pub struct ReadingHistoryPage {
    /// Newest first (by `finished_at` or `abandoned_at`, whichever is set).
    pub items: Vec<HistoryEntryView>,
    pub page: u32,
    pub per_page: u32,
    /// How many entries the history holds in all (at most 500).
    pub total: u64,
}

/// What a progress update did: the book is still being read, or the last
/// page was reached and the book moved to the history. `status` says which
/// of the two fields is there.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
#[schema(example = json!({"status": "reading", "entry": {
    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
        "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
        "published_year": 1897, "language": "en",
        "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
    "pages_read": 212, "percent": 50, "current_chapter": 14,
    "started_at": "2026-11-20T19:00:00Z", "last_read_at": "2026-11-25T21:40:00Z"
}}))]
pub enum ProgressView {
    /// The book stays on the reading list with this progress.
    Reading { entry: ReadingEntryView },
    /// The last page was reached: the book left the list for the history
    /// (it can be added again to read it again).
    Finished { history_entry: HistoryEntryView },
}

/// The favorite genres.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"genres": ["mystery", "horror"]}))]
pub struct GenresView {
    /// In the order the reader gave them, at most 5.
    #[schema(schema_with = genre_list)]
    pub genres: Vec<Genre>,
}

/// Put a book on the reading list.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"book_id": 7}))]
pub struct AddBook {
    /// A book in the library (`GET /api/v1/books`).
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    pub book_id: i64,
}

/// How far the reader is: at least one of the two fields. Reaching the
/// book's last page finishes it. A field left out keeps its value; `null`
/// is refused (422), as it would clear nothing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1, example = json!({"pages_read": 212, "current_chapter": 14}))]
pub struct ProgressInput {
    /// 0 to the book's `total_pages`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 0, maximum = 2_147_483_647)]
    pub pages_read: Option<i64>,
    /// 1 to the book's `chapters`.
    #[serde(default, deserialize_with = "not_null")]
    #[schema(nullable = false, minimum = 1, maximum = 2_147_483_647)]
    pub current_chapter: Option<i64>,
}

/// A field that may be left out but is never `null`.
fn not_null<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    Option::<i64>::deserialize(deserializer)?
        .map(Some)
        .ok_or_else(|| {
            serde::de::Error::custom(
                "must be a whole number, not null; leave the field out to keep its value",
            )
        })
}

/// The favorite genres, replacing those kept.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"genres": ["mystery", "horror"]}))]
pub struct GenresInput {
    /// Up to 5 entries, each a genre from the vocabulary (a repeat counts
    /// toward the 5 and is then dropped; the order is kept); an empty list
    /// clears them.
    #[schema(schema_with = genre_list)]
    pub genres: Vec<String>,
}

/// A list of up to [`MAX_GENRES`] genres.
fn genre_list() -> Array {
    ArrayBuilder::new()
        .items(openapi::word::<Genre>())
        .max_items(Some(MAX_GENRES))
        .build()
}

/// The last page worth asking for: the history keeps at most 500 entries.
const MAX_PAGE: u32 = MAX_HISTORY as u32;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Page number, 1 to 500 (a page past the last is empty).
    #[param(minimum = 1, maximum = 500, default = 1, example = 1)]
    page: Option<i64>,
    /// Entries per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    per_page: Option<i64>,
}

impl HistoryQuery {
    fn parse(&self) -> Result<(u32, u32), ApiError> {
        let mut errors = Vec::new();
        let (page, per_page) = parse_paging(self.page, self.per_page, MAX_PAGE, &mut errors);
        if errors.is_empty() {
            Ok((page, per_page))
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }
}

fn entry_view(book: &Book, progress: &BookProgress) -> ReadingEntryView {
    ReadingEntryView {
        book: BookView::from(book),
        pages_read: progress.pages_read,
        percent: progress.percent(book.total_pages),
        current_chapter: progress.current_chapter,
        started_at: progress.started_at,
        last_read_at: progress.last_read_at,
    }
}

fn history_view(book: &Book, entry: &HistoryEntry) -> HistoryEntryView {
    HistoryEntryView {
        book: BookView::from(book),
        outcome: entry.outcome,
        pages_read: entry.pages_read,
        total_pages: entry.total_pages,
        percent: entry.percent(),
        current_chapter: entry.current_chapter,
        started_at: entry.started_at,
        finished_at: (entry.outcome == Outcome::Finished).then_some(entry.ended_at),
        abandoned_at: (entry.outcome == Outcome::Abandoned).then_some(entry.ended_at),
    }
}

/// The list as the reader sees it. A listed book the library no longer
/// holds (the library changes only by migration) is left out and logged.
fn list_view(reading: &Reading, library: &Library) -> ReadingListView {
    let items = reading
        .list
        .entries
        .iter()
        .filter_map(|e| {
            let Some(book) = library.get(e.book_id) else {
                tracing::warn!(book = %e.book_id, "a listed book is not in the library; left out");
                return None;
            };
            let progress = reading.progress.books.get(&e.book_id)?;
            Some(entry_view(book, progress))
        })
        .collect();
    ReadingListView { items }
}

/// The entry of `book`, which the change just listed or updated.
fn listed_entry(reading: &Reading, book: &Book) -> Result<ReadingEntryView, ApiError> {
    let progress = reading.progress.books.get(&book.id).ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "book {} was just listed but has no progress",
            book.id
        ))
    })?;
    Ok(entry_view(book, progress))
}

/// The id in a path or body, as a book the library holds, or a 404.
fn find_book(library: &Library, id: i64) -> Result<&Book, ApiError> {
    BookId::parse(id)
        .ok()
        .and_then(|id| library.get(id))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "There is no book with id {id} in the library; GET /api/v1/books lists them."
            ))
        })
}

fn reading_error(e: ReadingError, library: &Library) -> ApiError {
    let name = |id: BookId| {
        library
            .get(id)
            .map(|b| format!("{} (book {id})", b.title))
            .unwrap_or_else(|| format!("book {id}"))
    };
    match e {
        ReadingError::AlreadyListed(id) => ApiError::new(
            ProblemKind::AlreadyOnReadingList,
            format!(
                "{} is already on the reading list; update its progress with PATCH /api/v1/reading-list/{id}.",
                name(id)
            ),
        ),
        ReadingError::ListFull => ApiError::new(
            ProblemKind::ReadingListFull,
            format!(
                "The reading list already holds {MAX_LIST} books, the most it can; take one off first (DELETE /api/v1/reading-list/{{book_id}})."
            ),
        ),
        ReadingError::NotListed(id) => ApiError::not_found(format!(
            "{} is not on the reading list; add it first with POST /api/v1/reading-list.",
            name(id)
        )),
        ReadingError::Progress(problems) => ApiError::invalid_fields(
            problems
                .iter()
                .map(|p| FieldError {
                    field: p.field().into(),
                    message: p.to_string(),
                })
                .collect(),
        ),
        e @ ReadingError::TooManyGenres { .. } => ApiError::invalid_field("genres", e.to_string()),
    }
}

/// A book id in a path that names no book in the library, or a book not on
/// the reading list.
#[derive(IntoResponses)]
#[response(status = 404, description = "No book in the library has this id, or the book is not on the reading list", content_type = PROBLEM_JSON)]
struct NotOnList(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// The reading list, each book with its progress.
///
/// Books are in the order they were added: the oldest addition first, the
/// most recently added last. Signed in, it is the account's list, the same
/// on every device.
#[utoipa::path(get, path = "/reading-list", tag = "reading",
    responses(
        (status = 200, description = "The reading list (empty when the reader has none)", body = ReadingListView),
    ))]
async fn get_reading_list(
    State(state): State<AppState>,
    session: VisitorSession,
) -> Result<Json<ReadingListView>, ApiError> {
    let reading = session.reading().await?;
    Ok(Json(list_view(&reading, &state.library)))
}

/// Put a book on the reading list, at page 0 of chapter 1.
///
/// A book finished before can be added again to read it again; its history
/// entry stays. Refused additions leave the reader's data exactly as it was.
#[utoipa::path(post, path = "/reading-list", tag = "reading",
    request_body = AddBook,
    responses(
        (status = 201, description = "The book is on the list; its entry", body = ReadingEntryView,
            headers(("Location" = String, description = "The entry, /api/v1/reading-list/{book_id}"))),
        (status = 404, description = "No book in the library has this id", body = Problem, content_type = PROBLEM_JSON),
        (status = 409, description = "The book is already on the reading list (`/problems/already-on-reading-list`); or, signed in, another session of the account kept changing the reading list at the same time (`/problems/changed-in-another-session`: send it again)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "The list already holds 50 books (`/problems/reading-list-full`: take one off first); or an unknown field or a wrong type (`/problems/validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn add_to_reading_list(
    State(state): State<AppState>,
    session: VisitorSession,
    AppJson(body): AppJson<AddBook>,
) -> Result<Created<Json<ReadingEntryView>>, ApiError> {
    let library = &state.library;
    let book = find_book(library, body.book_id)?;
    let now = state.clock.now();
    let ((), reading) = session
        .change_reading(|reading| {
            reading
                .add(book, now)
                .map_err(|e| reading_error(e, library))
        })
        .await?;
    let entry = listed_entry(&reading, book)?;
    Created::at(&format!("/api/v1/reading-list/{}", book.id), Json(entry))
}

/// One book on the reading list, with how far the reader is in it: the
/// entry `POST /reading-list` answers with and points to (`Location`).
#[utoipa::path(get, path = "/reading-list/{book_id}", tag = "reading",
    params(("book_id" = i64, Path, description = "Book id", minimum = 1, maximum = 2_147_483_647, example = 7)),
    responses(
        (status = 200, description = "The book's entry on the reading list", body = ReadingEntryView),
        NotOnList,
    ))]
async fn get_reading_entry(
    State(state): State<AppState>,
    session: VisitorSession,
    AppPath(book_id): AppPath<BookId>,
) -> Result<Json<ReadingEntryView>, ApiError> {
    let library = &state.library;
    let book = find_book(library, book_id.into())?;
    let progress = session.reading_progress().await?;
    match progress.books.get(&book.id) {
        Some(p) => Ok(Json(entry_view(book, p))),
        None => Err(reading_error(ReadingError::NotListed(book.id), library)),
    }
}

/// Record how far the reader is in a listed book: `pages_read`,
/// `current_chapter`, or both.
///
/// Each value is checked against the book (pages from 0 to its
/// `total_pages`, chapters from 1 to its `chapters`) before anything
/// changes, and every value out of bounds is named in `errors`. A field
/// left out keeps its value; `null` is refused. Reaching the last page finishes the book: it leaves the list
/// for the history, and the answer says `"status": "finished"` with the
/// history entry instead of `"status": "reading"` with the list entry.
/// Two updates sent at once both land, one after the other.
#[utoipa::path(patch, path = "/reading-list/{book_id}", tag = "reading",
    params(("book_id" = i64, Path, description = "Book id", minimum = 1, maximum = 2_147_483_647, example = 7)),
    request_body = ProgressInput,
    responses(
        (status = 200, description = "The progress was recorded: `status` is `reading` with the list `entry`, or `finished` with the `history_entry`", body = ProgressView,
            examples(
                ("reading" = (summary = "Still reading", value = json!({"status": "reading", "entry": {
                    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker", "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27, "published_year": 1897, "language": "en", "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
                    "pages_read": 212, "percent": 50, "current_chapter": 14,
                    "started_at": "2026-11-20T19:00:00Z", "last_read_at": "2026-11-25T21:40:00Z"}}))),
                ("finished" = (summary = "The last page was reached", value = json!({"status": "finished", "history_entry": {
                    "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker", "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27, "published_year": 1897, "language": "en", "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
                    "outcome": "finished", "pages_read": 418, "total_pages": 418, "percent": 100, "current_chapter": 27,
                    "started_at": "2026-11-20T19:00:00Z", "finished_at": "2026-11-26T22:10:00Z", "abandoned_at": null}}))),
            )),
        NotOnList,
        (status = 422, description = "Neither field was sent, a value is outside the book's bounds (each one out of bounds is named, with its limit, e.g. `pages_read: must be from 0 to 418, the book's pages; got 500`), a value is `null`, an unknown field, or a wrong type: each is named in `errors`", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn update_progress(
    State(state): State<AppState>,
    session: VisitorSession,
    AppPath(book_id): AppPath<BookId>,
    AppJson(body): AppJson<ProgressInput>,
) -> Result<Json<ProgressView>, ApiError> {
    if body.pages_read.is_none() && body.current_chapter.is_none() {
        return Err(ApiError::invalid_fields(vec![
            FieldError {
                field: "pages_read".into(),
                message: "send pages_read, current_chapter, or both".into(),
            },
            FieldError {
                field: "current_chapter".into(),
                message: "send pages_read, current_chapter, or both".into(),
            },
        ]));
    }
    let library = &state.library;
    let book = find_book(library, book_id.into())?;
    let now = state.clock.now();
    let (outcome, _) = session
        .change_reading(|reading| {
            reading
                .update_progress(book, body.pages_read, body.current_chapter, now)
                .map_err(|e| reading_error(e, library))
        })
        .await?;
    Ok(Json(match outcome {
        ProgressOutcome::Reading(progress) => ProgressView::Reading {
            entry: entry_view(book, &progress),
        },
        ProgressOutcome::Finished(entry) => ProgressView::Finished {
            history_entry: history_view(book, &entry),
        },
    }))
}

/// What taking a book off the list answers.
enum Removed {
    Abandoned(Box<HistoryEntryView>),
    Left,
}

impl IntoResponse for Removed {
    fn into_response(self) -> Response {
        match self {
            Removed::Abandoned(entry) => Json(*entry).into_response(),
            Removed::Left => StatusCode::NO_CONTENT.into_response(),
        }
    }
}

/// Take a book off the reading list.
///
/// A book with pages read goes to the history as abandoned, with how far
/// the reader got: the answer is 200 with that history entry. A book never
/// started (0 pages read) just leaves: 204. A book of the library that is
/// not on the list (never added, or already taken off) is also a 204, and
/// nothing changes, so sending the same DELETE again is harmless; only an
/// id the library does not have is a 404.
#[utoipa::path(delete, path = "/reading-list/{book_id}", tag = "reading",
    params(("book_id" = i64, Path, description = "Book id", minimum = 1, maximum = 2_147_483_647, example = 7)),
    responses(
        (status = 200, description = "The book was abandoned: its history entry", body = HistoryEntryView,
            example = json!({
                "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker", "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27, "published_year": 1897, "language": "en", "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
                "outcome": "abandoned", "pages_read": 120, "total_pages": 418, "percent": 28, "current_chapter": 8,
                "started_at": "2026-11-20T19:00:00Z", "finished_at": null, "abandoned_at": "2026-11-26T22:10:00Z"})),
        (status = 204, description = "The book was never started and just left the list, or it was not on the list"),
        (status = 404, description = "No book in the library has this id", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn remove_from_reading_list(
    State(state): State<AppState>,
    session: VisitorSession,
    AppPath(book_id): AppPath<BookId>,
) -> Result<Removed, ApiError> {
    let library = &state.library;
    let book = find_book(library, book_id.into())?;
    let now = state.clock.now();
    let (entry, _) = session
        .change_reading(|reading| {
            if !reading.is_listed(book.id) {
                return Ok(None);
            }
            reading
                .remove(book, now)
                .map_err(|e| reading_error(e, library))
        })
        .await?;
    Ok(match entry {
        Some(entry) => Removed::Abandoned(Box::new(history_view(book, &entry))),
        None => Removed::Left,
    })
}

/// The reading history: finished and abandoned books, newest first, a page
/// at a time.
///
/// The most recent 500 entries are kept; older ones drop off. A book read
/// twice has an entry for each time.
#[utoipa::path(get, path = "/reading-history", tag = "reading",
    params(HistoryQuery),
    responses(
        (status = 200, description = "A page of the history", body = ReadingHistoryPage),
        (status = 400, description = "A query value of the wrong type, such as `page=first` (`/problems/malformed-request`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "`page` or `per_page` is out of range: each is named in `errors`", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn get_reading_history(
    State(state): State<AppState>,
    session: VisitorSession,
    AppQuery(query): AppQuery<HistoryQuery>,
) -> Result<Json<ReadingHistoryPage>, ApiError> {
    let (page, per_page) = query.parse()?;
    let history = session.reading_history().await?;
    let known: Vec<HistoryEntryView> = history
        .entries
        .iter()
        .filter_map(|e| {
            let Some(book) = state.library.get(e.book_id) else {
                tracing::warn!(book = %e.book_id, "a book in the history is not in the library; left out");
                return None;
            };
            Some(history_view(book, e))
        })
        .collect();
    let total = known.len() as u64;
    let skip = (page as usize - 1).saturating_mul(per_page as usize);
    let items = known
        .into_iter()
        .skip(skip)
        .take(per_page as usize)
        .collect();
    Ok(Json(ReadingHistoryPage {
        items,
        page,
        per_page,
        total,
    }))
}

/// The reader's favorite genres.
#[utoipa::path(get, path = "/reader/genres", tag = "reading",
    responses(
        (status = 200, description = "The favorite genres (an empty list when none are set)", body = GenresView),
    ))]
async fn get_genres(session: VisitorSession) -> Result<Json<GenresView>, ApiError> {
    let genres = session.favorite_genres().await?;
    Ok(Json(GenresView { genres: genres.0 }))
}

/// Replace the favorite genres: a list of up to 5 entries from the
/// vocabulary (fiction, mystery, science-fiction, fantasy, romance, history,
/// biography, science, philosophy, poetry, children, horror, adventure,
/// drama).
///
/// A repeat counts toward the 5 and is then dropped; the order is kept, and
/// an empty list clears them. A refused list leaves the genres as they were.
#[utoipa::path(put, path = "/reader/genres", tag = "reading",
    request_body = GenresInput,
    responses(
        (status = 200, description = "The favorite genres as kept", body = GenresView),
        (status = 422, description = "A word is not in the vocabulary (the message lists it), more than 5 entries (a repeat counts), an unknown field, or a wrong type: each is named in `errors`", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn put_genres(
    session: VisitorSession,
    AppJson(body): AppJson<GenresInput>,
) -> Result<Json<GenresView>, ApiError> {
    let mut checks = FieldChecks::default();
    let genres: Vec<Genre> = body
        .genres
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            checks.take(Genre::from_str(raw).map_err(|mut e| {
                e.field = format!("genres[{i}]");
                e
            }))
        })
        .collect();
    checks.finish()?;
    let ((), reading) = session
        .change_reading(|reading| {
            reading
                .set_genres(genres.clone())
                .map_err(|e| ApiError::invalid_field("genres", e.to_string()))
        })
        .await?;
    Ok(Json(GenresView {
        genres: reading.genres.0,
    }))
}
