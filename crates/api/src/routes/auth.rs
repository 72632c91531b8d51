//! Accounts and signing in: `/auth/register`, `/auth/login`,
//! `/auth/logout`, `/auth/me`, `/auth/password`.
//!
//! Every change of privilege gives the session a new id (see
//! `session::renew`): what the visitor had (cart, profile, visits, orders)
//! moves to the new id, and the old one loads nothing.

use std::net::IpAddr;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use domain::InvalidField;
use domain::account::{DisplayName, NewPassword, Username};
use domain::cart::{MergeLoss, MergeLossReason};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoResponses, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::auth::logins::{self, LoginOptions};
use crate::auth::{self, AuthUser, CurrentUser, Role, password};
use crate::client_ip::ClientIp;
use crate::cookies::AppCookies;
use crate::db::users;
use crate::error::{ApiError, FieldChecks, PROBLEM_JSON, Problem, ProblemKind};
use crate::extract::AppJson;
use crate::limits::Limit;
use crate::openapi;
use crate::responses::{Created, WithCookies};
use crate::session::carry::{self, CarriedOver};
use crate::session::visitor::VisitorSession;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(change_password))
}

/// A new account.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "ada", "password": "plum orbit candle seventy", "display_name": "Ada", "remember_me": false}))]
pub struct RegisterInput {
    /// 3 to 32 of `a-z 0-9 _ . -`; capitals are folded to lower case.
    #[schema(min_length = 3, max_length = 32, pattern = "^[A-Za-z0-9_.-]{3,32}$")]
    pub username: String,
    /// 8 to 128 characters, and not easy to guess (no common password, no
    /// password made of the username).
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// The name shown for the account; the username when absent.
    #[serde(default)]
    #[schema(schema_with = openapi::plain_text_or_null::<{ DisplayName::MAX_CHARS }>)]
    pub display_name: Option<String>,
    /// Stay signed in after the browser closes (a persistent cookie).
    #[serde(default)]
    pub remember_me: bool,
}

/// A username and password to sign in with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "ada", "password": "plum orbit candle seventy", "remember_me": true}))]
pub struct LoginInput {
    pub username: String,
    pub password: String,
    /// Stay signed in after the browser closes (a persistent cookie).
    #[serde(default)]
    pub remember_me: bool,
}

/// A new password, confirmed by the current one.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"current_password": "plum orbit candle seventy", "new_password": "quartz ladder mango river"}))]
pub struct PasswordChange {
    pub current_password: String,
    /// 8 to 128 characters, and not easy to guess.
    #[schema(min_length = 8, max_length = 128)]
    pub new_password: String,
}

// Passwords never reach a log, also through `{:?}`.
impl std::fmt::Debug for RegisterInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegisterInput")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("display_name", &self.display_name)
            .field("remember_me", &self.remember_me)
            .finish()
    }
}

impl std::fmt::Debug for LoginInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginInput")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("remember_me", &self.remember_me)
            .finish()
    }
}

impl std::fmt::Debug for PasswordChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordChange")
            .field("current_password", &"<redacted>")
            .field("new_password", &"<redacted>")
            .finish()
    }
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": 7, "username": "ada", "display_name": "Ada", "role": "customer"}))]
pub struct UserView {
    pub id: i32,
    pub username: String,
    pub display_name: String,
    pub role: Role,
}

impl From<&CurrentUser> for UserView {
    fn from(user: &CurrentUser) -> Self {
        UserView {
            id: user.id,
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            role: user.role,
        }
    }
}

/// The account just signed in to, and what of the visitor's cart and
/// reading list it could not take.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "id": 7, "username": "ada", "display_name": "Ada", "role": "customer",
    "cart_dropped": [{"product_id": 2, "wanted": 110, "kept": 99, "reason": "line-cap"}],
    "reading_dropped": [12]
}))]
pub struct SignedInView {
    #[serde(flatten)]
    pub user: UserView,
    /// The lines of the visitor's cart that the account's cart could not take
    /// whole when they were merged (empty when everything fitted).
    pub cart_dropped: Vec<DroppedLine>,
    /// The ids of the books on the visitor's reading list that are not on
    /// the account's after the two were merged (its list was full; empty
    /// when everything fitted). Those the visitor had started are in the
    /// account's reading history as abandoned at the sign-in, with how far
    /// the visitor got; those never opened just stay off the list.
    pub reading_dropped: Vec<i64>,
}

impl SignedInView {
    fn new(user: &CurrentUser, carried: &CarriedOver) -> Self {
        SignedInView {
            user: UserView::from(user),
            cart_dropped: carried.cart_losses.iter().map(DroppedLine::from).collect(),
            reading_dropped: carried
                .reading_dropped
                .iter()
                .map(|id| i64::from(id.get()))
                .collect(),
        }
    }
}

/// A cart line that did not fit whole into the account's cart at sign-in.
#[derive(Debug, Serialize, ToSchema)]
pub struct DroppedLine {
    pub product_id: i32,
    /// How many the account's line would have held with the visitor's added.
    pub wanted: u32,
    /// How many it holds (0: the visitor's quantity was not added).
    pub kept: u32,
    pub reason: DropReason,
}

/// Why a line holds less: `line-cap` (a line holds at most 99), `stock`
/// (fewer are in stock), `unavailable` (the dish is unavailable now),
/// `removed` (no longer on the menu), `too-many-lines` (the cart already
/// holds 100 dishes).
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DropReason {
    LineCap,
    Stock,
    Unavailable,
    Removed,
    TooManyLines,
}

impl From<&MergeLoss> for DroppedLine {
    fn from(loss: &MergeLoss) -> Self {
        DroppedLine {
            product_id: loss.product_id.get(),
            wanted: loss.wanted,
            kept: loss.kept,
            reason: match loss.reason {
                MergeLossReason::LineCap => DropReason::LineCap,
                MergeLossReason::Stock => DropReason::Stock,
                MergeLossReason::Unavailable => DropReason::Unavailable,
                MergeLossReason::Removed => DropReason::Removed,
                MergeLossReason::TooManyLines => DropReason::TooManyLines,
            },
        }
    }
}

/// The signed-in account and the life of its session.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "user": {"id": 7, "username": "ada", "display_name": "Ada", "role": "customer"},
    "signed_in_at": "2026-11-26T18:00:00Z", "idle_ends_at": "2026-11-26T18:30:00Z",
    "absolute_ends_at": "2026-11-27T02:00:00Z", "remember_me": false
}))]
pub struct Me {
    pub user: UserView,
    /// When this session signed in.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub signed_in_at: OffsetDateTime,
    /// When the session ends unless a request comes first (idle timeout).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub idle_ends_at: OffsetDateTime,
    /// When the session ends whatever happens (absolute timeout).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub absolute_ends_at: OffsetDateTime,
    /// Whether the sign-in asked to be remembered (a persistent cookie).
    pub remember_me: bool,
}

/// The one answer to a refused sign-in, whatever the reason: the same body
/// for an unknown username, a wrong password and a disabled account, so
/// the answer does not tell which accounts exist.
fn wrong_credentials() -> ApiError {
    ApiError::new(
        ProblemKind::Unauthorized,
        "The username or password is wrong, or the account cannot sign in.",
    )
}

/// The sign-in was refused: wrong username or password, or a disabled account.
#[derive(IntoResponses)]
#[response(status = 401, description = "Wrong username or password, or a disabled account: one answer for all three", content_type = PROBLEM_JSON)]
struct WrongCredentials(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// Too many sign-in attempts.
#[derive(IntoResponses)]
#[response(status = 429, description = "Too many sign-in attempts from this address, or for this username from anywhere; `Retry-After` says when to try again", content_type = PROBLEM_JSON,
    headers(("Retry-After" = u64, description = "Seconds to wait")))]
struct TooManyLogins(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// Too many registrations.
#[derive(IntoResponses)]
#[response(status = 429, description = "Too many registrations from this address, or for this username from anywhere; `Retry-After` says when to try again", content_type = PROBLEM_JSON,
    headers(("Retry-After" = u64, description = "Seconds to wait")))]
struct TooManyRegistrations(#[allow(dead_code, reason = "only its schema, for the spec")] Problem);

/// Too many attempts at the account's password.
#[derive(IntoResponses)]
#[response(status = 429, description = "Too many attempts at this account's password: password changes count with the sign-in attempts for its username; `Retry-After` says when to try again", content_type = PROBLEM_JSON,
    headers(("Retry-After" = u64, description = "Seconds to wait")))]
struct TooManyPasswordAttempts(
    #[allow(dead_code, reason = "only its schema, for the spec")] Problem,
);

/// The request needs a signed-in session.
#[derive(IntoResponses)]
#[response(status = 401, description = "Not signed in (`/problems/unauthorized`), or the session ended: `/problems/session-expired` or `/problems/session-ip-changed` says which limit ended it", content_type = PROBLEM_JSON)]
pub(crate) struct NotSignedIn(
    #[allow(dead_code, reason = "only its schema, for the spec")] Problem,
);

/// The user agent as sent (the sign-in cuts and cleans what it keeps).
fn user_agent(headers: &HeaderMap) -> Option<String> {
    let text = headers.get(header::USER_AGENT)?.to_str().ok()?;
    Some(text.to_owned())
}

/// Checks a new password on the blocking pool: estimating its strength
/// takes up to tens of milliseconds of CPU for a long one, too long for an
/// async worker.
async fn new_password(
    field: &'static str,
    raw: String,
    user_inputs: Vec<String>,
) -> Result<Result<NewPassword, InvalidField>, ApiError> {
    tokio::task::spawn_blocking(move || {
        let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
        NewPassword::parse(field, &raw, &inputs)
    })
    .await
    .map_err(ApiError::internal)
}

/// Signs `user` in on `session`: a new session id first (also when the
/// session was signed in already), then the sign-in, then what the visitor
/// had as anonymous handed over to the account.
///
/// Once the id is renewed, the visitor's things live under the new id only,
/// so a step that fails after it leaves the session anonymous (the sign-in
/// taken back) and still sends the new cookie, whatever the answer.
async fn sign_in(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
    options: &LoginOptions,
) -> Result<CarriedOver, ApiError> {
    if let Some(previous) = session.sign_in().await? {
        logins::end(state, session).await?;
        if previous.user_id != user.id {
            // Another account's session: what it holds is not this account's.
            session.clear().await;
        }
    }
    session
        .renew(state)
        .await
        .map_err(ApiError::keeping_session)?;
    let carried = match start_and_carry_over(state, session, user, options).await {
        Ok(carried) => carried,
        Err(e) => {
            logins::abandon(state, session).await;
            return Err(e.keeping_session());
        }
    };
    // Only a note: the sign-in stands without it.
    if let Err(e) = users::record_login(&state.db, user.id, state.clock.now()).await {
        tracing::warn!(user_id = user.id, error = ?e, "noting the time of a sign-in failed");
    }
    Ok(carried)
}

/// The one log line of a sign-in.
fn signed_in_log(user: &CurrentUser, carried: &CarriedOver, new_account: bool) {
    tracing::info!(
        user_id = user.id,
        new_account,
        cart_lines_dropped = carried.cart_losses.len(),
        reading_books_dropped = carried.reading_dropped.len(),
        orders_claimed = carried.orders_claimed,
        "signed in"
    );
}

/// Counts an attempt against the limit per client address, then, when the
/// username is valid, against the limit per username.
async fn count_attempt(
    state: &AppState,
    (per_ip, ip): (Limit, IpAddr),
    (per_username, username): (Limit, Option<&Username>),
) -> Result<(), ApiError> {
    state.limits.hit(per_ip, &ip.to_string()).await?;
    if let Some(username) = username {
        state.limits.hit(per_username, username.as_str()).await?;
    }
    Ok(())
}

fn login_options(remember_me: bool, client_ip: IpAddr, headers: &HeaderMap) -> LoginOptions {
    LoginOptions {
        remember_me,
        client_ip,
        user_agent: user_agent(headers),
    }
}

async fn start_and_carry_over(
    state: &AppState,
    session: &VisitorSession,
    user: &CurrentUser,
    options: &LoginOptions,
) -> Result<CarriedOver, ApiError> {
    logins::start(state, session, user, options).await?;
    carry::carry_over(state, session, user.id).await
}

/// Create an account and sign in to it. The session gets a new id; the
/// cart, profile, reading, visits and orders the visitor had move to the
/// account (`cart_dropped` and `reading_dropped` as for sign-in). Should signing in fail, no account is
/// kept and the answer still carries the session's new cookie, so the
/// request can be sent again.
#[utoipa::path(post, path = "/auth/register", tag = "auth",
    request_body = RegisterInput,
    responses(
        (status = 201, description = "Created and signed in; `cart_dropped` lists what of the visitor's cart the account's could not take, `reading_dropped` the books of the visitor's reading list it could not take (the started ones go into the account's reading history as abandoned)", body = SignedInView,
            headers(
                ("Location" = String, description = "The signed-in account, /api/v1/auth/me"),
                ("Set-Cookie" = String, description = "The session cookie, under a new id"))),
        (status = 409, description = "The username is taken (`/problems/username-taken`); the session was renewed while this request waited (`/problems/session-renewed`): send it again; or the account's cart, profile or reading list kept changing in another session during the hand-over (`/problems/changed-in-another-session`): nothing was signed in, send it again", body = Problem, content_type = PROBLEM_JSON),
        (status = 422, description = "A field is invalid, each named in `errors`: a username outside the rule, a password too short, too long or too easy to guess (the message says why)", body = Problem, content_type = PROBLEM_JSON),
        TooManyRegistrations,
    ))]
async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    session: VisitorSession,
    AppJson(input): AppJson<RegisterInput>,
) -> Result<Created<Json<SignedInView>>, ApiError> {
    let mut checks = FieldChecks::default();
    let username = checks.take(Username::parse(&input.username));
    count_attempt(
        &state,
        (Limit::RegisterPerIp, ip),
        (Limit::RegisterPerUsername, username.as_ref()),
    )
    .await?;
    let display_name = match input.display_name.as_deref() {
        Some(raw) => checks.take(DisplayName::parse(raw)),
        None => username.as_ref().map(DisplayName::from_username),
    };
    let mut user_inputs = vec![input.username.clone()];
    user_inputs.extend(input.display_name.clone());
    let password =
        checks.take(new_password(NewPassword::FIELD, input.password, user_inputs).await?);
    checks.finish()?;
    let (Some(username), Some(display_name), Some(password)) = (username, display_name, password)
    else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a checked registration lacks a field"
        )));
    };
    let hash = password::hash(password.into_string()).await?;
    let user = users::create(
        &state.db,
        &username,
        &display_name,
        hash,
        Role::Customer,
        state.clock.now(),
    )
    .await?;
    let options = login_options(input.remember_me, ip, &headers);
    // An account nobody could sign in to is not kept: the visitor can
    // register the same username again.
    let carried = match sign_in(&state, &session, &user, &options).await {
        Ok(carried) => carried,
        Err(e) => {
            if let Err(e) = users::delete_unused(&state.db, user.id).await {
                tracing::warn!(user_id = user.id, error = ?e, "deleting an account that could not sign in failed");
            }
            return Err(e);
        }
    };
    signed_in_log(&user, &carried, true);
    Created::at("/api/v1/auth/me", Json(SignedInView::new(&user, &carried)))
}

/// Sign in. The session gets a new id; the cart, profile, reading, visits
/// and orders the visitor had move to the account (the reading lists join,
/// the further progress in a book on both wins), `cart_dropped` lists the
/// cart lines the account's cart could not take whole, and
/// `reading_dropped` the books of the visitor's reading list that the
/// account's full list (50 books) could not take (those started are kept in
/// the account's history as abandoned, with how far they got). An unknown
/// username, a wrong password and a disabled account get the same answer,
/// in about the same time. Should signing in fail after the session got its
/// new id, the answer still carries the new cookie: the visitor stays
/// anonymous with their things, and can send the request again.
#[utoipa::path(post, path = "/auth/login", tag = "auth",
    request_body = LoginInput,
    responses(
        (status = 200, description = "Signed in; `cart_dropped` lists the lines of the visitor's cart that did not fit whole into the account's (over the line cap or the stock, a dish unavailable or gone, a cart of 100 dishes); `reading_dropped` the books of the visitor's reading list that the account's full list could not take (the started ones go into the account's reading history as abandoned, with how far they got)", body = SignedInView,
            headers(("Set-Cookie" = String, description = "The session cookie, under a new id"))),
        WrongCredentials,
        (status = 409, description = "The session was renewed while this request waited (`/problems/session-renewed`), or the account's cart, profile or reading list kept changing in another session during the hand-over (`/problems/changed-in-another-session`): nothing was signed in; send it again", body = Problem, content_type = PROBLEM_JSON),
        TooManyLogins,
    ))]
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    session: VisitorSession,
    AppJson(input): AppJson<LoginInput>,
) -> Result<Json<SignedInView>, ApiError> {
    // A name no account can have is looked up as no one, at the same cost.
    let username = Username::parse(&input.username).ok();
    count_attempt(
        &state,
        (Limit::LoginPerIp, ip),
        (Limit::LoginPerUsername, username.as_ref()),
    )
    .await?;
    let account = match &username {
        Some(username) => users::find_by_username(&state.db, username).await?,
        None => None,
    };
    let stored_hash = account.as_ref().map(|a| a.password_hash.clone());
    // Verified also when the account is disabled: all three refusals cost one hash.
    let matches = password::verify(input.password, stored_hash).await?;
    let refused = match &account {
        None => Some("unknown username"),
        Some(_) if !matches => Some("wrong password"),
        Some(account) if account.disabled => Some("disabled account"),
        Some(_) => None,
    };
    let user = match (refused, account.and_then(users::as_signed_in)) {
        (None, Some(user)) => user,
        (refused, _) => {
            tracing::warn!(
                reason = refused.unwrap_or("account that cannot sign in"),
                username = ?input.username.chars().take(64).collect::<String>(),
                client_ip = %ip,
                "sign-in refused"
            );
            return Err(wrong_credentials());
        }
    };
    let options = login_options(input.remember_me, ip, &headers);
    let carried = sign_in(&state, &session, &user, &options).await?;
    signed_in_log(&user, &carried, false);
    Ok(Json(SignedInView::new(&user, &carried)))
}

/// Sign out: the session ends (its record is deleted from the store, the
/// session cookie removed) and a signed summary of the visit stays in the
/// browser, as `DELETE /session` leaves it. Also answers 204 when not
/// signed in.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Signed out; the session is gone",
            headers(("Set-Cookie" = String, description = "Removes the session cookie; sets `last_visit_summary`"))),
    ))]
async fn logout(
    State(state): State<AppState>,
    session: VisitorSession,
    cookies: AppCookies,
) -> WithCookies<StatusCode> {
    WithCookies::run(cookies, async |cookies| {
        super::session::say_goodbye(&state, &session, cookies).await?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// The signed-in account, when this session signed in, and when it will
/// end: after a time without requests (idle) or at its limit from sign-in
/// (absolute), whichever comes first.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    security(("session_cookie" = [])),
    responses(
        (status = 200, description = "The signed-in account", body = Me),
        NotSignedIn,
    ))]
async fn me(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    session: VisitorSession,
) -> Result<Json<Me>, ApiError> {
    // The check that signed this request in just read the row; should it
    // be gone since (ended from another session), the session has ended.
    let times = logins::times(&state, &session).await?.ok_or_else(|| {
        ApiError::new(
            ProblemKind::SessionExpired,
            "Your session was ended; sign in again.",
        )
    })?;
    Ok(Json(Me {
        user: UserView::from(&user),
        signed_in_at: times.signed_in_at,
        idle_ends_at: times.idle_ends_at,
        absolute_ends_at: times.absolute_ends_at,
        remember_me: times.remember_me,
    }))
}

/// Change the password. Every other session of the account ends; this one
/// stays signed in under a new id. A wrong current password is a 422 on
/// `current_password` (not a 401: the session itself is fine). Each
/// attempt counts against the sign-in limit for the account's username, as
/// guessing at sign-in does: while that limit is spent (by anyone guessing
/// at the account), password changes wait too.
#[utoipa::path(put, path = "/auth/password", tag = "auth",
    security(("session_cookie" = [])),
    request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed; the other sessions are ended",
            headers(("Set-Cookie" = String, description = "The session cookie, under a new id"))),
        NotSignedIn,
        (status = 422, description = "The current password is wrong (`current_password`), or the new one is too short, too long or too easy to guess (`new_password`, saying why)", body = Problem, content_type = PROBLEM_JSON),
        TooManyPasswordAttempts,
    ))]
async fn change_password(
    State(state): State<AppState>,
    AuthUser(user): AuthUser,
    session: VisitorSession,
    AppJson(input): AppJson<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    auth::confirm_current_password(
        &state,
        &user,
        input.current_password,
        "current_password",
        "is not the account's current password",
        "password change",
    )
    .await?;
    let new_password = new_password(
        "new_password",
        input.new_password,
        vec![user.username.clone(), user.display_name.clone()],
    )
    .await?
    .map_err(|e| ApiError::invalid_fields(vec![e.into()]))?;
    let hash = password::hash(new_password.into_string()).await?;
    users::set_password_hash(&state.db, user.id, hash).await?;
    logins::end_others(&state, &session, &user).await?;
    session
        .renew(&state)
        .await
        .map_err(ApiError::keeping_session)?;
    // The session stays signed in under its new id either way: the row's
    // note of the id only lets another session delete this one's record,
    // and the check ends this session anyway once its row is gone.
    if let Err(e) = logins::renewed(&state, &session).await {
        tracing::warn!(user_id = user.id, error = ?e, "noting a renewed session id failed");
    }
    tracing::info!(user_id = user.id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show_in_debug_output() {
        let secret = "plum orbit candle seventy";
        let register = RegisterInput {
            username: "ada".to_owned(),
            password: secret.to_owned(),
            display_name: None,
            remember_me: false,
        };
        let login = LoginInput {
            username: "ada".to_owned(),
            password: secret.to_owned(),
            remember_me: true,
        };
        let change = PasswordChange {
            current_password: secret.to_owned(),
            new_password: secret.to_owned(),
        };
        for shown in [
            format!("{register:?}"),
            format!("{login:?}"),
            format!("{change:?}"),
        ] {
            assert!(!shown.contains(secret), "{shown}");
            assert!(shown.contains("<redacted>"), "{shown}");
        }
        assert!(format!("{login:?}").contains("ada"));
    }
}
