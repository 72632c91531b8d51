//! The state of the visitor's session: `GET /session`.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::logins;
use crate::clock::to_the_second;
use crate::cookies::{AppCookies, VISIT_SUMMARY};
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::responses::WithCookies;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;
use crate::views::{CurrentReading, LastBook, ProfileView, VisitSummary};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_session, end_session))
}

/// Say goodbye: the server-side session is destroyed (its record deleted
/// from the store, the session cookie removed) and a signed summary of the
/// visit stays in the browser for 30 days, so the next visit continues the
/// count and offers back the book the reader was in the middle of (its id,
/// page, chapter and last activity). With nothing on the list, the book an
/// earlier goodbye kept is kept again, unless the reader finished or took it
/// off since. Preferences, reading settings,
/// loyalty and VIP cookies are kept.
#[utoipa::path(delete, path = "/session", tag = "session",
    responses(
        (status = 200, description = "Goodbye; the summary left in the browser", body = VisitSummary,
            headers(("Set-Cookie" = String, description = "Removes the session cookie; sets `last_visit_summary`"))),
        (status = 503, description = "The session store is unreachable; nothing was destroyed", body = Problem, content_type = PROBLEM_JSON),
    ))]
async fn end_session(
    State(state): State<AppState>,
    session: VisitorSession,
    cookies: AppCookies,
) -> WithCookies<Json<VisitSummary>> {
    WithCookies::run(cookies, async |cookies| {
        say_goodbye(&state, &session, cookies).await.map(Json)
    })
    .await
}

/// Ends the visitor's session (signing it out first, if signed in) and
/// leaves the signed summary of the visit in the browser: for
/// `DELETE /session` and `POST /auth/logout` alike.
pub(crate) async fn say_goodbye(
    state: &AppState,
    session: &VisitorSession,
    cookies: &mut AppCookies,
) -> Result<VisitSummary, ApiError> {
    let visits = session.visits().await?;
    let profile = session.profile().await?;
    let reading = session.reading().await?;
    // The book the reader is in the middle of; with nothing on the list,
    // the one an earlier goodbye kept, so a visit spent without reading does
    // not lose it: unless the reader finished or took it off since, as the
    // page kept would then be stale.
    let last_book = LastBook::of(&reading).or_else(|| {
        if reading.listed_ids().next().is_some() {
            return None;
        }
        let earlier = cookies.read::<VisitSummary>(&VISIT_SUMMARY)?.0.last_book?;
        earlier.still_current(&reading).then_some(earlier)
    });
    if session.sign_in().await?.is_some() {
        logins::end(state, session).await?;
    }
    session.close(state).await?;
    let summary = VisitSummary {
        name: profile.map(|p| p.name.as_str().to_owned()),
        visit_count: visits.count,
        date: state.clock.now(),
        last_book,
    };
    cookies.write(&VISIT_SUMMARY, &summary)?;
    Ok(summary)
}

/// What the session knows, without changing it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "returning": true, "visit_count": 3, "last_visit": "2026-11-25T18:30:00Z",
    "profile": {"name": "Ada", "favorite_dish": "Pad Thai", "dietary_restrictions": ["vegan"], "spice_level": "hot", "created_at": "2026-11-20T18:00:00Z"},
    "cart_item_count": 2, "expires_at": "2026-12-09T18:30:00Z",
    "reading": {"book": {"id": 7, "title": "Dracula", "author": "Bram Stoker",
            "genres": ["fiction", "horror"], "total_pages": 418, "chapters": 27,
            "published_year": 1897, "language": "en",
            "description": "Jonathan Harker's journey to Transylvania, and what follows him back to England."},
        "pages_read": 212, "percent": 50, "current_chapter": 14,
        "last_activity_at": "2026-11-25T21:02:00Z", "from_last_visit": false}
}))]
pub struct SessionState {
    /// Whether the visitor has recorded a visit before.
    pub returning: bool,
    pub visit_count: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_visit: Option<OffsetDateTime>,
    pub profile: Option<ProfileView>,
    /// Items in the cart, all lines counted.
    pub cart_item_count: u32,
    /// When the session ends unless the visitor comes back first; null when
    /// nothing is stored for this visitor. Anonymous: the stored record's
    /// expiry, which only a change moves. Signed in: the earlier of the
    /// idle and absolute ends, as `GET /auth/me` gives them; any request,
    /// this one too, starts the idle time again (recorded at most once a
    /// minute, so it may show up to a minute early).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// The book the reader is in the middle of: the most recently read one
    /// on the reading list, or null (this never reads the goodbye summary:
    /// `from_last_visit` is always false here).
    pub reading: Option<CurrentReading>,
}

/// The state of the session. Signed in, the profile and the cart are the
/// account's. Reading changes nothing of an anonymous session. A signed-in
/// session is checked here as at every request that uses the session: the
/// read counts as activity
/// (the idle time starts again), and a session past its idle or absolute
/// limit (or, with IP binding on, used from another address) is ended
/// here, and shows as the anonymous, empty session it now is.
#[utoipa::path(get, path = "/session", tag = "session",
    responses(
        (status = 200, description = "The session's state", body = SessionState),
    ))]
async fn get_session(
    State(state): State<AppState>,
    session: VisitorSession,
) -> Result<Json<SessionState>, ApiError> {
    let visits = session.visits().await?;
    let profile = session.profile().await?;
    let cart = session.cart().await?;
    let reading = session.reading().await?;
    let signed_in = match session.user_id() {
        Some(_) => logins::times(&state, &session).await?,
        None => None,
    };
    let expires_at = match signed_in {
        Some(times) => Some(times.idle_ends_at.min(times.absolute_ends_at)),
        // The stored record's expiry, not the one a save now would give it.
        None => session.stored_expiry(&state.sessions).await?,
    }
    .map(to_the_second);
    Ok(Json(SessionState {
        returning: visits.returning(),
        visit_count: visits.count,
        last_visit: visits.last_visit,
        profile: profile.as_ref().map(ProfileView::from),
        cart_item_count: cart.item_count(),
        expires_at,
        reading: CurrentReading::from_session(&state.library, &reading),
    }))
}
