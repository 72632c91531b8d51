//! Book recommendations from the reader's history, list and favorite genres:
//! `GET /recommendations/books`. A read: it never writes the session, so a
//! new visitor asking gets starters and no session cookie.

use axum::Json;
use axum::extract::State;
use domain::book_recommend::{all_starters, recommend_books};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::AppQuery;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;
use crate::views::BookView;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_book_recommendations))
}

/// How many books one answer holds when `limit` is absent.
pub const DEFAULT_LIMIT: i64 = 10;
/// The most books one answer holds.
pub const MAX_LIMIT: i64 = 50;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RecommendationQuery {
    /// How many books at most, 1 to 50.
    #[param(minimum = 1, maximum = 50, default = 10, example = 10)]
    limit: Option<i64>,
}

/// A recommended book and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecommendedBook {
    pub book: BookView,
    /// Points, higher first: a finished book gives 1000 to each book sharing
    /// one of its genres (once per shared genre) and 1500 more to the same
    /// author's; a book in progress gives the same times the share read; an
    /// abandoned one takes away the same times the share left unread; each
    /// favorite genre of the book adds 2000. A first pick (see `starter`)
    /// scores 0.
    #[schema(example = 2500)]
    pub score: i64,
    /// In plain words, most telling first. "You have read X before" only
    /// when the reader finished a book by X or read at least a quarter of
    /// one; a book only begun does not make an author read.
    #[schema(example = json!(["Because you finished The Murder of Roger Ackroyd", "You like mystery", "You have read Agatha Christie before"]))]
    pub reasons: Vec<String>,
}

/// Books for this reader, best first.
#[derive(Debug, Serialize, ToSchema)]
pub struct BookRecommendations {
    /// Books not on the reading list and never finished. First those the
    /// reader's books and favorite genres speak for (score above 0, highest
    /// first, equal scores by book id), then first picks across the genres
    /// ("A first pick from the poetry shelf", score 0) up to `limit`. Books
    /// whose genre or author the reader abandoned (score below 0) are left out.
    pub items: Vec<RecommendedBook>,
    /// True when every item is a first pick (no item scores above 0; also
    /// when there are no items): the reader has nothing to learn from yet,
    /// or nothing they read speaks for a book so far (a listed book not yet
    /// opened). The picks go one per genre before a second of any, oldest
    /// book first.
    pub starter: bool,
}

/// Books to read next, ranked from the reader's history (a finished book
/// counts fully, one in progress by how far the reader got, an abandoned one
/// against its genres and author), favorite genres and authors read before,
/// each with its reasons. A reader with nothing to go on gets a varied
/// starter set across genres.
///
/// Reading it changes nothing: a visitor without a session gets the starter
/// set and no session cookie.
#[utoipa::path(get, path = "/recommendations/books", tag = "reading",
    params(RecommendationQuery),
    responses(
        (status = 200, description = "Up to `limit` books, best first", body = BookRecommendations,
            examples(
                ("learned" = (summary = "From a finished mystery and a favorite genre", value = json!({
                    "items": [{
                        "book": {"id": 12, "title": "Murder on the Orient Express", "author": "Agatha Christie", "genres": ["mystery"], "total_pages": 256, "chapters": 26, "published_year": 1934, "language": "en", "description": "A murder on a snowbound train, and a detective with twelve suspects."},
                        "score": 4500,
                        "reasons": ["Because you finished The Murder of Roger Ackroyd", "You like mystery", "You have read Agatha Christie before"]
                    }],
                    "starter": false
                }))),
                ("starter" = (summary = "A new reader: first picks across genres", value = json!({
                    "items": [{
                        "book": {"id": 7, "title": "Dracula", "author": "Bram Stoker", "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27, "published_year": 1897, "language": "en", "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
                        "score": 0,
                        "reasons": ["A first pick from the horror shelf"]
                    }],
                    "starter": true
                }))),
            )),
        (status = 422, description = "`limit` is outside 1 to 50 (`/problems/validation-failed`)", body = Problem, content_type = PROBLEM_JSON),
        (status = 400, description = "`limit` is not an integer (`/problems/malformed-request`)", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn get_book_recommendations(
    State(state): State<AppState>,
    session: VisitorSession,
    AppQuery(query): AppQuery<RecommendationQuery>,
) -> Result<Json<BookRecommendations>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}; got {limit}"),
        ));
    }
    let limit = usize::try_from(limit).map_err(ApiError::internal)?;
    let reading = session.reading().await?;
    let library = &state.library;
    let recs = recommend_books(library.books(), &reading, limit);
    let starter = all_starters(&recs);
    let items = recs
        .into_iter()
        .filter_map(|r| {
            Some(RecommendedBook {
                book: BookView::from(library.get(r.book_id)?),
                score: r.score,
                reasons: r.reasons.iter().map(|reason| reason.describe()).collect(),
            })
        })
        .collect();
    Ok(Json(BookRecommendations { items, starter }))
}
