//! The session engine: tower-sessions over one of three stores, chosen by
//! `SESSION_BACKEND`, and typed views of what the session holds.

pub mod db_store;
pub mod lock;
pub mod rotation;
pub mod store;
pub mod visitor;

use tower_sessions::cookie::time::Duration as CookieDuration;
use tower_sessions::service::SignedCookie;
use tower_sessions::{Expiry, SessionManagerLayer};

use crate::config::Config;
pub use store::AnyStore;

/// The purpose the session cookie's signing key is derived for.
pub const SESSION_COOKIE_PURPOSE: &str = "session-cookie";

/// The session layer. The cookie is signed, so a forged or garbled cookie is
/// ignored and the visitor starts a fresh session. A session is written only
/// when a handler changes it; a request that only reads writes nothing.
pub fn layer(config: &Config, store: AnyStore) -> SessionManagerLayer<AnyStore, SignedCookie> {
    let c = &config.session_cookie;
    let age = CookieDuration::seconds(i64::try_from(c.idle_age.as_secs()).unwrap_or(i64::MAX));
    let expiry = if c.expire_at_browser_close {
        Expiry::OnSessionEnd
    } else {
        Expiry::OnInactivity(age)
    };
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
