//! Key rotation for the session cookie. The session layer verifies its
//! cookie with the current key only; a cookie signed with a key listed in
//! `SECRET_KEY_FALLBACKS` is re-signed with the current key before the layer
//! sees it, and sent back re-signed, so rotating `SECRET_KEY` logs no one out.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use cookie::Cookie;

use super::keys::{SessionCookieKeys, SignedWith, request_jar};

/// Put in a request's extensions when its session cookie was signed with a
/// fallback key: the response re-issues the cookie even if the session is
/// not written, and it must keep the lifetime of its sign-in (see
/// `super::fit_lifetime_to_sign_in`).
#[derive(Debug, Clone, Copy)]
pub struct Resigned;

/// A step of the session routes' guard ([`super::guard`]), outside the
/// session layer.
pub async fn resign_with_current_key<F, Fut>(
    keys: &SessionCookieKeys,
    mut req: Request,
    next: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if !keys.has_fallbacks() {
        return next(req).await;
    }
    let Some((id, SignedWith::Fallback)) = keys.session_id(req.headers()) else {
        // No cookie, one under the current key, or one no key verifies
        // (the session layer ignores it): nothing to re-sign.
        return next(req).await;
    };
    let resigned = keys.sign(id);
    let name = keys.config().name.clone();

    // Hand the session layer the cookies as it would read them, the session
    // cookie as the current key signs it. Pieces the parser skips are
    // skipped by every reader of the cookies anyway.
    let jar = request_jar(req.headers());
    let rewritten = jar
        .iter()
        .filter(|c| c.name() != name)
        .cloned()
        .chain(std::iter::once(Cookie::new(name.clone(), resigned.clone())))
        .map(|c| c.encoded().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    req.headers_mut().remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&rewritten) {
        req.headers_mut().insert(header::COOKIE, value);
    }
    req.extensions_mut().insert(Resigned);

    let mut res = next(req).await;
    let sets_it = res
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
        .filter_map(|v| Cookie::parse_encoded(v.to_owned()).ok())
        .any(|c| c.name() == name);
    if sets_it {
        return res;
    }
    let cookie = keys.config().session_cookie(resigned);
    if let Ok(value) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        res.headers_mut().append(header::SET_COOKIE, value);
        tracing::info!("session cookie signed with a fallback key re-issued under the current key");
    }
    res
}
