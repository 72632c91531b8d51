//! The library: `GET /books`, `GET /books/{id}`. Public and cacheable, like the menu.
//!
//! These answers depend on the library alone, never on the visitor, so they
//! are served outside the session layer, with `Cache-Control: public` (set
//! where the router is built, as for the menu) and the library's version as
//! their `ETag`: a client that holds it gets a bodiless 304.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use domain::BookId;
use domain::library::{Book, Genre};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::db::library::no_such_book;
use crate::error::{ApiError, FieldError, PROBLEM_JSON, Problem};
use crate::extract::{AppPath, AppQuery};
use crate::openapi::NoSuchBook;
use crate::paging::parse_paging;
use crate::responses::Versioned;
use crate::state::AppState;
use crate::views::BookView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_books))
        .routes(routes!(get_book))
}

/// One page of books.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "items": [{
        "id": 7, "title": "Dracula", "author": "Bram Stoker",
        "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
        "published_year": 1897, "language": "en",
        "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."
    }],
    "page": 1, "per_page": 20, "total": 1
}))]
pub struct BookPage {
    pub items: Vec<BookView>,
    pub page: u32,
    pub per_page: u32,
    /// How many books match the filters in all.
    pub total: u64,
}

/// The longest `author` or `q`, in characters as sent; the spec's
/// `maxLength` gives the same.
const MAX_TEXT_CHARS: usize = 100;
/// The last page one can ask for, as for the menu; the spec gives the same
/// maximum.
const MAX_PAGE: u32 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BookQuery {
    /// Only books of any of these genres, comma-separated (fiction, mystery,
    /// science-fiction, fantasy, romance, history, biography, science,
    /// philosophy, poetry, children, horror, adventure, drama; case is ignored).
    #[param(inline, value_type = Option<crate::openapi::GenreList>, style = Form, explode = false, example = json!(["mystery", "horror"]))]
    genre: Option<String>,
    /// Only books whose author's name contains this text, ignoring case and
    /// surrounding spaces (at most 100 characters): `christie` finds Agatha
    /// Christie's books.
    #[param(max_length = 100, example = "christie")]
    author: Option<String>,
    /// Only books whose title or author contains this text, ignoring case
    /// and surrounding spaces (at most 100 characters).
    #[param(max_length = 100, example = "sherlock")]
    q: Option<String>,
    /// Page number, 1 to 10000 (a page past the last is empty).
    #[param(minimum = 1, maximum = 10_000, default = 1, example = 1)]
    page: Option<i64>,
    /// Books per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20, example = 20)]
    per_page: Option<i64>,
}

/// The filters a book query asks for; texts lower-cased and trimmed.
struct Filter {
    /// Empty for any genre.
    genres: BTreeSet<Genre>,
    author: Option<String>,
    q: Option<String>,
}

impl Filter {
    fn matches(&self, book: &Book) -> bool {
        let author = book.author.to_lowercase();
        (self.genres.is_empty() || !self.genres.is_disjoint(&book.genres))
            && self.author.as_ref().is_none_or(|a| author.contains(a))
            && self
                .q
                .as_ref()
                .is_none_or(|q| author.contains(q) || book.title.to_lowercase().contains(q))
    }
}

/// Reads `genre=a,b`: every entry a word of the vocabulary (an empty entry,
/// as in `genre=` or `mystery,,horror`, is refused like an unknown word).
fn parse_genres(list: &str) -> Result<BTreeSet<Genre>, String> {
    list.split(',')
        .map(|word| {
            if word.trim().is_empty() {
                Err(format!(
                    "an entry is empty; each must be one of: {}",
                    Genre::choices()
                ))
            } else {
                word.parse::<Genre>().map_err(|e| e.message)
            }
        })
        .collect()
}

impl BookQuery {
    fn parse(&self) -> Result<(Filter, u32, u32), ApiError> {
        let mut errors = Vec::new();
        let genres = match self.genre.as_deref() {
            None => BTreeSet::new(),
            Some(list) => parse_genres(list).unwrap_or_else(|message| {
                errors.push(FieldError {
                    field: "genre".into(),
                    message,
                });
                BTreeSet::new()
            }),
        };
        // Counted as sent, before trimming and lower-casing, as the spec's
        // maxLength counts.
        let mut text = |field: &str, value: Option<&str>| {
            if value.is_some_and(|v| v.chars().count() > MAX_TEXT_CHARS) {
                errors.push(FieldError {
                    field: field.into(),
                    message: format!("at most {MAX_TEXT_CHARS} characters"),
                });
            }
            value
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_lowercase)
        };
        let author = text("author", self.author.as_deref());
        let q = text("q", self.q.as_deref());
        let (page, per_page) = parse_paging(self.page, self.per_page, MAX_PAGE, &mut errors);
        if errors.is_empty() {
            Ok((Filter { genres, author, q }, page, per_page))
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }
}

/// The request header both library reads answer 304 to.
const IF_NONE_MATCH_DOC: &str = "An `ETag` from an earlier answer: while the library keeps that version, the answer is a 304 without a body.";

/// The 304 of both library reads (see [`Versioned`]).
#[derive(IntoResponses)]
#[response(status = 304, description = "The library has not changed since the version named in If-None-Match",
    headers(("ETag" = String, description = "The library's version")))]
struct NotModified;

/// List the library's books by id, a page at a time, optionally filtered by
/// genre (any of several), author and a text found in the title or author.
/// Every filter ignores case; given together, a book must match them all.
#[utoipa::path(get, path = "/books", tag = "books",
    params(BookQuery, ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH_DOC)),
    responses(
        (status = 200, description = "A page of books", body = BookPage, headers(
            ("ETag" = String, description = "The library's version"),
            ("Cache-Control" = String, description = "`public, max-age=N`: the same for every visitor"),
        )),
        NotModified,
        (status = 422, description = "A genre not in the vocabulary (the detail lists it), an `author` or `q` over 100 characters, or paging out of bounds", body = Problem, content_type = PROBLEM_JSON,
            example = json!({
                "type": "/problems/validation-failed", "title": "Validation failed", "status": 422,
                "detail": "genre: `cookery` is not one of: fiction, mystery, science-fiction, fantasy, romance, history, biography, science, philosophy, poetry, children, horror, adventure, drama",
                "errors": [{"field": "genre", "message": "`cookery` is not one of: fiction, mystery, science-fiction, fantasy, romance, history, biography, science, philosophy, poetry, children, horror, adventure, drama"}]
            })),
        (status = 400, description = "A query value of the wrong type, such as `page=first`", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn list_books(
    State(state): State<AppState>,
    request: HeaderMap,
    AppQuery(query): AppQuery<BookQuery>,
) -> Result<Versioned<Json<BookPage>>, ApiError> {
    let (filter, page, per_page) = query.parse()?;
    let library = &state.library;
    Ok(Versioned::new(library.version(), &request, || {
        let skip = (page as usize - 1).saturating_mul(per_page as usize);
        let matching: Vec<&Book> = library
            .books()
            .iter()
            .filter(|b| filter.matches(b))
            .collect();
        let total = matching.len() as u64;
        let items = matching
            .into_iter()
            .skip(skip)
            .take(per_page as usize)
            .map(BookView::from)
            .collect();
        Json(BookPage {
            items,
            page,
            per_page,
            total,
        })
    }))
}

/// One book.
#[utoipa::path(get, path = "/books/{id}", tag = "books",
    params(("id" = i64, Path, description = "Book id", minimum = 1, maximum = 2_147_483_647, example = 7), ("If-None-Match" = Option<String>, Header, description = IF_NONE_MATCH_DOC)),
    responses(
        (status = 200, description = "The book", body = BookView, headers(
            ("ETag" = String, description = "The library's version"),
            ("Cache-Control" = String, description = "`public, max-age=N`: the same for every visitor"),
        )),
        NotModified,
        NoSuchBook,
        (status = 400, description = "An id that is not an integer from 1 to 2147483647", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn get_book(
    State(state): State<AppState>,
    request: HeaderMap,
    AppPath(id): AppPath<BookId>,
) -> Result<Versioned<Json<BookView>>, ApiError> {
    let library = &state.library;
    let book = library.get(id).ok_or_else(|| no_such_book(id))?;
    Ok(Versioned::new(library.version(), &request, || {
        Json(BookView::from(book))
    }))
}
