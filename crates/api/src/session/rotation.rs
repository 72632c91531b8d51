//! Key rotation for the session cookie. The session layer verifies its
//! cookie with the current key only; a cookie signed with a key listed in
//! `SECRET_KEY_FALLBACKS` is re-signed with the current key before the layer
//! sees it, and sent back re-signed, so rotating `SECRET_KEY` logs no one out.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use cookie::{Cookie, CookieJar, Key};

use super::SESSION_COOKIE_PURPOSE;
use crate::config::{Config, SessionCookieConfig};

pub struct SessionCookieKeys {
    current: Key,
    fallbacks: Vec<Key>,
    cookie: SessionCookieConfig,
}

impl SessionCookieKeys {
    pub fn new(config: &Config) -> Arc<Self> {
        Arc::new(SessionCookieKeys {
            current: config.secret_key.derive(SESSION_COOKIE_PURPOSE),
            fallbacks: config
                .secret_key_fallbacks
                .iter()
                .map(|k| k.derive(SESSION_COOKIE_PURPOSE))
                .collect(),
            cookie: config.session_cookie.clone(),
        })
    }

    fn verify(&self, key: &Key, raw: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(self.cookie.name.clone(), raw.to_owned()));
        jar.signed(key)
            .get(&self.cookie.name)
            .map(|c| c.value().to_owned())
    }

    fn sign(&self, id: &str) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.current)
            .add(Cookie::new(self.cookie.name.clone(), id.to_owned()));
        jar.get(&self.cookie.name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    fn set_cookie(&self, value: String) -> Option<HeaderValue> {
        let c = &self.cookie;
        let mut cookie = Cookie::build((c.name.clone(), value))
            .path(c.path.clone())
            .http_only(c.http_only)
            .secure(c.secure)
            .same_site(c.same_site)
            .build();
        if !c.expire_at_browser_close {
            cookie.set_max_age(time::Duration::try_from(c.idle_age).ok());
        }
        if let Some(domain) = &c.domain {
            cookie.set_domain(domain.clone());
        }
        HeaderValue::from_str(&cookie.to_string()).ok()
    }
}

/// Middleware, outside the session layer.
pub async fn resign_with_current_key(
    State(keys): State<Arc<SessionCookieKeys>>,
    mut req: Request,
    next: Next,
) -> Response {
    if keys.fallbacks.is_empty() {
        return next.run(req).await;
    }
    let name = keys.cookie.name.clone();
    let Some(raw) = super::request_cookie(req.headers(), &name) else {
        return next.run(req).await;
    };
    if keys.verify(&keys.current, &raw).is_some() {
        return next.run(req).await;
    }
    let Some(id) = keys.fallbacks.iter().find_map(|k| keys.verify(k, &raw)) else {
        // Not ours under any key: the session layer ignores it.
        return next.run(req).await;
    };
    let resigned = keys.sign(&id);

    // Hand the session layer the cookie as the current key signs it.
    let rewritten: Vec<HeaderValue> = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .map(|pair| match pair.trim().split_once('=') {
                    Some((n, _)) if n == name => format!("{name}={resigned}"),
                    _ => pair.trim().to_owned(),
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .filter_map(|v| HeaderValue::from_str(&v).ok())
        .collect();
    req.headers_mut().remove(header::COOKIE);
    for value in rewritten {
        req.headers_mut().append(header::COOKIE, value);
    }

    let mut res = next.run(req).await;
    let prefix = format!("{name}=");
    let sets_it = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .any(|v| v.as_bytes().starts_with(prefix.as_bytes()));
    if let Some(value) = keys.set_cookie(resigned).filter(|_| !sets_it) {
        res.headers_mut().append(header::SET_COOKIE, value);
        tracing::info!("session cookie signed with a fallback key re-issued under the current key");
    }
    res
}
