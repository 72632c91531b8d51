//! What the service keeps about the visitor, in one place: `GET /privacy`
//! (every cookie of this API the browser holds, and what the session and
//! the account hold), `GET /privacy/export` (the same with the values, as
//! one JSON document: GDPR article 15 and 20) and `DELETE /privacy`
//! (forget-me, article 17).
//!
//! The cookies are described by their definitions in `cookies.rs`, the
//! ones the README's cookie table is made from. Forget-me reuses what ends
//! sessions elsewhere: `logins::end_others` ends the account's sessions on
//! other devices (their records deleted from the store) and
//! `VisitorSession::close` the request's own, as at sign-out; unlike a
//! goodbye it leaves no visit summary. The old id keeps only the 30-second
//! marker every ended session leaves (`session/renew.rs`): it holds nothing
//! of the visitor's, and makes a change that was waiting for its turn on
//! this session answer 409 rather than start a new session holding what
//! the visitor just asked to be forgotten; forget-me itself, sent again
//! with that cookie, takes it as done (204).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use domain::Cart;
use domain::library::Genre;
use domain::profile::Profile;
use domain::reading::{Outcome, Reading};
use domain::visits::Visits;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::logins::{self, Login};
use crate::auth::{self, CurrentUser, MaybeUser, Role, SignInState};
use crate::cookies::{AppCookies, Category, ISSUED, Inspected, SESSION_COOKIE, Seal};
use crate::db::entities::user;
use crate::db::library::Library;
use crate::db::orders::{self, Owner};
use crate::db::privacy;
use crate::error::{ApiError, PROBLEM_JSON, Problem};
use crate::extract::AppJson;
use crate::openapi;
use crate::responses::WithCookies;
use crate::session::renew::EndedIsDone;
use crate::session::visitor::VisitorSession;
use crate::state::AppState;
use crate::views::{OrderView, ProfileView};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_privacy, forget_me))
        .routes(routes!(export))
}

/// The name the export is saved under.
const EXPORT_FILE: &str = "attachment; filename=\"kitchen-memory-data.json\"";

/// One cookie of this API that the browser sent.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "name": "preferences", "purpose": "Your display preferences: preferred cuisine, theme, font size, reduced motion.",
    "category": "functional", "protection": "encrypted", "verified": true, "problem": null,
    "issued_at": "2026-11-25T18:30:00Z", "expires_at": "2027-11-25T18:30:00Z",
    "holds": {"preferred_cuisine": "italian", "theme": "dark", "font_size": "large", "reduced_motion": false}
}))]
pub struct HeldCookie {
    pub name: String,
    /// What it is for.
    pub purpose: &'static str,
    pub category: Category,
    /// `signed`: readable but tamper-proof; `encrypted`: neither readable
    /// nor changeable by the browser.
    pub protection: Seal,
    /// Whether it verified: made by this service (its signature or
    /// encryption checks out, and it is the cookie it says it is) and not
    /// expired. Every other call ignores one that did not (and removes it).
    pub verified: bool,
    /// Why it did not verify (tampered, truncated, made for another cookie
    /// or with an unknown key, expired, ...); null when it did.
    pub problem: Option<&'static str>,
    /// When it was issued, as sealed inside it; null for the session cookie
    /// and for one that did not verify.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub issued_at: Option<OffsetDateTime>,
    /// When the server stops accepting it, whatever the browser does; for
    /// the session cookie, when the store forgets its session (null when
    /// none is stored).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// What it holds, decoded; null for the session cookie (its value is
    /// the session's id, which is never shown) and for one that did not
    /// verify.
    #[schema(value_type = Option<Object>)]
    pub holds: Option<serde_json::Value>,
}

/// A kind of data the session or the account holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DataCategory {
    Cart,
    Profile,
    Visits,
    Orders,
    ReadingList,
    ReadingHistory,
    FavoriteGenres,
    SignIn,
    ActiveSessions,
    EndedSessions,
}

impl DataCategory {
    fn about(self) -> &'static str {
        match self {
            DataCategory::Cart => "The dishes in your cart and how many of each (cart lines).",
            DataCategory::Profile => {
                "Your customer profile: name, favorite dish, dietary restrictions, spice level."
            }
            DataCategory::Visits => "How many times you visited, and when last.",
            DataCategory::Orders => {
                "Your orders: the dishes, prices, special requests, status and time."
            }
            DataCategory::ReadingList => {
                "The books on your reading list, and how far you are in each (books)."
            }
            DataCategory::ReadingHistory => {
                "The books you finished or put down, and how far you got (entries)."
            }
            DataCategory::FavoriteGenres => "Your favorite genres.",
            DataCategory::SignIn => {
                "Which account this session is signed in to, and until when at most."
            }
            DataCategory::ActiveSessions => {
                "Your signed-in sessions on every device: when each signed in and was last used, its IP address and browser."
            }
            DataCategory::EndedSessions => {
                "Your sign-ins that reached their idle or absolute limit, kept until their next request or the clean-up: when each signed in and was last used, its IP address and browser."
            }
        }
    }
}

const KEPT_IN_SESSION: &str = "With the session, until `session.kept_until`; sooner when you say goodbye (DELETE /api/v1/session), sign out or are forgotten (DELETE /api/v1/privacy).";
const KEPT_IN_ACCOUNT: &str =
    "With your account, on every device, until you erase it (DELETE /api/v1/privacy).";
const KEPT_ORDERS: &str = "Orders are kept for the restaurant's books; forget-me (DELETE /api/v1/privacy) unlinks them from you and clears their special requests.";
const KEPT_SESSIONS: &str = "Each until it ends: sign-out, its idle or absolute limit, ended from another of your sessions, or forget-me.";
const KEPT_ENDED_SESSIONS: &str = "Each until its session's next request, or until its session record is gone from the store (an hour past its absolute limit), or forget-me.";

/// What is held of one kind of data.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"category": "cart", "count": 2,
    "about": "The dishes in your cart and how many of each (cart lines).",
    "kept": "With the session, until `session.kept_until`; sooner when you say goodbye (DELETE /api/v1/session), sign out or are forgotten (DELETE /api/v1/privacy)."}))]
pub struct DataHeld {
    pub category: DataCategory,
    /// How many: cart lines, visits, orders, books, history entries,
    /// genres, sessions; 1 for a profile or a sign-in.
    pub count: u64,
    /// What it is.
    pub about: &'static str,
    /// How long it is kept.
    pub kept: &'static str,
}

impl DataHeld {
    fn new(category: DataCategory, count: u64, kept: &'static str) -> Self {
        DataHeld {
            category,
            count,
            about: category.about(),
            kept,
        }
    }
}

/// What the session store holds for this browser.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SessionHeld {
    /// Whether the store holds a session for this browser.
    pub stored: bool,
    /// Until when the store keeps it unless the session changes again:
    /// anonymous, `SESSION_COOKIE_AGE` (two weeks) after its last change;
    /// signed in, an hour past the sign-in's absolute limit. Null when
    /// nothing is stored.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub kept_until: Option<OffsetDateTime>,
    /// What it holds, by kind; kinds with nothing in them are left out.
    /// Signed in, the cart, profile and reading are the account's (see
    /// `account`), not the session's.
    pub holds: Vec<DataHeld>,
}

/// The signed-in account and what it holds.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountHeld {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<OffsetDateTime>,
    /// What it holds, by kind; kinds with nothing in them are left out.
    /// The account itself (username, display name, password hash, times)
    /// is kept until you erase it.
    pub holds: Vec<DataHeld>,
}

/// Everything the service keeps about this visitor, by kind.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "cookies": [
        {"name": "km_session", "purpose": "Your session: a random id, signed, naming what the server keeps for you (cart, profile, visits, orders, reading list) and whether you are signed in.",
            "category": "strictly-necessary", "protection": "signed", "verified": true, "problem": null,
            "issued_at": null, "expires_at": "2026-12-09T18:30:00Z", "holds": null},
        {"name": "loyalty", "purpose": "The total this browser has spent here, which sets your loyalty level; re-issued at each order.",
            "category": "functional", "protection": "signed", "verified": false,
            "problem": "signature or encryption does not verify (tampered, truncated, another purpose, or an unknown key)",
            "issued_at": null, "expires_at": null, "holds": null}
    ],
    "session": {"stored": true, "kept_until": "2026-12-09T18:30:00Z", "holds": [
        {"category": "cart", "count": 2, "about": "The dishes in your cart and how many of each (cart lines).",
            "kept": "With the session, until `session.kept_until`; sooner when you say goodbye (DELETE /api/v1/session), sign out or are forgotten (DELETE /api/v1/privacy)."},
        {"category": "visits", "count": 3, "about": "How many times you visited, and when last.",
            "kept": "With the session, until `session.kept_until`; sooner when you say goodbye (DELETE /api/v1/session), sign out or are forgotten (DELETE /api/v1/privacy)."}
    ]},
    "account": null
}))]
pub struct PrivacyView {
    /// The cookies of this API the browser sent, the session cookie first.
    pub cookies: Vec<HeldCookie>,
    pub session: SessionHeld,
    /// Null when not signed in.
    pub account: Option<AccountHeld>,
}

/// A cart line, as exported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedCartLine {
    pub product_id: i64,
    /// The dish's name on the menu now; null when it is gone from the menu.
    pub name: Option<String>,
    pub quantity: u32,
}

/// The visit count, as exported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedVisits {
    pub count: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_visit: Option<OffsetDateTime>,
}

/// A book on the reading list, as exported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedListedBook {
    pub book_id: i64,
    /// Null when the library no longer has the book.
    pub title: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub added_at: OffsetDateTime,
    pub pages_read: u32,
    pub current_chapter: u32,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_read_at: Option<OffsetDateTime>,
}

/// A reading history entry, as exported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedHistoryEntry {
    pub book_id: i64,
    /// Null when the library no longer has the book.
    pub title: Option<String>,
    #[schema(schema_with = openapi::word::<Outcome>)]
    pub outcome: Outcome,
    pub pages_read: u32,
    pub total_pages: u32,
    pub current_chapter: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// When it was finished or put down.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ended_at: OffsetDateTime,
}

/// The reader's data, as exported.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedReading {
    pub list: Vec<ExportedListedBook>,
    /// Newest first.
    pub history: Vec<ExportedHistoryEntry>,
    #[schema(schema_with = openapi::words::<Genre>)]
    pub favorite_genres: Vec<Genre>,
}

/// What the session holds, with its values.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedSession {
    /// As in `GET /api/v1/privacy`.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub kept_until: Option<OffsetDateTime>,
    pub cart: Vec<ExportedCartLine>,
    pub profile: Option<ProfileView>,
    pub visits: ExportedVisits,
    /// The orders this session remembers (an anonymous visitor's), newest
    /// first.
    pub orders: Vec<OrderView>,
    pub reading: ExportedReading,
}

/// One of the account's signed-in sessions, as exported (it names no
/// session id nor handle).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedSignIn {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_seen_at: OffsetDateTime,
    pub client_ip: String,
    pub user_agent: Option<String>,
    pub remember_me: bool,
    /// Whether it is the session that made the export.
    pub current: bool,
    /// False for a sign-in past its idle or absolute limit: it ends at its
    /// next request, and is kept until then (see `ended-sessions`).
    pub active: bool,
}

/// What the account holds, with its values (never its password hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct ExportedAccount {
    pub username: String,
    pub display_name: String,
    pub role: Role,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_login_at: Option<OffsetDateTime>,
    pub cart: Vec<ExportedCartLine>,
    pub profile: Option<ProfileView>,
    /// Every order of the account, newest first.
    pub orders: Vec<OrderView>,
    pub reading: ExportedReading,
    pub sessions: Vec<ExportedSignIn>,
}

/// Everything the service keeps about this visitor, with the values.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "exported_at": "2026-11-25T18:30:00Z",
    "cookies": [{"name": "vip", "purpose": "Your VIP membership: since when, your points and your standing special requests.",
        "category": "functional", "protection": "signed", "verified": true, "problem": null,
        "issued_at": "2026-11-20T18:00:00Z", "expires_at": "2027-11-20T18:00:00Z",
        "holds": {"status": "active", "member_since": "2026-11-20", "points": 25, "special_requests": ["gluten-free"]}}],
    "session": {"kept_until": "2026-12-09T18:30:00Z",
        "cart": [{"product_id": 1, "name": "Margherita Pizza", "quantity": 2}],
        "profile": null, "visits": {"count": 3, "last_visit": "2026-11-25T18:29:00Z"},
        "orders": [], "reading": {"list": [], "history": [], "favorite_genres": []}},
    "account": null
}))]
pub struct PrivacyExport {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub exported_at: OffsetDateTime,
    /// As in `GET /api/v1/privacy`.
    pub cookies: Vec<HeldCookie>,
    pub session: ExportedSession,
    /// Null when not signed in.
    pub account: Option<ExportedAccount>,
}

/// Forget-me's confirmation.
#[derive(Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"password": "plum orbit candle seventy"}))]
pub struct ForgetMe {
    /// Signed in: the account's current password, to confirm that the
    /// account is to be erased (required). Not signed in: ignored.
    pub password: Option<String>,
}

// The password never reaches a log, also through `{:?}`.
impl std::fmt::Debug for ForgetMe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ForgetMe")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Forget-me's refusals of the password.
#[derive(IntoResponses)]
#[response(status = 422, description = "Signed in: the `password` is missing or is not the account's current one; or the body is not the expected object (each field named in `errors`). Nothing was erased", content_type = PROBLEM_JSON)]
struct PasswordRefused(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// Too many attempts at the account's password.
#[derive(IntoResponses)]
#[response(status = 429, description = "Signed in: too many attempts at this account's password (they count with the sign-in attempts for its username). Or, sent without a session cookie, this client IP started too many sessions (NEW_SESSION_LIMIT_PER_IP). Nothing was erased; `Retry-After` says when to try again", content_type = PROBLEM_JSON,
    headers(("Retry-After" = u64, description = "Seconds to wait")))]
struct TooManyPasswordAttempts(
    #[allow(dead_code, reason = "only its schema, for the spec")] Problem,
);

/// The signed-in session this request carried ended first.
#[derive(IntoResponses)]
#[response(status = 401, description = "A password was sent, but the signed-in session ended before this request (`/problems/session-expired` or `/problems/session-ip-changed` says which limit): nothing was erased. Sign in again to erase the account, or send no password to erase what this browser holds", content_type = PROBLEM_JSON)]
struct SessionEndedFirst(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// What the service keeps about you, in one view.
///
/// Each cookie of this API your browser holds (what it is for, its
/// category, when it expires, whether it verified, and what it holds,
/// decoded; the session cookie only shows that it is there, never its id),
/// what your session holds and until when, and, signed in, what your account holds (profile, saved
/// cart, orders, reading data, sessions). It changes nothing of its own: a
/// cookie that does not verify is shown as such and left in place (other
/// calls remove it). What every call that uses the session does, it does
/// too: it counts as activity for a signed-in session and ends one past its
/// limits, and a session cookie that verifies but names a session the store
/// no longer holds (`session.stored` false: forgotten, expired, or ended
/// more than 30 seconds ago) is listed as verified and removed by this
/// response.
#[utoipa::path(get, path = "/privacy", tag = "privacy",
    responses(
        (status = 200, description = "What is kept about you", body = PrivacyView),
    ))]
async fn get_privacy(
    State(state): State<AppState>,
    MaybeUser(sign_in): MaybeUser,
    session: VisitorSession,
    cookies: AppCookies,
) -> Result<Json<PrivacyView>, ApiError> {
    let found = Found::gather(&state, &sign_in, &session, &cookies).await?;
    let session_orders =
        orders::count_of(&state.db, Owner::Session(&found.session.order_ids)).await?;
    let account = match &found.account {
        Some(account) => {
            let orders = orders::count_of(&state.db, Owner::Account(account.row.id)).await?;
            Some(account.held(orders))
        }
        None => None,
    };
    Ok(Json(PrivacyView {
        cookies: found.cookies,
        session: found.session.held(session_orders),
        account,
    }))
}

/// Everything `GET /privacy` shows, with the values, as one file to save.
///
/// One JSON document (`Content-Disposition: attachment`): the cookies'
/// contents, the session's cart, profile, visits, orders and reading, and,
/// signed in, the account's profile, cart, every order, reading data and
/// every sign-in kept (ended ones not yet deleted too). Session ids, session handles, password hashes and
/// anything of another visitor never appear. It changes nothing of its
/// own, as `GET /privacy`.
#[utoipa::path(get, path = "/privacy/export", tag = "privacy",
    responses(
        (status = 200, description = "Your data, to save", body = PrivacyExport,
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"kitchen-memory-data.json\"`"))),
    ))]
async fn export(
    State(state): State<AppState>,
    MaybeUser(sign_in): MaybeUser,
    session: VisitorSession,
    cookies: AppCookies,
) -> Result<([(header::HeaderName, HeaderValue); 1], Json<PrivacyExport>), ApiError> {
    let found = Found::gather(&state, &sign_in, &session, &cookies).await?;
    let exported_at = state.clock.now();
    let catalog = state.catalog.snapshot().await;
    let name_of = |id| catalog.entry(id).map(|e| e.name.clone());
    let library = &state.library;
    let session_orders = orders::all_of(&state.db, Owner::Session(&found.session.order_ids))
        .await?
        .into_iter()
        .map(OrderView::try_from)
        .collect::<Result<_, _>>()?;
    let s = found.session;
    let session = ExportedSession {
        kept_until: s.kept_until,
        cart: cart_lines(&s.cart, name_of),
        profile: s.profile.as_ref().map(ProfileView::from),
        visits: ExportedVisits {
            count: s.visits.count,
            last_visit: s.visits.last_visit,
        },
        orders: session_orders,
        reading: reading(library, &s.reading),
    };
    let account = match found.account {
        Some(a) => {
            let orders = orders::all_of(&state.db, Owner::Account(a.row.id))
                .await?
                .into_iter()
                .map(OrderView::try_from)
                .collect::<Result<_, _>>()?;
            Some(ExportedAccount {
                username: a.row.username,
                display_name: a.row.display_name,
                role: a.role,
                created_at: a.row.created_at,
                last_login_at: a.row.last_login_at,
                cart: cart_lines(&a.cart, name_of),
                profile: a.profile.as_ref().map(ProfileView::from),
                orders,
                reading: reading(library, &a.reading),
                sessions: a
                    .sessions
                    .into_iter()
                    .map(|l| ExportedSignIn {
                        created_at: l.created_at,
                        last_seen_at: l.last_seen_at,
                        client_ip: l.client_ip,
                        user_agent: l.user_agent,
                        remember_me: l.remember_me,
                        current: l.current,
                        active: l.active,
                    })
                    .collect(),
            })
        }
        None => None,
    };
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_static(EXPORT_FILE),
        )],
        Json(PrivacyExport {
            exported_at,
            cookies: found.cookies,
            session,
            account,
        }),
    ))
}

/// Forget me.
///
/// The session's record is deleted from the store, every cookie of this
/// API the browser holds is removed (matching its path and domain), and no
/// visit summary is left behind. The special requests of the orders the session
/// remembers are cleared; the orders stay, for the restaurant's books.
///
/// Signed in, the account is erased as well, once its current password is
/// confirmed in the body: its profile, saved cart and reading data, its
/// sessions on every device (they end at once) and the account itself; its
/// orders stay for the books, unlinked from it and without their special
/// requests. Not signed in, send no body (a password is then ignored).
///
/// 204 also when there was nothing to forget, so a second call is a 204
/// too, also one sent again with the cookie of the session just forgotten
/// (its first answer lost). A refused request (a wrong or missing password,
/// another site's page, a session ended before it while its account still
/// exists) erases nothing.
#[utoipa::path(delete, path = "/privacy", tag = "privacy",
    request_body(content = Option<ForgetMe>, description = "Signed in: `{\"password\": \"...\"}`, the account's current password. Not signed in: no body, or `{}`"),
    responses(
        (status = 204, description = "Forgotten",
            headers(("Set-Cookie" = String, description = "Removes the session cookie and every other cookie of this API the request carries (`preferences`, `reading_settings`, `loyalty`, `vip`, `last_visit_summary`): Max-Age=0, same path and domain"))),
        SessionEndedFirst,
        PasswordRefused,
        TooManyPasswordAttempts,
    ))]
async fn forget_me(
    State(state): State<AppState>,
    // First, before the extractors that load the session: sent again with
    // the cookie of a session forgotten (or otherwise ended) moments ago,
    // its first answer lost, the old id holds only the marker its end left
    // (see `session::renew`); it goes on as an empty, anonymous session,
    // forgotten again (204) rather than refused (409).
    _: EndedIsDone,
    MaybeUser(sign_in): MaybeUser,
    session: VisitorSession,
    cookies: AppCookies,
    body: Option<AppJson<ForgetMe>>,
) -> WithCookies<StatusCode> {
    WithCookies::run(cookies, async |cookies| {
        let password = body.and_then(|AppJson(b)| b.password);
        let user = match sign_in {
            SignInState::SignedIn(user) => {
                confirm_password(&state, &user, password).await?;
                Some(user)
            }
            // The visitor meant to erase an account, and this request found
            // its session ended: erasing only the browser's part would
            // answer 204 and leave the account. Unless the account is gone
            // already: an erasure that committed and then failed to end
            // this session in the store (it ends now), sent again.
            SignInState::Ended { why, user_id }
                if password.is_some() && privacy::account(&state.db, user_id).await?.is_some() =>
            {
                let problem = why.problem();
                let detail = problem.to_problem().detail;
                return Err(problem.with_detail(format!(
                    "{detail} Nothing was erased: sign in again to erase your account, or send no password to erase only what this browser holds."
                )));
            }
            SignInState::Ended { .. } | SignInState::Anonymous => None,
        };
        forget(&state, &session, user.as_ref()).await?;
        // Last, so that a request that fails above leaves the cookies.
        cookies.remove_all();
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// Checks the account's current password (see
/// [`auth::confirm_current_password`]); it must be sent.
async fn confirm_password(
    state: &AppState,
    user: &CurrentUser,
    password: Option<String>,
) -> Result<(), ApiError> {
    let Some(password) = password else {
        return Err(ApiError::invalid_field(
            "password",
            "is required when signed in: send the account's current password to confirm that the account is to be erased; nothing was erased",
        ));
    };
    auth::confirm_current_password(
        state,
        user,
        password,
        "password",
        "is not the account's current password; nothing was erased",
        "forget-me",
    )
    .await
}

/// Erases what `session` holds and, for `user`, the account; the session
/// ends, leaving no visit summary.
async fn forget(
    state: &AppState,
    session: &VisitorSession,
    user: Option<&CurrentUser>,
) -> Result<(), ApiError> {
    let order_ids = session.order_ids().await?;
    let cleared = privacy::forget_anonymous_requests(&state.db, &order_ids).await?;
    let Some(user) = user else {
        tracing::info!(
            requests_cleared = cleared,
            "session forgotten at its visitor's request"
        );
        return session.close(state).await;
    };
    // The other devices first: their records go from the store while
    // their rows still name them.
    logins::end_others(state, session, user).await?;
    let erased = privacy::erase_account(&state.db, user.id).await?;
    tracing::info!(
        user_id = user.id,
        orders_unlinked = erased.orders_unlinked,
        requests_cleared = erased.requests_cleared + cleared,
        "account erased at its user's request"
    );
    // The account is gone: an error now would tell the visitor that nothing
    // was done. As with a renewal whose tombstone is not stored
    // (`session::renew`), what was done stands and the cookies go. The
    // record the store would not delete is named by no cookie any more; it
    // keeps this session's own visits and a sign-in naming an account that
    // no longer exists (a request that still carries its cookie has it
    // ended, and forget-me sent again forgets it) until it expires.
    if let Err(e) = session.close(state).await {
        tracing::error!(user_id = user.id, error = ?e, "ending the session of an erased account failed; its record is left to expire");
    }
    Ok(())
}

/// What the view and the export read.
struct Found {
    cookies: Vec<HeldCookie>,
    session: SessionFound,
    account: Option<AccountFound>,
}

/// What the session itself holds (signed in, without the account's).
struct SessionFound {
    kept_until: Option<OffsetDateTime>,
    cart: Cart,
    profile: Option<Profile>,
    visits: Visits,
    order_ids: Vec<i32>,
    reading: Reading,
    signed_in: bool,
}

struct AccountFound {
    row: user::Model,
    role: Role,
    cart: Cart,
    profile: Option<Profile>,
    reading: Reading,
    sessions: Vec<Login>,
}

impl Found {
    async fn gather(
        state: &AppState,
        sign_in: &SignInState,
        session: &VisitorSession,
        cookies: &AppCookies,
    ) -> Result<Found, ApiError> {
        let kept_until = session.stored_expiry(&state.sessions).await?;
        let found = SessionFound {
            kept_until,
            cart: session.session_cart().await?,
            profile: session.session_profile().await?,
            visits: session.visits().await?,
            order_ids: session.order_ids().await?,
            reading: session.session_reading().await?,
            signed_in: session.sign_in().await?.is_some(),
        };
        let account = match sign_in {
            SignInState::SignedIn(user) => match privacy::account(&state.db, user.id).await? {
                Some(row) => Some(AccountFound {
                    row,
                    role: user.role,
                    cart: session.cart().await?,
                    profile: session.profile().await?,
                    reading: session.reading().await?,
                    sessions: logins::list_all(state, session, user).await?,
                }),
                None => None,
            },
            SignInState::Anonymous | SignInState::Ended { .. } => None,
        };
        Ok(Found {
            cookies: held_cookies(cookies, kept_until),
            session: found,
            account,
        })
    }
}

/// The cookies of this API the browser sent: the session cookie first, then
/// the others in the cookie table's order.
fn held_cookies(cookies: &AppCookies, session_ends: Option<OffsetDateTime>) -> Vec<HeldCookie> {
    let mut held = Vec::new();
    if let (name, Some(verified)) = cookies.session_cookie() {
        held.push(HeldCookie {
            name: name.to_owned(),
            purpose: SESSION_COOKIE.about,
            category: SESSION_COOKIE.category,
            protection: SESSION_COOKIE.seal,
            verified,
            problem: (!verified).then_some(
                "its signature does not verify (tampered, truncated or made with an unknown key)",
            ),
            issued_at: None,
            expires_at: session_ends.filter(|_| verified),
            holds: None,
        });
    }
    for spec in &ISSUED {
        let Some(inspected) = cookies.inspect(spec) else {
            continue;
        };
        let (verified, problem, issued_at, expires_at, holds) = match inspected {
            Inspected::Verified {
                value,
                issued_at,
                expires_at,
            } => (true, None, Some(issued_at), Some(expires_at), Some(value)),
            Inspected::NotVerified(reason) => (false, Some(reason), None, None, None),
        };
        held.push(HeldCookie {
            name: spec.name.to_owned(),
            purpose: spec.about,
            category: spec.category,
            protection: spec.seal,
            verified,
            problem,
            issued_at,
            expires_at,
            holds,
        });
    }
    held
}

/// The kinds of reading data that hold something, with their counts.
fn reading_held(reading: &Reading, kept: &'static str) -> Vec<DataHeld> {
    [
        (DataCategory::ReadingList, reading.list.entries.len()),
        (DataCategory::ReadingHistory, reading.history.entries.len()),
        (DataCategory::FavoriteGenres, reading.genres.0.len()),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(category, n)| DataHeld::new(category, n as u64, kept))
    .collect()
}

impl SessionFound {
    fn held(self, orders: u64) -> SessionHeld {
        let kept = KEPT_IN_SESSION;
        let mut holds = Vec::new();
        let lines = self.cart.lines().len() as u64;
        if lines > 0 {
            holds.push(DataHeld::new(DataCategory::Cart, lines, kept));
        }
        if self.profile.is_some() {
            holds.push(DataHeld::new(DataCategory::Profile, 1, kept));
        }
        if self.visits.count > 0 {
            holds.push(DataHeld::new(
                DataCategory::Visits,
                u64::from(self.visits.count),
                kept,
            ));
        }
        if orders > 0 {
            holds.push(DataHeld::new(DataCategory::Orders, orders, KEPT_ORDERS));
        }
        holds.extend(reading_held(&self.reading, kept));
        if self.signed_in {
            holds.push(DataHeld::new(DataCategory::SignIn, 1, kept));
        }
        SessionHeld {
            stored: self.kept_until.is_some(),
            kept_until: self.kept_until,
            holds,
        }
    }
}

impl AccountFound {
    fn held(&self, orders: u64) -> AccountHeld {
        let kept = KEPT_IN_ACCOUNT;
        let mut holds = Vec::new();
        if self.profile.is_some() {
            holds.push(DataHeld::new(DataCategory::Profile, 1, kept));
        }
        let lines = self.cart.lines().len() as u64;
        if lines > 0 {
            holds.push(DataHeld::new(DataCategory::Cart, lines, kept));
        }
        if orders > 0 {
            holds.push(DataHeld::new(DataCategory::Orders, orders, KEPT_ORDERS));
        }
        holds.extend(reading_held(&self.reading, kept));
        let active = self.sessions.iter().filter(|l| l.active).count() as u64;
        let ended = self.sessions.len() as u64 - active;
        if active > 0 {
            holds.push(DataHeld::new(
                DataCategory::ActiveSessions,
                active,
                KEPT_SESSIONS,
            ));
        }
        if ended > 0 {
            holds.push(DataHeld::new(
                DataCategory::EndedSessions,
                ended,
                KEPT_ENDED_SESSIONS,
            ));
        }
        AccountHeld {
            username: self.row.username.clone(),
            display_name: self.row.display_name.clone(),
            role: self.role,
            created_at: self.row.created_at,
            last_login_at: self.row.last_login_at,
            holds,
        }
    }
}

fn cart_lines(
    cart: &Cart,
    name_of: impl Fn(domain::ProductId) -> Option<String>,
) -> Vec<ExportedCartLine> {
    cart.lines()
        .iter()
        .map(|l| ExportedCartLine {
            product_id: i64::from(l.product_id.get()),
            name: name_of(l.product_id),
            quantity: l.quantity.get(),
        })
        .collect()
}

fn reading(library: &Library, reading: &Reading) -> ExportedReading {
    let title = |id| library.get(id).map(|b| b.title.clone());
    ExportedReading {
        list: reading
            .listed()
            .map(|(entry, progress)| ExportedListedBook {
                book_id: i64::from(entry.book_id.get()),
                title: title(entry.book_id),
                added_at: entry.added_at,
                pages_read: progress.pages_read,
                current_chapter: progress.current_chapter,
                last_read_at: progress.last_read_at,
            })
            .collect(),
        history: reading
            .history
            .entries
            .iter()
            .map(|e| ExportedHistoryEntry {
                book_id: i64::from(e.book_id.get()),
                title: title(e.book_id),
                outcome: e.outcome,
                pages_read: e.pages_read,
                total_pages: e.total_pages,
                current_chapter: e.current_chapter,
                started_at: e.started_at,
                ended_at: e.ended_at,
            })
            .collect(),
        favorite_genres: reading.genres.0.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let secret = "plum orbit candle seventy";
        let body = ForgetMe {
            password: Some(secret.to_owned()),
        };
        let shown = format!("{body:?}");
        assert!(
            !shown.contains(secret) && shown.contains("<redacted>"),
            "{shown}"
        );
    }
}
