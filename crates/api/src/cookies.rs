//! The cookie toolkit: signed cookies (tamper-proof, readable) and private
//! cookies (encrypted and authenticated), on the `cookie` crate's signed and
//! private jars, with what Django's signed cookies lack:
//!
//! - a key per purpose and name, derived from `SECRET_KEY`, so a value made
//!   for one cookie never verifies as another;
//! - the issue time inside the protected value, so `max_age` is enforced by
//!   the server, not only by the browser;
//! - key rotation: `SECRET_KEY` seals, `SECRET_KEY_FALLBACKS` only open; a
//!   cookie opened with a fallback key is re-issued under the current key in
//!   the same response, keeping its issue time;
//! - a bad cookie (tampered, truncated, expired, wrong purpose, oversized) is
//!   treated as absent: the default applies, a warning names the cookie (never
//!   its value) and the response removes it.
//!
//! Each cookie is defined once, by its [`CookieSpec`]: its name, key
//! purpose, seal and age, and what a cookie policy says of it (category and
//! purpose in a visitor's words). The privacy view and export
//! (`routes/privacy.rs`), forget-me and the README's cookie table
//! ([`policy_table`], compared with the README by a test) all read these.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponseParts, ResponseParts};
use axum_extra::extract::cookie::{Cookie, CookieJar};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::clock::Clock;
use crate::config::{Config, SecretKey, SessionCookieConfig};
use crate::error::{ApiError, ProblemKind};
use crate::session::keys::SessionCookieKeys;
use crate::state::AppState;

/// Browsers drop cookies larger than this (name, value and attributes).
pub const MAX_COOKIE_BYTES: usize = 4096;

/// How a cookie's value is protected: `signed` or `encrypted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Seal {
    /// Readable by the browser, but any change is detected.
    Signed,
    /// Encrypted and authenticated: neither readable nor changeable.
    #[serde(rename = "encrypted")]
    Private,
}

impl Seal {
    /// How the cookie policy names it.
    pub fn describe(self) -> &'static str {
        match self {
            Seal::Signed => "signed (HMAC-SHA256)",
            Seal::Private => "encrypted (AES-256-GCM)",
        }
    }
}

/// Why a cookie is set, in the two groups of the ePrivacy rules:
/// `strictly-necessary` (the service cannot work without it; no consent is
/// asked) or `functional` (it remembers a choice or a standing the visitor
/// made).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    StrictlyNecessary,
    Functional,
}

impl Category {
    /// How the cookie policy names it.
    pub fn describe(self) -> &'static str {
        match self {
            Category::StrictlyNecessary => "strictly necessary",
            Category::Functional => "functional",
        }
    }
}

/// One kind of cookie the API issues.
#[derive(Debug, Clone, Copy)]
pub struct CookieSpec {
    pub name: &'static str,
    /// Django's `salt`: part of the key derivation.
    pub purpose: &'static str,
    pub seal: Seal,
    pub max_age: Duration,
    pub category: Category,
    /// What the cookie is for, in a visitor's words: the privacy view, the
    /// export and the README's cookie table show this text.
    pub about: &'static str,
}

const DAY: u64 = 24 * 3600;

impl CookieSpec {
    /// A signed cookie (readable, tamper-proof) kept for `days`.
    pub const fn signed(name: &'static str, purpose: &'static str, days: u64) -> Self {
        CookieSpec::sealed(name, purpose, Seal::Signed, days)
    }

    /// A private cookie (encrypted and authenticated) kept for `days`.
    pub const fn private(name: &'static str, purpose: &'static str, days: u64) -> Self {
        CookieSpec::sealed(name, purpose, Seal::Private, days)
    }

    const fn sealed(name: &'static str, purpose: &'static str, seal: Seal, days: u64) -> Self {
        CookieSpec {
            name,
            purpose,
            seal,
            max_age: Duration::from_secs(days * DAY),
            category: Category::Functional,
            about: "",
        }
    }

    /// The cookie's category and what it is for, as the cookie policy says.
    pub const fn described(mut self, category: Category, about: &'static str) -> Self {
        self.category = category;
        self.about = about;
        self
    }
}

pub const PREFERENCES: CookieSpec = CookieSpec::private("preferences", "preferences", 365)
    .described(
        Category::Functional,
        "Your display preferences: preferred cuisine, theme, font size, reduced motion.",
    );
/// The library's reading settings: a second preference cookie, apart from
/// the display preferences, with its own key.
pub const READING_SETTINGS: CookieSpec =
    CookieSpec::private("reading_settings", "reading-settings", 365).described(
        Category::Functional,
        "How you like a book's pages set: font size, theme, line spacing, font, text width.",
    );
pub const LOYALTY: CookieSpec = CookieSpec::signed("loyalty", "loyalty", 30).described(
    Category::Functional,
    "The total this browser has spent here, which sets your loyalty level; re-issued at each order.",
);
pub const VIP: CookieSpec = CookieSpec::signed("vip", "vip", 365).described(
    Category::Functional,
    "Your VIP membership: since when, your points and your standing special requests.",
);
pub const VISIT_SUMMARY: CookieSpec =
    CookieSpec::signed("last_visit_summary", "visit-summary", 30).described(
        Category::Functional,
        "Left when you say goodbye or sign out: your name, visit count, the date and the book you were reading, so the next visit continues from there.",
    );

/// Every cookie the API issues besides the session cookie, in the order the
/// cookie policy lists them. [`AppCookies`], the one way handlers read and
/// write cookies, refuses in debug builds (every test) a cookie left out
/// of it, so that none escapes the privacy view, forget-me and the cookie
/// table.
pub const ISSUED: [CookieSpec; 5] = [PREFERENCES, READING_SETTINGS, LOYALTY, VIP, VISIT_SUMMARY];

/// Fails a debug build's request that reads or writes a cookie missing from
/// [`ISSUED`]: the test of the route that does it fails at once.
fn assert_issued(spec: &CookieSpec) {
    debug_assert!(
        ISSUED
            .iter()
            .any(|s| s.name == spec.name && s.purpose == spec.purpose),
        "the `{}` cookie is not in cookies::ISSUED: add it there, so that the privacy view lists it, forget-me removes it and the README's cookie table names it",
        spec.name
    );
}

/// The session cookie as the cookie policy and the privacy view describe
/// it. Its name (`SESSION_COOKIE_NAME`), its signing and its lifetime are
/// the session layer's (`crate::session`); what it is, in the policy's
/// terms, lives here, beside the other cookies'.
pub struct SessionCookieSpec {
    pub about: &'static str,
    pub category: Category,
    pub seal: Seal,
}

pub const SESSION_COOKIE: SessionCookieSpec = SessionCookieSpec {
    about: "Your session: a random id, signed, naming what the server keeps for you (cart, profile, visits, orders, reading list) and whether you are signed in.",
    category: Category::StrictlyNecessary,
    // The session layer signs it (`SessionManagerLayer::with_signed`).
    seal: Seal::Signed,
};

/// One row of the cookie policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyEntry {
    pub name: String,
    pub about: &'static str,
    pub category: Category,
    pub lifetime: String,
    pub seal: Seal,
}

/// Every cookie the API sets, the session cookie first, with the lifetimes
/// `config` gives them.
pub fn policy(config: &Config) -> Vec<PolicyEntry> {
    let cookie = &config.session_cookie;
    let anonymous = if cookie.expire_at_browser_close {
        format!(
            "until the browser closes (the server forgets the session {} after its last change)",
            span(cookie.idle_age)
        )
    } else {
        format!("{} after the session's last change", span(cookie.idle_age))
    };
    let session = PolicyEntry {
        name: cookie.name.clone(),
        about: SESSION_COOKIE.about,
        category: SESSION_COOKIE.category,
        lifetime: format!(
            "{anonymous}; signed in: until the browser closes, or {} with remember me",
            span(config.sign_in.remember_me)
        ),
        seal: SESSION_COOKIE.seal,
    };
    std::iter::once(session)
        .chain(ISSUED.iter().map(|spec| PolicyEntry {
            name: spec.name.to_owned(),
            about: spec.about,
            category: spec.category,
            lifetime: span(spec.max_age),
            seal: spec.seal,
        }))
        .collect()
}

/// The cookie policy as the Markdown table the README carries.
pub fn policy_table(config: &Config) -> String {
    let mut table = String::from(
        "| cookie | purpose | category | lifetime | protection |\n|---|---|---|---|---|\n",
    );
    for entry in policy(config) {
        table.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            entry.name,
            entry.about,
            entry.category.describe(),
            entry.lifetime,
            entry.seal.describe()
        ));
    }
    table
}

/// A lifetime in the largest whole unit: "1 year", "30 days", "8 hours".
fn span(age: Duration) -> String {
    let secs = age.as_secs();
    let (n, unit) = if secs >= 365 * DAY && secs.is_multiple_of(365 * DAY) {
        (secs / (365 * DAY), "year")
    } else if secs >= DAY && secs.is_multiple_of(DAY) {
        (secs / DAY, "day")
    } else if secs >= 3600 && secs.is_multiple_of(3600) {
        (secs / 3600, "hour")
    } else if secs >= 60 && secs.is_multiple_of(60) {
        (secs / 60, "minute")
    } else {
        (secs, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// Keys and attributes for every cookie the API issues.
pub struct CookieKit {
    current: SecretKey,
    fallbacks: Vec<SecretKey>,
    /// Path, domain, `Secure` and `SameSite`, shared with the session cookie.
    attributes: SessionCookieConfig,
    /// The session cookie's keys, to tell whether it verifies as the session
    /// layer verifies it (without telling the id).
    session_keys: Arc<SessionCookieKeys>,
}

/// What opening a cookie found.
#[derive(Debug, PartialEq, Eq)]
pub enum Opened<T> {
    /// Valid under the current key.
    Current { value: T, issued_at: OffsetDateTime },
    /// Valid under a fallback key: to be re-issued under the current one.
    Fallback { value: T, issued_at: OffsetDateTime },
    /// Not to be trusted; the reason is for the log.
    Invalid(&'static str),
}

/// Issue times this far in the future are accepted (clock skew between instances).
const FUTURE_SKEW: time::Duration = time::Duration::minutes(5);

fn key_for(secret: &SecretKey, spec: &CookieSpec) -> cookie::Key {
    secret.derive(&format!("cookie:{}:{}", spec.purpose, spec.name))
}

impl CookieKit {
    pub fn new(config: &Config) -> Self {
        CookieKit {
            current: config.secret_key.clone(),
            fallbacks: config.secret_key_fallbacks.clone(),
            attributes: config.session_cookie.clone(),
            session_keys: SessionCookieKeys::new(config),
        }
    }

    /// The raw cookie value for `value` issued at `issued_at`, sealed with `secret`.
    /// Public so tests can make cookies with other keys and times.
    pub fn seal_with<T: Serialize>(
        secret: &SecretKey,
        spec: &CookieSpec,
        value: &T,
        issued_at: OffsetDateTime,
    ) -> Result<String, serde_json::Error> {
        let plain = format!(
            "{}|{}",
            issued_at.unix_timestamp(),
            serde_json::to_string(value)?
        );
        let key = key_for(secret, spec);
        let mut jar = cookie::CookieJar::new();
        match spec.seal {
            Seal::Signed => jar.signed_mut(&key).add(cookie::Cookie::new(
                spec.name,
                URL_SAFE_NO_PAD.encode(plain),
            )),
            Seal::Private => jar
                .private_mut(&key)
                .add(cookie::Cookie::new(spec.name, plain)),
        }
        Ok(jar
            .get(spec.name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default())
    }

    fn open_with(secret: &SecretKey, spec: &CookieSpec, raw: &str) -> Option<String> {
        let key = key_for(secret, spec);
        let mut jar = cookie::CookieJar::new();
        jar.add_original(cookie::Cookie::new(spec.name, raw.to_owned()));
        match spec.seal {
            Seal::Signed => {
                let encoded = jar.signed(&key).get(spec.name)?;
                String::from_utf8(URL_SAFE_NO_PAD.decode(encoded.value()).ok()?).ok()
            }
            Seal::Private => jar
                .private(&key)
                .get(spec.name)
                .map(|c| c.value().to_owned()),
        }
    }

    /// Opens a raw cookie value: authenticity, purpose, age and shape.
    pub fn open<T: DeserializeOwned>(
        &self,
        spec: &CookieSpec,
        raw: &str,
        now: OffsetDateTime,
    ) -> Opened<T> {
        if spec.name.len() + 1 + raw.len() > MAX_COOKIE_BYTES {
            return Opened::Invalid("oversized");
        }
        let (plain, current) = match Self::open_with(&self.current, spec, raw) {
            Some(p) => (p, true),
            None => match self
                .fallbacks
                .iter()
                .find_map(|k| Self::open_with(k, spec, raw))
            {
                Some(p) => (p, false),
                None => {
                    return Opened::Invalid(
                        "signature or encryption does not verify (tampered, truncated, another purpose, or an unknown key)",
                    );
                }
            },
        };
        let Some((ts, json)) = plain.split_once('|') else {
            return Opened::Invalid("malformed");
        };
        let Some(issued_at) = ts
            .parse::<i64>()
            .ok()
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        else {
            return Opened::Invalid("malformed issue time");
        };
        let max_age = time::Duration::try_from(spec.max_age).unwrap_or(time::Duration::MAX);
        if issued_at > now + FUTURE_SKEW {
            return Opened::Invalid("issued in the future");
        }
        if now - issued_at >= max_age {
            return Opened::Invalid("expired");
        }
        let Ok(value) = serde_json::from_str(json) else {
            return Opened::Invalid("content does not decode");
        };
        if current {
            Opened::Current { value, issued_at }
        } else {
            Opened::Fallback { value, issued_at }
        }
    }

    fn build(&self, spec: &CookieSpec, value: String, max_age: Duration) -> Cookie<'static> {
        let mut cookie = self.attributes.cookie(spec.name, value);
        cookie.set_max_age(time::Duration::try_from(max_age).unwrap_or(time::Duration::MAX));
        cookie
    }

    fn removal(&self, spec: &CookieSpec) -> Cookie<'static> {
        self.attributes.cookie(spec.name, "")
    }
}

/// What the browser sent of one cookie, as the privacy view shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Inspected {
    /// It verifies (under the current key or a fallback): what it holds.
    Verified {
        value: serde_json::Value,
        issued_at: OffsetDateTime,
        /// When the server stops accepting it.
        expires_at: OffsetDateTime,
    },
    /// It does not verify; why, in words that name no value.
    NotVerified(&'static str),
}

/// The request's cookies and the changes a handler makes to them; returned
/// from the handler, it adds the `Set-Cookie` headers.
pub struct AppCookies {
    jar: CookieJar,
    kit: Arc<CookieKit>,
    /// The service's clock: issue times and ages are read from it.
    clock: Clock,
}

impl FromRequestParts<AppState> for AppCookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(AppCookies {
            jar: CookieJar::from_headers(&parts.headers),
            kit: state.cookies.clone(),
            clock: state.clock.clone(),
        })
    }
}

impl IntoResponseParts for AppCookies {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        self.jar.into_response_parts(res)
    }
}

impl AppCookies {
    /// The cookie's value and issue time, or `None` when it is absent or not
    /// to be trusted (then it is removed).
    pub fn read<T: DeserializeOwned + Serialize>(
        &mut self,
        spec: &CookieSpec,
    ) -> Option<(T, OffsetDateTime)> {
        assert_issued(spec);
        let raw = self.jar.get(spec.name)?.value().to_owned();
        let now = self.clock.now();
        match self.kit.open::<T>(spec, &raw, now) {
            Opened::Current { value, issued_at } => Some((value, issued_at)),
            Opened::Fallback { value, issued_at } => {
                // Re-issued under the current key, with its original issue time and age.
                match CookieKit::seal_with(&self.kit.current, spec, &value, issued_at) {
                    Ok(sealed) => {
                        let left = time::Duration::try_from(spec.max_age)
                            .unwrap_or(time::Duration::MAX)
                            - (now - issued_at);
                        let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                        let cookie = self.kit.build(spec, sealed, left);
                        self.jar = std::mem::take(&mut self.jar).add(cookie);
                        tracing::info!(
                            cookie = spec.name,
                            "cookie made with a fallback key re-issued under the current key"
                        );
                    }
                    Err(e) => {
                        tracing::warn!(cookie = spec.name, error = %e, "re-issuing a cookie failed")
                    }
                }
                Some((value, issued_at))
            }
            Opened::Invalid(reason) => {
                tracing::warn!(
                    cookie = spec.name,
                    reason,
                    "ignoring and removing a cookie that cannot be trusted"
                );
                self.remove(spec);
                None
            }
        }
    }

    /// What the browser sent of `spec`, opened but left as it came: unlike
    /// [`AppCookies::read`], a bad cookie is not removed and a cookie made
    /// with a fallback key is not re-issued, so that a read of the privacy
    /// view changes nothing.
    pub fn inspect(&self, spec: &CookieSpec) -> Option<Inspected> {
        let raw = self.jar.get(spec.name)?.value();
        Some(
            match self
                .kit
                .open::<serde_json::Value>(spec, raw, self.clock.now())
            {
                Opened::Current { value, issued_at } | Opened::Fallback { value, issued_at } => {
                    let age = time::Duration::try_from(spec.max_age).unwrap_or(time::Duration::MAX);
                    Inspected::Verified {
                        value,
                        issued_at,
                        expires_at: issued_at.saturating_add(age),
                    }
                }
                Opened::Invalid(reason) => Inspected::NotVerified(reason),
            },
        )
    }

    /// The session cookie's name, and whether the browser sent one that
    /// verifies: `None` when it sent none.
    pub fn session_cookie(&self) -> (&str, Option<bool>) {
        let name = self.kit.attributes.name.as_str();
        let verified = self
            .jar
            .get(name)
            .map(|c| self.kit.session_keys.session_id_of(c.value()).is_some());
        (name, verified)
    }

    /// Removes every cookie of the API the request carries (the browser
    /// sends them all: they share one path and domain), matching the path
    /// and domain they were set with; the session cookie too when it does
    /// not verify (one that does is the session layer's to remove, when its
    /// session ends).
    pub fn remove_all(&mut self) {
        for spec in &ISSUED {
            self.remove(spec);
        }
        if let (name, Some(false)) = self.session_cookie() {
            let removal = self.kit.attributes.cookie(name.to_owned(), "");
            self.jar = std::mem::take(&mut self.jar).remove(removal);
        }
    }

    /// Sets the cookie to `value`, issued now. Refused with a 422 when the
    /// cookie would exceed 4096 bytes.
    pub fn write<T: Serialize>(&mut self, spec: &CookieSpec, value: &T) -> Result<(), ApiError> {
        assert_issued(spec);
        let sealed = CookieKit::seal_with(&self.kit.current, spec, value, self.clock.now())
            .map_err(ApiError::internal)?;
        let cookie = self.kit.build(spec, sealed, spec.max_age);
        // As it goes on the wire: percent-encoded.
        let size = cookie.encoded().to_string().len();
        if size > MAX_COOKIE_BYTES {
            return Err(ApiError::new(
                ProblemKind::CookieTooLarge,
                format!(
                    "This would make the `{}` cookie {size} bytes long; browsers keep cookies of at most {MAX_COOKIE_BYTES} bytes. Send less data.",
                    spec.name
                ),
            ));
        }
        self.jar = std::mem::take(&mut self.jar).add(cookie);
        Ok(())
    }

    /// Removes the cookie, matching the path and domain it was set with.
    pub fn remove(&mut self, spec: &CookieSpec) {
        assert_issued(spec);
        let removal = self.kit.removal(spec);
        self.jar = std::mem::take(&mut self.jar).remove(removal);
    }

    /// The answer of a DELETE on a cookie-held resource: the cookie removed,
    /// 204 No Content (also when there was no cookie: DELETE is idempotent).
    pub fn forget(mut self, spec: &CookieSpec) -> (Self, StatusCode) {
        self.remove(spec);
        (self, StatusCode::NO_CONTENT)
    }
}

#[cfg(test)]
mod tests {
    use axum_extra::extract::cookie::SameSite;

    use super::*;

    fn secret(s: &str) -> SecretKey {
        SecretKey::new(format!("{s:-<40}").into_bytes()).unwrap()
    }

    fn kit(current: &str, fallbacks: &[&str]) -> CookieKit {
        let current = secret(current);
        let fallbacks: Vec<SecretKey> = fallbacks.iter().map(|f| secret(f)).collect();
        let attributes = SessionCookieConfig {
            name: "km_session".into(),
            idle_age: Duration::from_secs(3600),
            secure: false,
            http_only: true,
            same_site: SameSite::Lax,
            domain: None,
            path: "/".into(),
            expire_at_browser_close: false,
        };
        CookieKit {
            session_keys: SessionCookieKeys::with_secrets(&current, &fallbacks, attributes.clone()),
            current,
            fallbacks,
            attributes,
        }
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "is not in cookies::ISSUED")]
    fn a_cookie_left_out_of_the_issued_list_cannot_be_written() {
        const UNLISTED: CookieSpec = CookieSpec::signed("unlisted", "unlisted", 1);
        let mut cookies = AppCookies {
            jar: CookieJar::new(),
            kit: Arc::new(kit("current", &[])),
            clock: Clock::manual(OffsetDateTime::now_utc()),
        };
        let _ = cookies.write(&UNLISTED, &1);
    }

    #[test]
    fn every_issued_cookie_can_be_written_and_read() {
        let mut cookies = AppCookies {
            jar: CookieJar::new(),
            kit: Arc::new(kit("current", &[])),
            clock: Clock::manual(OffsetDateTime::now_utc()),
        };
        for spec in &ISSUED {
            cookies.write(spec, &1).unwrap();
            cookies.remove(spec);
        }
    }

    #[test]
    fn every_way_a_cookie_can_be_wrong_is_caught() {
        let kit = kit("new", &["old"]);
        let now = OffsetDateTime::now_utc();
        let value = serde_json::json!({"spent": "12.50"});
        for spec in [LOYALTY, PREFERENCES] {
            let good = CookieKit::seal_with(&kit.current, &spec, &value, now).unwrap();
            assert!(matches!(
                kit.open::<serde_json::Value>(&spec, &good, now),
                Opened::Current { .. }
            ));

            // A flipped bit anywhere.
            for i in [0, good.len() / 2, good.len() - 1] {
                let mut bytes = good.clone().into_bytes();
                bytes[i] ^= 0x01;
                let flipped = String::from_utf8_lossy(&bytes).into_owned();
                assert!(
                    matches!(
                        kit.open::<serde_json::Value>(&spec, &flipped, now),
                        Opened::Invalid(_)
                    ),
                    "{} bit {i}",
                    spec.name
                );
            }
            // Truncated.
            assert!(matches!(
                kit.open::<serde_json::Value>(&spec, &good[..good.len() - 3], now),
                Opened::Invalid(_)
            ));
            // Expired.
            let old =
                now - time::Duration::try_from(spec.max_age).unwrap() - time::Duration::seconds(1);
            let expired = CookieKit::seal_with(&kit.current, &spec, &value, old).unwrap();
            assert_eq!(
                kit.open::<serde_json::Value>(&spec, &expired, now),
                Opened::Invalid("expired")
            );
            // From a fallback key: accepted, flagged for re-issue.
            let rotated = CookieKit::seal_with(&secret("old"), &spec, &value, now).unwrap();
            assert!(matches!(
                kit.open::<serde_json::Value>(&spec, &rotated, now),
                Opened::Fallback { .. }
            ));
            // From an unknown key.
            let stranger = CookieKit::seal_with(&secret("unknown"), &spec, &value, now).unwrap();
            assert!(matches!(
                kit.open::<serde_json::Value>(&spec, &stranger, now),
                Opened::Invalid(_)
            ));
        }
        // Moved to another cookie (another purpose and name).
        let vip = CookieKit::seal_with(&kit.current, &VIP, &value, now).unwrap();
        assert!(matches!(
            kit.open::<serde_json::Value>(&LOYALTY, &vip, now),
            Opened::Invalid(_)
        ));
        // Oversized.
        let huge = "a".repeat(MAX_COOKIE_BYTES);
        assert_eq!(
            kit.open::<serde_json::Value>(&LOYALTY, &huge, now),
            Opened::Invalid("oversized")
        );
    }

    #[test]
    fn lifetimes_read_in_the_largest_whole_unit() {
        let secs = Duration::from_secs;
        assert_eq!(span(secs(365 * DAY)), "1 year");
        assert_eq!(span(secs(730 * DAY)), "2 years");
        assert_eq!(span(secs(30 * DAY)), "30 days");
        assert_eq!(span(secs(DAY)), "1 day");
        assert_eq!(span(secs(8 * 3600)), "8 hours");
        assert_eq!(span(secs(90 * 60)), "90 minutes");
        assert_eq!(span(secs(90)), "90 seconds");
    }

    #[test]
    fn every_cookie_the_api_issues_is_described_for_the_cookie_policy() {
        let mut names: Vec<&str> = ISSUED.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ISSUED.len(), "a cookie listed twice");
        for spec in ISSUED {
            assert!(spec.about.len() > 20, "{} has no purpose", spec.name);
        }
    }

    #[test]
    fn private_cookies_do_not_show_their_content_and_signed_ones_do() {
        let kit = kit("k", &[]);
        let now = OffsetDateTime::now_utc();
        let value = serde_json::json!({"theme": "dark-and-secret"});
        let private = CookieKit::seal_with(&kit.current, &PREFERENCES, &value, now).unwrap();
        let signed = CookieKit::seal_with(&kit.current, &LOYALTY, &value, now).unwrap();
        let shows = |raw: &str| {
            let decoded: Vec<u8> = [raw, &raw[raw.len().min(44)..]]
                .iter()
                .flat_map(|s| {
                    URL_SAFE_NO_PAD
                        .decode(s.trim_end_matches('='))
                        .unwrap_or_default()
                })
                .collect();
            String::from_utf8_lossy(&decoded).contains("dark-and-secret")
        };
        assert!(!private.contains("dark-and-secret") && !shows(&private));
        assert!(shows(&signed));
    }
}
