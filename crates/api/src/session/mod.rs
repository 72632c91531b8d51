//! The session engine: tower-sessions over one of three stores, chosen by
//! `SESSION_BACKEND`, and typed views of what the session holds.

pub mod db_store;
pub mod lock;
pub mod rotation;
pub mod store;
pub mod visitor;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::service::SignedCookie;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::Config;
pub use store::AnyStore;

/// The raw value of the cookie `name` in a request's `Cookie` headers.
pub fn request_cookie(headers: &axum::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

/// The purpose the session cookie's signing key is derived for.
pub const SESSION_COOKIE_PURPOSE: &str = "session-cookie";

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
    let mut layer = SessionManagerLayer::new(store)
        .with_name(c.name.clone())
        .with_secure(c.secure)
        .with_http_only(c.http_only)
        .with_same_site(c.same_site)
        .with_path(c.path.clone())
        .with_expiry(expiry);
    if let Some(domain) = &c.domain {
        layer = layer.with_domain(domain.clone());
    }
    layer.with_signed(config.secret_key.derive(SESSION_COOKIE_PURPOSE))
}

/// Response middleware for `SESSION_EXPIRE_AT_BROWSER_CLOSE`: the session
/// cookie goes out without `Max-Age`/`Expires`, so the browser drops it when
/// it closes. Removals (`Max-Age=0`) are left as they are.
pub async fn browser_session_cookie(State(name): State<Arc<str>>, mut res: Response) -> Response {
    let prefix = format!("{name}=");
    let cookies: Vec<HeaderValue> = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if !cookies
        .iter()
        .any(|c| c.as_bytes().starts_with(prefix.as_bytes()))
    {
        return res;
    }
    res.headers_mut().remove(header::SET_COOKIE);
    for cookie in cookies {
        let text = cookie.to_str().unwrap_or_default();
        let rewritten =
            if text.starts_with(&prefix) && !text.to_ascii_lowercase().contains("max-age=0") {
                let kept: Vec<&str> = text
                    .split(';')
                    .filter(|attr| {
                        let a = attr.trim().to_ascii_lowercase();
                        !a.starts_with("max-age=") && !a.starts_with("expires=")
                    })
                    .collect();
                HeaderValue::from_str(&kept.join(";")).unwrap_or(cookie)
            } else {
                cookie
            };
        res.headers_mut().append(header::SET_COOKIE, rewritten);
    }
    res
}
