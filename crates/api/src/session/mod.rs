//! The session engine: tower-sessions over one of three stores, chosen by
//! `SESSION_BACKEND`, and typed views of what the session holds.

pub mod carry;
pub mod db_store;
pub mod keys;
pub mod lock;
pub mod renew;
pub mod rotation;
pub mod store;
pub mod visitor;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::cookie::{Cookie, SameSite};
use tower_sessions::service::SignedCookie;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::{Config, SessionCookieConfig};
use crate::error::ApiError;
pub use keys::SESSION_COOKIE_PURPOSE;
pub use store::AnyStore;

/// The session layer. The cookie is signed, so a forged or garbled cookie is
/// ignored and the visitor starts a fresh session. A session is written only
/// when a handler changes it; a request that only reads writes nothing.
pub fn layer(config: &Config, store: AnyStore) -> SessionManagerLayer<AnyStore, SignedCookie> {
    let c = &config.session_cookie;
    let age = CookieDuration::seconds(i64::try_from(c.idle_age.as_secs()).unwrap_or(i64::MAX));
    // The server forgets a session `idle_age` after its last change, also
    // when the browser is told to drop the cookie on close (see
    // `browser_session_cookie`): tower-sessions' `OnSessionEnd` would keep the
    // record for two weeks whatever the configured age.
    let expiry = Expiry::OnInactivity(age);
    // The attributes come from the one place that decides them.
    let template = c.session_cookie("");
    let mut layer = SessionManagerLayer::new(store)
        .with_name(c.name.clone())
        .with_secure(template.secure() == Some(true))
        .with_http_only(template.http_only() == Some(true))
        .with_same_site(template.same_site().unwrap_or(SameSite::Lax))
        .with_path(template.path().unwrap_or("/").to_owned())
        .with_expiry(expiry);
    if let Some(domain) = template.domain() {
        layer = layer.with_domain(domain.to_owned());
    }
    layer.with_signed(config.secret_key.derive(SESSION_COOKIE_PURPOSE))
}

/// Response middleware just outside [`layer`]: when the store fails while
/// the layer saves a session after the handler ran (a new visitor's first
/// change, say), tower-sessions answers a bare 500 with no body. The store
/// not answering is a 503 worth a retry (with `Retry-After`), as it is when
/// loading fails.
/// Handlers' own errors are problem+json and pass unchanged.
pub async fn unavailable_when_save_fails(res: Response) -> Response {
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

/// Response middleware for `SESSION_EXPIRE_AT_BROWSER_CLOSE`: the session
/// cookie goes out as `SessionCookieConfig::session_cookie` makes it, without
/// `Max-Age`/`Expires`, so the browser drops it when it closes. Removals
/// (`Max-Age=0`) are left as they are.
pub async fn browser_session_cookie(
    State(config): State<Arc<SessionCookieConfig>>,
    mut res: Response,
) -> Response {
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
    res.headers_mut().remove(header::SET_COOKIE);
    for original in cookies {
        let rewritten = session_cookie(&original)
            .and_then(|value| {
                let cookie = config.session_cookie(value);
                HeaderValue::from_str(&cookie.encoded().to_string()).ok()
            })
            .unwrap_or(original);
        res.headers_mut().append(header::SET_COOKIE, rewritten);
    }
    res
}
