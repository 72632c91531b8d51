//! The session cookie as the session layer reads it. The per-session lock
//! and key rotation must agree with tower-sessions on which session a
//! request belongs to, or a request could reach a session without its turn
//! (a duplicate cookie, a percent-encoded value). So they read it the same
//! way: the `cookie` crate's parser, percent-decoded, the last cookie of a
//! name winning, and the value verified with the session's signing key.

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use cookie::{Cookie, CookieJar, Key};
use tower_sessions::session::Id;

use crate::config::{Config, SecretKey, SessionCookieConfig};

/// The purpose the session cookie's signing key is derived for.
pub const SESSION_COOKIE_PURPOSE: &str = "session-cookie";

/// A request's cookies, parsed as tower-cookies 0.11 parses them for the
/// session layer (`Cookies::jar`): every `Cookie` header that is UTF-8, each
/// `;`-separated piece percent-decoded, pieces that do not parse skipped,
/// and a later cookie replacing an earlier one of the same name.
pub fn request_jar(headers: &HeaderMap) -> CookieJar {
    let mut jar = CookieJar::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = std::str::from_utf8(value.as_bytes()) else {
            continue;
        };
        for cookie in Cookie::split_parse_encoded(text.to_owned()).flatten() {
            jar.add_original(cookie);
        }
    }
    jar
}

/// Which key signed a session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedWith {
    Current,
    /// One of `SECRET_KEY_FALLBACKS`: to be re-signed with the current key.
    Fallback,
}

/// The session cookie's keys and attributes.
pub struct SessionCookieKeys {
    current: Key,
    fallbacks: Vec<Key>,
    cookie: SessionCookieConfig,
}

impl SessionCookieKeys {
    pub fn new(config: &Config) -> Arc<Self> {
        Self::with_secrets(
            &config.secret_key,
            &config.secret_key_fallbacks,
            config.session_cookie.clone(),
        )
    }

    /// From the secrets and the cookie's settings alone.
    pub fn with_secrets(
        current: &SecretKey,
        fallbacks: &[SecretKey],
        cookie: SessionCookieConfig,
    ) -> Arc<Self> {
        Arc::new(SessionCookieKeys {
            current: current.derive(SESSION_COOKIE_PURPOSE),
            fallbacks: fallbacks
                .iter()
                .map(|k| k.derive(SESSION_COOKIE_PURPOSE))
                .collect(),
            cookie,
        })
    }

    pub fn config(&self) -> &SessionCookieConfig {
        &self.cookie
    }

    pub fn has_fallbacks(&self) -> bool {
        !self.fallbacks.is_empty()
    }

    /// The verified session id of a request, and the key that signed it.
    /// `None` when the session layer would see no session: no cookie, a
    /// signature no key verifies, or a value that is not a session id.
    pub fn session_id(&self, headers: &HeaderMap) -> Option<(Id, SignedWith)> {
        self.verified(&request_jar(headers))
    }

    /// As [`SessionCookieKeys::session_id`], for the session cookie's value
    /// alone.
    pub fn session_id_of(&self, value: &str) -> Option<(Id, SignedWith)> {
        let mut jar = CookieJar::new();
        jar.add_original(Cookie::new(self.cookie.name.clone(), value.to_owned()));
        self.verified(&jar)
    }

    fn verified(&self, jar: &CookieJar) -> Option<(Id, SignedWith)> {
        let name = self.cookie.name.as_str();
        jar.get(name)?;
        let verified_with = |key: &Key| jar.signed(key).get(name);
        let (cookie, signed_with) = match verified_with(&self.current) {
            Some(c) => (c, SignedWith::Current),
            None => (
                self.fallbacks.iter().find_map(verified_with)?,
                SignedWith::Fallback,
            ),
        };
        // As the session layer does: a signed value that is no id is no session.
        let id = cookie.value().parse::<Id>().ok()?;
        Some((id, signed_with))
    }

    /// The session cookie's value for `id`, signed with the current key.
    pub fn sign(&self, id: Id) -> String {
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.current)
            .add(Cookie::new(self.cookie.name.clone(), id.to_string()));
        jar.get(&self.cookie.name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    /// The key the session layer signs with.
    pub fn current(&self) -> &Key {
        &self.current
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use axum::http::HeaderValue;

    use super::*;

    pub(crate) const SECRET: &str = "unit-test-secret-key-0123456789abcdef-0123456789";

    /// A configuration signing with `secret`, also accepting `fallbacks`.
    pub(crate) fn config(secret: &str, fallbacks: Option<&str>) -> Config {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("SECRET_KEY".into(), secret.to_owned());
        if let Some(f) = fallbacks {
            vars.insert("SECRET_KEY_FALLBACKS".into(), f.to_owned());
        }
        Config::from_vars(vars).unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(header::COOKIE, HeaderValue::from_str(v).unwrap());
        }
        headers
    }

    #[test]
    fn the_id_is_read_as_the_session_layer_reads_it() {
        let keys = SessionCookieKeys::new(&config(SECRET, None));
        let id = Id::default();
        let signed = keys.sign(id);
        let read = |values: &[&str]| keys.session_id(&headers(values)).map(|(id, _)| id);

        assert_eq!(read(&[&format!("km_session={signed}")]), Some(id));
        // A junk duplicate first: the last one wins.
        assert_eq!(
            read(&[&format!("km_session=junk; km_session={signed}")]),
            Some(id)
        );
        assert_eq!(
            read(&["km_session=junk", &format!("other=1; km_session={signed}")]),
            Some(id)
        );
        // Percent-encoded: decoded first.
        let encoded = signed
            .replace('=', "%3D")
            .replace('+', "%2B")
            .replace('/', "%2F");
        assert_eq!(read(&[&format!("km_session={encoded}")]), Some(id));
        // The real one first and a junk one last: the session layer sees junk.
        assert_eq!(
            read(&[&format!("km_session={signed}; km_session=junk")]),
            None
        );
        // A signed value that is not an id.
        let mut jar = CookieJar::new();
        jar.signed_mut(keys.current())
            .add(Cookie::new("km_session", "not-an-id"));
        let not_id = jar.get("km_session").unwrap().value().to_owned();
        assert_eq!(read(&[&format!("km_session={not_id}")]), None);
    }

    #[test]
    fn a_cookie_signed_with_a_fallback_key_is_read_and_flagged() {
        let old = SessionCookieKeys::new(&config(SECRET, None));
        let id = Id::default();
        let signed = old.sign(id);
        let other = "another-secret-key-0123456789abcdef-0123456789";
        let rotated = SessionCookieKeys::new(&config(other, Some(SECRET)));
        assert_eq!(
            rotated.session_id(&headers(&[&format!("km_session={signed}")])),
            Some((id, SignedWith::Fallback))
        );
        let stranger = SessionCookieKeys::new(&config(other, None));
        assert_eq!(
            stranger.session_id(&headers(&[&format!("km_session={signed}")])),
            None
        );
    }
}
