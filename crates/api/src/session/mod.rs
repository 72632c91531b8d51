//! The session engine: tower-sessions over one of four stores, chosen by
//! `SESSION_BACKEND`, and typed views of what the session holds.

pub mod carry;
pub mod db_store;
pub mod file_store;
pub mod guard;
pub mod keys;
pub mod lock;
pub mod renew;
pub mod rotation;
mod shared_lock;
pub mod store;
pub mod visitor;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use time::OffsetDateTime;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::service::SignedCookie;
use tower_sessions::{Expiry, Session, SessionManagerLayer};

use crate::clock::Clock;
use crate::config::{Config, SessionCookieConfig};
use crate::error::{ApiError, HeldStatus};
pub use keys::SESSION_COOKIE_PURPOSE;
pub use store::AnyStore;
use visitor::VisitorSession;

/// The session layer. The cookie is signed, so a forged or garbled cookie is
/// ignored and the visitor starts a fresh session. A session is written only
/// when a handler changes it; a request that only reads writes nothing.
pub fn layer(config: &Config, store: AnyStore) -> SessionManagerLayer<AnyStore, SignedCookie> {
    let c = &config.session_cookie;
    // The server forgets an anonymous session `idle_age` after its last
    // change, also when the browser is told to drop the cookie on close (see
    // `session_cookie_lifetime`): tower-sessions' `OnSessionEnd` would keep
    // the record for two weeks whatever the configured age. A signed-in
    // session gets its own expiry (`fit_lifetime_to_sign_in`).
    let expiry = Expiry::OnInactivity(anonymous_age(config));
    // The attributes come from the one place that decides them.
    let template = c.session_cookie("");
    // The layer is cloned for every request: its names borrowed for the
    // life of the process clone for free, where owned ones would allocate.
    let mut layer = SessionManagerLayer::new(store)
        .with_name(leak(&c.name))
        .with_secure(template.secure() == Some(true))
        .with_http_only(template.http_only() == Some(true))
        .with_same_site(template.same_site().unwrap_or(SameSite::Lax))
        .with_path(leak(template.path().unwrap_or("/")))
        .with_expiry(expiry);
    if let Some(domain) = template.domain() {
        layer = layer.with_domain(leak(domain));
    }
    layer.with_signed(config.secret_key.derive(SESSION_COOKIE_PURPOSE))
}

/// `text` for the life of the process: a few bytes per router built.
fn leak(text: &str) -> &'static str {
    Box::leak(text.to_owned().into_boxed_str())
}

/// How long an anonymous session lives after its last change.
pub fn anonymous_age(config: &Config) -> CookieDuration {
    let age = config.session_cookie.idle_age.as_secs();
    CookieDuration::seconds(i64::try_from(age).unwrap_or(i64::MAX))
}

/// A step of the session routes' guard ([`guard`]), on the answer just
/// outside [`layer`]: when the store fails while
/// the layer saves a session after the handler ran (a new visitor's first
/// change, say), tower-sessions answers a bare 500 with no body. The store
/// not answering is a 503 worth a retry (with `Retry-After`), as it is when
/// loading fails.
/// Handlers' own errors are problem+json and pass unchanged; one that had
/// the session written anyway ([`ApiError::keeping_session`]) gets its
/// status back.
pub fn unavailable_when_save_fails(mut res: Response) -> Response {
    if let Some(HeldStatus(status)) = res.extensions_mut().remove::<HeldStatus>() {
        *res.status_mut() = status;
        return res;
    }
    let bare = res.status() == StatusCode::INTERNAL_SERVER_ERROR
        && !res.headers().contains_key(header::CONTENT_TYPE);
    if !bare {
        return res;
    }
    ApiError::unavailable(
        "session store",
        anyhow::anyhow!("saving the session failed (see the session layer's log line)"),
    )
    .into_response()
}

/// How long the browser keeps the session cookie a response sets, when it
/// is not the configured default (`SESSION_COOKIE_AGE`, or none at all with
/// `SESSION_EXPIRE_AT_BROWSER_CLOSE`). Put in the response's extensions by
/// [`fit_lifetime_to_sign_in`] for a signed-in session; read by
/// [`session_cookie_lifetime`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieLifetime {
    /// No `Max-Age`: the browser drops the cookie when it closes.
    BrowserSession,
    /// `Max-Age` until this time.
    Until(OffsetDateTime),
}

/// The record lifetimes [`fit_lifetime_to_sign_in`] chooses from.
#[derive(Debug, Clone, Copy)]
pub struct RecordLifetimes {
    /// An anonymous session's, after its last change (`SESSION_COOKIE_AGE`).
    pub anonymous: CookieDuration,
    /// When the sign-in cannot be read: the shorter of the anonymous age
    /// and the signed-in idle limit, so that a signed-in record is not kept
    /// for the anonymous two weeks.
    pub unknown: CookieDuration,
}

impl RecordLifetimes {
    pub fn of(config: &Config) -> Self {
        let anonymous = anonymous_age(config);
        let idle = CookieDuration::try_from(config.sign_in.idle).unwrap_or(CookieDuration::MAX);
        RecordLifetimes {
            anonymous,
            unknown: anonymous.min(idle),
        }
    }
}

/// Middleware just inside [`layer`], so it runs after the handler and before
/// the layer writes the record: a session the request changed gets the
/// expiry of its sign-in (or the anonymous one, `age` after its last change),
/// and the response says how long its cookie must live. A request that
/// changed nothing writes nothing and sets no cookie, so it is left alone,
/// unless its cookie is re-issued under the current key
/// ([`rotation::Resigned`]): that cookie keeps its sign-in's lifetime too.
///
/// The handler's answer stands whatever happens here. Should the sign-in
/// not be read (the store failing to load a record the handler never
/// touched), that is logged, the record gets the shorter
/// [`RecordLifetimes::unknown`] and the cookie no `Max-Age`: neither can
/// outlast a signed-in session's limits by much, and the next request
/// that writes the session sets both right again.
pub async fn fit_lifetime_to_sign_in(
    State(lifetimes): State<RecordLifetimes>,
    req: Request,
    next: Next,
) -> Response {
    let resigned = req.extensions().get::<rotation::Resigned>().is_some();
    let session = req
        .extensions()
        .get::<Session>()
        .cloned()
        .map(VisitorSession::of);
    let mut res = next.run(req).await;
    // What follows is the session layer's save: the turn's last write.
    lock::handler_finished();
    let Some(session) = session else {
        return res;
    };
    let sign_in = if session.is_modified() {
        session
            .fit_expiry(
                Expiry::OnInactivity(lifetimes.anonymous),
                Expiry::OnInactivity(lifetimes.unknown),
            )
            .await
    } else if resigned {
        session.sign_in().await
    } else {
        return res;
    };
    let lifetime = match sign_in {
        Ok(sign_in) => sign_in.map(|s| s.cookie_lifetime()),
        Err(e) => {
            tracing::warn!(error = ?e, "reading the sign-in to fit the session's lifetime failed; the record gets the shorter lifetime and the cookie none");
            Some(CookieLifetime::BrowserSession)
        }
    };
    if let Some(lifetime) = lifetime {
        res.extensions_mut().insert(lifetime);
    }
    res
}

/// What [`session_cookie_lifetime`] needs: the cookie's attributes and the
/// clock a `Max-Age` counts from.
#[derive(Debug, Clone)]
pub struct CookieLifetimes {
    pub config: SessionCookieConfig,
    pub clock: Clock,
}

/// A step of the session routes' guard ([`guard`]), on the answer outside
/// [`layer`] and outside the re-signing under the current key (`rotation`):
/// the session cookie goes out as
/// `SessionCookieConfig::session_cookie` makes it, with the lifetime the
/// response asks for ([`CookieLifetime`]), else without `Max-Age` under
/// `SESSION_EXPIRE_AT_BROWSER_CLOSE`, else as the layer made it. Removals
/// (`Max-Age=0`) are left as they are.
pub fn session_cookie_lifetime(lifetimes: &CookieLifetimes, mut res: Response) -> Response {
    let config = &lifetimes.config;
    let lifetime = match res.extensions_mut().remove::<CookieLifetime>() {
        Some(lifetime) => lifetime,
        None if config.expire_at_browser_close => CookieLifetime::BrowserSession,
        None => return res,
    };
    let session_cookie = |value: &HeaderValue| {
        let text = std::str::from_utf8(value.as_bytes()).ok()?;
        let cookie = Cookie::parse_encoded(text.to_owned()).ok()?;
        let removal = cookie.max_age() == Some(CookieDuration::ZERO);
        (cookie.name() == config.name && !removal).then(|| cookie.value().to_owned())
    };
    let cookies: Vec<HeaderValue> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if !cookies.iter().any(|c| session_cookie(c).is_some()) {
        return res;
    }
    let max_age = match lifetime {
        CookieLifetime::BrowserSession => None,
        // At least a second: zero would remove the cookie.
        CookieLifetime::Until(at) => Some((at - lifetimes.clock.now()).max(CookieDuration::SECOND)),
    };
    res.headers_mut().remove(header::SET_COOKIE);
    for original in cookies {
        let rewritten = session_cookie(&original)
            .and_then(|value| {
                let mut cookie = config.session_cookie(value);
                cookie.set_max_age(max_age);
                HeaderValue::from_str(&cookie.encoded().to_string()).ok()
            })
            .unwrap_or(original);
        res.headers_mut().append(header::SET_COOKIE, rewritten);
    }
    res
}
