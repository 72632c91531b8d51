//! Visits: `POST /visits` records one and greets the visitor.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use domain::visits::Visits;

use crate::cookies::{AppCookies, VISIT_SUMMARY};
use crate::responses::WithCookies;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;
use crate::views::{CurrentReading, SUMMARY_COOKIE_DOC, VisitSummary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(record_visit))
}

/// The welcome after a visit is recorded.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "returning": true, "visit_count": 4, "last_visit": "2026-11-20T19:04:11Z",
    "name": "Ada", "favorite_dish": "Pad Thai",
    "reading": {"book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
            "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
            "published_year": 1897, "language": "en",
            "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
        "pages_read": 212, "percent": 50, "current_chapter": 14,
        "last_activity_at": "2026-11-25T21:02:00Z", "from_last_visit": true}
}))]
pub struct Welcome {
    /// Whether the visitor had been here before this visit.
    pub returning: bool,
    /// Visits so far, this one included.
    pub visit_count: u32,
    /// When the visitor was here before this visit; null on a first visit.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_visit: Option<OffsetDateTime>,
    /// From the profile (or the last goodbye's summary), or null.
    pub name: Option<String>,
    /// From the profile, or null.
    pub favorite_dish: Option<String>,
    /// The book to offer: "Welcome back, continue Dracula at page 212?".
    /// The most recently read book on the reading list; or, for a new
    /// session with an empty list, the book the last goodbye kept
    /// (`from_last_visit: true`, not on the list until added again) unless
    /// it was finished or taken off since; or null.
    pub reading: Option<CurrentReading>,
}

/// Record a visit: the visit count goes up by one and the time is remembered.
/// A new session of a browser that said goodbye (see `DELETE /session`)
/// continues from its `last_visit_summary` cookie, which also offers back
/// the book the reader was in the middle of (`reading.from_last_visit`).
#[utoipa::path(post, path = "/visits", tag = "visits",
    params(("last_visit_summary" = Option<String>, Cookie, description = SUMMARY_COOKIE_DOC)),
    responses(
        (status = 200, description = "The visit is recorded", body = Welcome),
    ))]
async fn record_visit(
    State(state): State<AppState>,
    session: VisitorSession,
    cookies: AppCookies,
) -> WithCookies<Json<Welcome>> {
    WithCookies::run(cookies, async |cookies| {
        let mut visits = session.visits().await?;
        let mut summary_name = None;
        let mut summary_book = None;
        // A new session of a browser that said goodbye continues its count.
        let summary = if visits.returning() {
            None
        } else {
            cookies.read::<VisitSummary>(&VISIT_SUMMARY).map(|(s, _)| s)
        };
        if let Some(summary) = summary {
            visits = Visits {
                count: summary.visit_count,
                last_visit: Some(summary.date),
            };
            summary_name = summary.name;
            summary_book = summary.last_book;
        }
        let before = visits.record(state.clock.now());
        session.set_visits(&visits).await?;
        let profile = session.profile().await?;
        let reading = session.reading().await?;
        Ok(Json(Welcome {
            reading: CurrentReading::offer(&state.library, &reading, summary_book.as_ref()),
            returning: before.returning(),
            visit_count: visits.count,
            last_visit: before.last_visit,
            name: profile
                .as_ref()
                .map(|p| p.name.as_str().to_owned())
                .or(summary_name),
            favorite_dish: profile
                .as_ref()
                .and_then(|p| p.favorite_dish.as_ref())
                .map(|f| f.as_str().to_owned()),
        }))
    })
    .await
}
