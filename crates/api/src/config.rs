//! Configuration from environment variables. The variable names are a
//! contract: the README documents each one.
//!
//! serde reads the variables into [`Vars`] (numbers, flags, the accepted
//! spellings of each choice, and the defaults); [`Config::from_vars`] then
//! checks what spans several variables and derives the rest.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use axum::http::HeaderValue;
use serde::de::value::MapDeserializer;
use serde::de::{Error as _, IntoDeserializer};
use serde::{Deserialize, Deserializer};
use tower_sessions::cookie::SameSite;

use crate::client_ip::TrustedProxies;
use crate::limits::{Limit, Rate, Rates};
pub use crate::secret::SecretKey;
use crate::secret::Secrets;

/// Where the service runs. Production refuses to start without an explicit,
/// long enough `SECRET_KEY` and defaults session cookies to `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    #[serde(alias = "dev")]
    Development,
    #[serde(alias = "prod")]
    Production,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SessionBackend {
    Memory,
    Database,
    Redis,
    /// One file per session in `SESSION_FILE_PATH`.
    File,
}

/// How requests that change one session are made to take turns. By
/// default, across instances whenever the sessions are shared between
/// processes (Redis, the database store on PostgreSQL, or a directory of
/// session files), else within this process.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Deserialize, strum::IntoStaticStr, strum::VariantArray,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum SessionLock {
    /// Within this process: enough for one instance.
    Process,
    /// Also across instances, with a lock key in Redis (Redis sessions).
    Redis,
    /// Also across instances, with a lock row in the database (the
    /// database store).
    Database,
    /// Also across processes on this host, with an advisory lock on a file
    /// next to the session's (the file store).
    File,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[serde(alias = "text")]
    Pretty,
    Json,
}

/// `SESSION_COOKIE_SAMESITE`, read without regard to case.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SameSiteSetting {
    Lax,
    Strict,
    None,
}

impl From<SameSiteSetting> for SameSite {
    fn from(s: SameSiteSetting) -> Self {
        match s {
            SameSiteSetting::Lax => SameSite::Lax,
            SameSiteSetting::Strict => SameSite::Strict,
            SameSiteSetting::None => SameSite::None,
        }
    }
}

/// The session cookie's attributes, after Django's `SESSION_COOKIE_*` settings.
#[derive(Debug, Clone)]
pub struct SessionCookieConfig {
    pub name: String,
    /// How long a session lives after its last change.
    pub idle_age: Duration,
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
    pub domain: Option<String>,
    pub path: String,
    /// When set, the cookie has no `Max-Age` and the browser drops it on close;
    /// the server still forgets the session after `idle_age`.
    pub expire_at_browser_close: bool,
}

impl SessionCookieConfig {
    /// A cookie with the attributes every cookie of this API shares: path,
    /// domain, `Secure`, `SameSite` and `HttpOnly`. The one place they are set.
    pub fn cookie(
        &self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        value: impl Into<std::borrow::Cow<'static, str>>,
    ) -> cookie::Cookie<'static> {
        let mut cookie = cookie::Cookie::build((name, value))
            .path(self.path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .build();
        if let Some(domain) = &self.domain {
            cookie.set_domain(domain.clone());
        }
        cookie
    }

    /// The session cookie carrying `value`: the shared attributes, its own
    /// `HttpOnly` setting, and `Max-Age` unless it ends with the browser.
    pub fn session_cookie(
        &self,
        value: impl Into<std::borrow::Cow<'static, str>>,
    ) -> cookie::Cookie<'static> {
        let mut cookie = self.cookie(self.name.clone(), value);
        cookie.set_http_only(self.http_only);
        if !self.expire_at_browser_close {
            cookie.set_max_age(time::Duration::try_from(self.idle_age).ok());
        }
        cookie
    }
}

/// The limits of a signed-in session (anonymous ones keep
/// `SESSION_COOKIE_AGE`). Enforced by the server at every request that asks
/// who is signed in, whatever the cookie says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignInLimits {
    /// Without a request for this long, the session ends.
    pub idle: Duration,
    /// This long after sign-in, the session ends whatever happens.
    pub absolute: Duration,
    /// Both limits of a "remember me" sign-in, whose cookie is persistent.
    pub remember_me: Duration,
    /// End a signed-in session used from another client IP.
    pub bind_ip: bool,
}

impl Default for SignInLimits {
    fn default() -> Self {
        SignInLimits {
            idle: DEFAULT_SESSION_IDLE_TIMEOUT,
            absolute: DEFAULT_SESSION_ABSOLUTE_TIMEOUT,
            remember_me: DEFAULT_REMEMBER_ME_AGE,
            bind_ip: false,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub listen_addr: SocketAddr,
    /// Where `/metrics` is served, on a listener of its own; `None`: no
    /// metrics listener and no recorder (see [`crate::metrics`]).
    pub metrics_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub database_url: ServiceUrl,
    pub database_max_connections: u32,
    pub session_backend: SessionBackend,
    /// The directory of the file store's sessions.
    pub session_file_path: PathBuf,
    pub redis_url: Option<ServiceUrl>,
    pub redis_pool_size: usize,
    pub session_lock: SessionLock,
    pub secret_key: SecretKey,
    /// Older secrets: they only verify and decrypt, so that cookies made
    /// with them keep working (and are re-issued) after a rotation.
    pub secret_key_fallbacks: Vec<SecretKey>,
    pub session_cookie: SessionCookieConfig,
    /// How long a signed-in session lasts.
    pub sign_in: SignInLimits,
    pub session_cleanup_interval: Duration,
    pub cors_allowed_origins: Vec<HeaderValue>,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub catalog_cache_ttl: Duration,
    pub log_format: LogFormat,
    /// The proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: TrustedProxies,
    /// The budget of each rate limit (see [`crate::limits`]).
    pub rate_limits: Rates,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

/// The largest request body the API reads, in bytes; the spec's 413 names it.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;
/// REQUEST_TIMEOUT_MS when it is not set; the spec's 408 names it.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Two weeks, Django's `SESSION_COOKIE_AGE` default.
pub const DEFAULT_SESSION_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
/// A signed-in session ends after 30 minutes without a request...
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// ...and 8 hours after sign-in at the latest...
pub const DEFAULT_SESSION_ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);
/// ...or, with "remember me", 30 days after sign-in (both limits).
pub const DEFAULT_REMEMBER_ME_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The variables as given, each parsed on its own. `None` where the default
/// depends on another variable.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", default)]
struct Vars {
    app_env: Environment,
    #[serde(deserialize_with = "socket_address")]
    listen_addr: SocketAddr,
    #[serde(deserialize_with = "some_socket_address")]
    metrics_addr: Option<SocketAddr>,
    data_dir: PathBuf,
    #[serde(deserialize_with = "some")]
    database_url: Option<String>,
    #[serde(deserialize_with = "whole_number")]
    database_max_connections: u32,
    session_backend: SessionBackend,
    #[serde(deserialize_with = "some")]
    session_file_path: Option<PathBuf>,
    #[serde(deserialize_with = "some")]
    redis_url: Option<String>,
    #[serde(deserialize_with = "whole_number")]
    redis_pool_size: usize,
    #[serde(deserialize_with = "some")]
    session_lock: Option<SessionLock>,
    #[serde(deserialize_with = "some")]
    secret_key: Option<String>,
    #[serde(deserialize_with = "some")]
    secret_key_fallbacks: Option<String>,
    session_cookie_name: String,
    #[serde(deserialize_with = "whole_number")]
    session_cookie_age: u64,
    #[serde(deserialize_with = "some_flag")]
    session_cookie_secure: Option<bool>,
    #[serde(deserialize_with = "flag")]
    session_cookie_httponly: bool,
    #[serde(deserialize_with = "case_insensitive")]
    session_cookie_samesite: SameSiteSetting,
    #[serde(deserialize_with = "some")]
    session_cookie_domain: Option<String>,
    session_cookie_path: String,
    #[serde(deserialize_with = "flag")]
    session_expire_at_browser_close: bool,
    #[serde(deserialize_with = "whole_number")]
    session_idle_timeout: u64,
    #[serde(deserialize_with = "whole_number")]
    session_absolute_timeout: u64,
    #[serde(deserialize_with = "whole_number")]
    remember_me_age: u64,
    #[serde(deserialize_with = "flag")]
    session_bind_ip: bool,
    #[serde(deserialize_with = "whole_number")]
    session_cleanup_interval_secs: u64,
    #[serde(deserialize_with = "some")]
    cors_allowed_origins: Option<String>,
    #[serde(deserialize_with = "whole_number")]
    request_timeout_ms: u64,
    #[serde(deserialize_with = "whole_number")]
    catalog_cache_ttl_ms: u64,
    log_format: LogFormat,
    #[serde(deserialize_with = "trusted_proxies")]
    trusted_proxies: TrustedProxies,
    #[serde(deserialize_with = "rate")]
    login_limit_per_ip: Option<Rate>,
    #[serde(deserialize_with = "rate")]
    login_limit_per_username: Option<Rate>,
    #[serde(deserialize_with = "rate")]
    register_limit_per_ip: Option<Rate>,
    #[serde(deserialize_with = "rate")]
    register_limit_per_username: Option<Rate>,
    #[serde(deserialize_with = "rate")]
    new_session_limit_per_ip: Option<Rate>,
}

impl Default for Vars {
    fn default() -> Self {
        Vars {
            app_env: Environment::Development,
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            metrics_addr: None,
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: 10,
            session_backend: SessionBackend::Database,
            session_file_path: None,
            redis_url: None,
            redis_pool_size: 4,
            session_lock: None,
            secret_key: None,
            secret_key_fallbacks: None,
            session_cookie_name: "km_session".into(),
            session_cookie_age: DEFAULT_SESSION_AGE.as_secs(),
            session_cookie_secure: None,
            session_cookie_httponly: true,
            session_cookie_samesite: SameSiteSetting::Lax,
            session_cookie_domain: None,
            session_cookie_path: "/".into(),
            session_expire_at_browser_close: false,
            session_idle_timeout: DEFAULT_SESSION_IDLE_TIMEOUT.as_secs(),
            session_absolute_timeout: DEFAULT_SESSION_ABSOLUTE_TIMEOUT.as_secs(),
            remember_me_age: DEFAULT_REMEMBER_ME_AGE.as_secs(),
            session_bind_ip: false,
            session_cleanup_interval_secs: 300,
            cors_allowed_origins: None,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT.as_millis() as u64,
            catalog_cache_ttl_ms: 1_000,
            log_format: LogFormat::Pretty,
            trusted_proxies: TrustedProxies::default(),
            login_limit_per_ip: Some(Limit::LoginPerIp.default_rate()),
            login_limit_per_username: Some(Limit::LoginPerUsername.default_rate()),
            register_limit_per_ip: Some(Limit::RegisterPerIp.default_rate()),
            register_limit_per_username: Some(Limit::RegisterPerUsername.default_rate()),
            new_session_limit_per_ip: Some(Limit::NewSessionPerIp.default_rate()),
        }
    }
}

impl Vars {
    /// Reads the variables this service knows. A blank value counts as unset;
    /// an error names the variable and what it accepts.
    fn read(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let given = vars.into_iter().filter_map(|(name, value)| {
            let value = value.trim();
            (!value.is_empty()).then(|| (name, value.to_owned()))
        });
        let map = MapDeserializer::<_, serde::de::value::Error>::new(given);
        serde_path_to_error::deserialize(map).map_err(|e| {
            let name = e.path().to_string();
            ConfigError::new(format!("{name}: {}", e.inner()))
        })
    }
}

fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn whole_number<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| D::Error::custom(format!("must be a non-negative whole number, not `{text}`")))
}

fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let text = String::deserialize(d)?;
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(D::Error::custom(format!(
            "must be true or false, not `{text}`"
        ))),
    }
}

fn some_flag<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    flag(d).map(Some)
}

fn socket_address<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map_err(|e| {
        D::Error::custom(format!(
            "must be a socket address like 127.0.0.1:8080, not `{text}` ({e})"
        ))
    })
}

fn some_socket_address<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    socket_address(d).map(Some)
}

fn trusted_proxies<'de, D: Deserializer<'de>>(d: D) -> Result<TrustedProxies, D::Error> {
    TrustedProxies::parse(&String::deserialize(d)?).map_err(D::Error::custom)
}

fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Rate>, D::Error> {
    Rate::parse(&String::deserialize(d)?).map_err(D::Error::custom)
}

fn case_insensitive<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<T, D::Error> {
    let text = String::deserialize(d)?.to_ascii_lowercase();
    T::deserialize(IntoDeserializer::<D::Error>::into_deserializer(text))
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Reads the given variables, as if they were the environment; tests use
    /// this to start an app without touching the process environment.
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let v = Vars::read(vars)?;
        let production = v.app_env == Environment::Production;
        let database_url = ServiceUrl(database_url(v.database_url.as_deref(), &v.data_dir)?);
        let redis_url = v
            .redis_url
            .as_deref()
            .map(redis_url)
            .transpose()?
            .map(ServiceUrl);
        let session_lock = session_lock(&v, &database_url)?;
        let secrets = Secrets::read(
            v.secret_key.as_deref(),
            v.secret_key_fallbacks.as_deref(),
            production,
            &v.data_dir,
        )?;
        let session_cookie = session_cookie(&v, production)?;
        let sign_in = sign_in_limits(&v)?;
        let cors_allowed_origins = cors_origins(v.cors_allowed_origins.as_deref())?;
        let rate_limits = rate_limits(&v);
        let session_file_path = v
            .session_file_path
            .clone()
            .unwrap_or_else(|| v.data_dir.join("sessions"));
        if let Some(metrics) = v.metrics_addr
            && metrics == v.listen_addr
            && metrics.port() != 0
        {
            // The two cannot share a socket, and /metrics must not be public.
            return Err(ConfigError::new(format!(
                "METRICS_ADDR must differ from LISTEN_ADDR ({metrics}): the metrics are served on a listener of their own"
            )));
        }
        if v.request_timeout_ms == 0 {
            // Zero would stop every request before it starts.
            return Err(ConfigError::new(
                "REQUEST_TIMEOUT_MS must be at least 1 (milliseconds); the default is 10000",
            ));
        }
        Ok(Config {
            environment: v.app_env,
            listen_addr: v.listen_addr,
            metrics_addr: v.metrics_addr,
            data_dir: v.data_dir,
            database_url,
            database_max_connections: v.database_max_connections,
            session_backend: v.session_backend,
            session_file_path,
            redis_url,
            redis_pool_size: v.redis_pool_size.max(1),
            session_lock,
            secret_key: secrets.current,
            secret_key_fallbacks: secrets.fallbacks,
            session_cookie,
            sign_in,
            session_cleanup_interval: Duration::from_secs(v.session_cleanup_interval_secs.max(1)),
            cors_allowed_origins,
            request_timeout: Duration::from_millis(v.request_timeout_ms),
            body_limit_bytes: BODY_LIMIT_BYTES,
            catalog_cache_ttl: Duration::from_millis(v.catalog_cache_ttl_ms),
            log_format: v.log_format,
            trusted_proxies: v.trusted_proxies,
            rate_limits,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// A database or Redis URL. It may hold a password, so its `Debug` (a
/// `Config` printed whole) shows the password as `***`; it reads as a
/// `&str` everywhere else.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ServiceUrl {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", masked(&self.0))
    }
}

/// `url` with the password of its user info, and of any query parameter
/// whose name says password (Sentinel's `sentinelPassword`), as `***`.
fn masked(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let address = match address.rsplit_once('@') {
        Some((user_info, hosts)) => match user_info.split_once(':') {
            Some((user, _)) => format!("{user}:***@{hosts}"),
            None => address.to_owned(),
        },
        None => address.to_owned(),
    };
    let mut masked = format!("{scheme}://{address}");
    if !query.is_empty() {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                    format!("{name}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        masked.push('?');
        masked.push_str(&params.join("&"));
    }
    masked
}

/// `DATABASE_URL`, or a SQLite file in the data folder.
fn database_url(given: Option<&str>, data_dir: &std::path::Path) -> Result<String, ConfigError> {
    let url = given.map(str::to_owned).unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("kitchen-memory.db").display()
        )
    });
    if ["sqlite:", "postgres://", "postgresql://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
    {
        Ok(url)
    } else {
        Err(ConfigError::new(
            "DATABASE_URL must start with sqlite:, postgres:// or postgresql://",
        ))
    }
}

/// The forms `REDIS_URL` takes, for the message that refuses another.
const REDIS_URL_FORMS: &str = "redis://host:port/db, redis-cluster://host:port,host:port,... \
    or redis-sentinel://host:port/db?sentinelServiceName=NAME (fred's URL forms)";

/// `REDIS_URL`, in the form fred reads, checked now so that a malformed one
/// stops the service at start, naming the variable, rather than at the
/// first connection. A cluster's or Sentinel's nodes may follow the scheme
/// comma-separated (`redis-cluster://h1:p1,h2:p2`); fred takes the others as
/// `node` parameters (`redis-cluster://h1:p1?node=h2:p2`), so they are
/// moved there. The URL never goes into a message: it may hold a password.
fn redis_url(given: &str) -> Result<String, ConfigError> {
    let refuse =
        |why: &str| ConfigError::new(format!("REDIS_URL {why}; it takes {REDIS_URL_FORMS}"));
    let Some((scheme, rest)) = given.split_once("://") else {
        return Err(refuse("has no scheme"));
    };
    let scheme = scheme.to_ascii_lowercase();
    let several = match scheme.as_str() {
        "redis" | "valkey" => false,
        "redis-cluster" | "valkey-cluster" | "redis-sentinel" | "valkey-sentinel" => true,
        // fred is built without TLS here, and would connect in plain text.
        s if s.starts_with("rediss") || s.starts_with("valkeys") => {
            return Err(refuse(
                "asks for TLS, which this build does not speak (reach Redis over a trusted network or a TLS tunnel)",
            ));
        }
        _ => return Err(refuse("has a scheme that is not Redis's")),
    };
    // The authority ends at the path, the query or the fragment; its hosts
    // follow the last `@` (a password may hold a comma).
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let (user, hosts) = match authority.rfind('@') {
        Some(at) => authority.split_at(at + 1),
        None => ("", authority),
    };
    let url = if hosts.contains(',') {
        if !several {
            return Err(refuse(
                "lists several hosts, which needs redis-cluster:// or redis-sentinel://",
            ));
        }
        let mut hosts = hosts.split(',').map(str::trim);
        let first = hosts.next().unwrap_or_default();
        let others: Vec<&str> = hosts.collect();
        if first.is_empty() || others.iter().any(|h| h.is_empty()) {
            return Err(refuse("has an empty host in its list"));
        }
        let (tail, fragment) = tail.split_at(tail.find('#').unwrap_or(tail.len()));
        let (path, query) = match tail.split_once('?') {
            Some((path, query)) => (path, Some(query)),
            None => (tail, None),
        };
        let mut params: Vec<String> = others.iter().map(|h| format!("node={h}")).collect();
        params.extend(query.filter(|q| !q.is_empty()).map(str::to_owned));
        format!(
            "{scheme}://{user}{first}{path}?{}{fragment}",
            params.join("&")
        )
    } else {
        given.to_owned()
    };
    tower_sessions_redis_store::fred::types::config::Config::from_url(&url)
        .map_err(|e| refuse(&format!("does not parse ({})", e.details())))?;
    Ok(url)
}

/// Redis sessions need a URL; the Redis lock needs Redis sessions, the
/// database lock the database store, and the file lock the file store.
/// Unset, the lock is the one that makes the store's sessions safe to
/// share: several instances reach one Redis or one PostgreSQL, and several
/// processes on a host one directory, while memory sessions live in one
/// process and a SQLite file is meant for one.
fn session_lock(v: &Vars, database_url: &str) -> Result<SessionLock, ConfigError> {
    let redis_sessions = v.session_backend == SessionBackend::Redis;
    if redis_sessions && v.redis_url.is_none() {
        return Err(ConfigError::new(
            "SESSION_BACKEND=redis needs REDIS_URL (like redis://127.0.0.1:6379/0)",
        ));
    }
    let database_sessions = v.session_backend == SessionBackend::Database;
    let file_sessions = v.session_backend == SessionBackend::File;
    match v.session_lock {
        Some(SessionLock::Redis) if !redis_sessions => Err(ConfigError::new(
            "SESSION_LOCK=redis needs SESSION_BACKEND=redis",
        )),
        Some(SessionLock::Database) if !database_sessions => Err(ConfigError::new(
            "SESSION_LOCK=database needs SESSION_BACKEND=database",
        )),
        Some(SessionLock::File) if !file_sessions => Err(ConfigError::new(
            "SESSION_LOCK=file needs SESSION_BACKEND=file",
        )),
        Some(lock) => Ok(lock),
        None if redis_sessions => Ok(SessionLock::Redis),
        None if file_sessions => Ok(SessionLock::File),
        None if database_sessions && !database_url.starts_with("sqlite:") => {
            Ok(SessionLock::Database)
        }
        None => Ok(SessionLock::Process),
    }
}

fn rate_limits(v: &Vars) -> Rates {
    let mut rates = Rates::default();
    rates.set(Limit::LoginPerIp, v.login_limit_per_ip);
    rates.set(Limit::LoginPerUsername, v.login_limit_per_username);
    rates.set(Limit::RegisterPerIp, v.register_limit_per_ip);
    rates.set(Limit::RegisterPerUsername, v.register_limit_per_username);
    rates.set(Limit::NewSessionPerIp, v.new_session_limit_per_ip);
    rates
}

/// The cookie's attributes; `Secure` defaults on in production.
fn session_cookie(v: &Vars, production: bool) -> Result<SessionCookieConfig, ConfigError> {
    let same_site = SameSite::from(v.session_cookie_samesite);
    let secure = v.session_cookie_secure.unwrap_or(production);
    if same_site == SameSite::None && !secure {
        return Err(ConfigError::new(
            "SESSION_COOKIE_SAMESITE=none needs SESSION_COOKIE_SECURE=true: browsers drop SameSite=None cookies that are not Secure",
        ));
    }
    if v.session_cookie_age == 0 {
        return Err(ConfigError::new(
            "SESSION_COOKIE_AGE must be at least 1 second",
        ));
    }
    if !is_cookie_name(&v.session_cookie_name) {
        return Err(ConfigError::new(
            "SESSION_COOKIE_NAME may hold only letters, digits, `_` and `-`",
        ));
    }
    Ok(SessionCookieConfig {
        name: v.session_cookie_name.clone(),
        idle_age: Duration::from_secs(v.session_cookie_age),
        secure,
        http_only: v.session_cookie_httponly,
        same_site,
        domain: v.session_cookie_domain.clone(),
        path: v.session_cookie_path.clone(),
        expire_at_browser_close: v.session_expire_at_browser_close,
    })
}

/// The signed-in limits, each at least a second.
fn sign_in_limits(v: &Vars) -> Result<SignInLimits, ConfigError> {
    for (name, value) in [
        ("SESSION_IDLE_TIMEOUT", v.session_idle_timeout),
        ("SESSION_ABSOLUTE_TIMEOUT", v.session_absolute_timeout),
        ("REMEMBER_ME_AGE", v.remember_me_age),
    ] {
        if value == 0 {
            return Err(ConfigError::new(format!(
                "{name} must be at least 1 second"
            )));
        }
    }
    Ok(SignInLimits {
        idle: Duration::from_secs(v.session_idle_timeout),
        absolute: Duration::from_secs(v.session_absolute_timeout),
        remember_me: Duration::from_secs(v.remember_me_age),
        bind_ip: v.session_bind_ip,
    })
}

/// `CORS_ALLOWED_ORIGINS`, comma-separated: each a scheme and a host, never
/// `*` (browsers refuse credentials with it) nor `null`.
fn cors_origins(list: Option<&str>) -> Result<Vec<HeaderValue>, ConfigError> {
    list.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            if o == "*" {
                return Err(ConfigError::new(
                    "CORS_ALLOWED_ORIGINS cannot be `*`: browsers refuse credentials with a wildcard; list each origin",
                ));
            }
            if o.eq_ignore_ascii_case("null") || !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(ConfigError::new(format!(
                    "CORS_ALLOWED_ORIGINS takes origins like https://app.example.com; `{o}` is not one (`null` would trust every sandboxed page)"
                )));
            }
            HeaderValue::from_str(o.trim_end_matches('/')).map_err(|_| {
                ConfigError::new(format!("CORS_ALLOWED_ORIGINS has an invalid origin `{o}`"))
            })
        })
        .collect()
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn production_without_a_secret_key_is_a_clear_error() {
        let err = Config::from_vars(vars(&[("APP_ENV", "production")])).unwrap_err();
        assert!(err.to_string().contains("needs SECRET_KEY"), "{err}");
    }

    #[test]
    fn a_short_secret_key_is_refused() {
        let err = Config::from_vars(vars(&[("SECRET_KEY", "short")])).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
    }

    #[test]
    fn production_defaults_to_secure_cookies() {
        let c = Config::from_vars(vars(&[("APP_ENV", "production"), ("SECRET_KEY", KEY)])).unwrap();
        assert!(c.session_cookie.secure);
        assert_eq!(c.session_cookie.same_site, SameSite::Lax);
        assert!(c.session_cookie.http_only);
        assert_eq!(c.session_cookie.idle_age, DEFAULT_SESSION_AGE);
    }

    #[test]
    fn redis_backend_needs_a_url() {
        let err = Config::from_vars(vars(&[("SECRET_KEY", KEY), ("SESSION_BACKEND", "redis")]))
            .unwrap_err();
        assert!(err.to_string().contains("REDIS_URL"), "{err}");
    }

    fn redis_url_of(url: &str) -> Result<String, ConfigError> {
        Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("SESSION_BACKEND", "redis"),
            ("REDIS_URL", url),
        ]))
        .map(|c| c.redis_url.unwrap().as_str().to_owned())
    }

    /// The servers fred reads from a URL: the cluster's or the sentinels'.
    fn servers_of(url: &str) -> Vec<String> {
        use tower_sessions_redis_store::fred::types::config::{Config as Fred, ServerConfig};
        let mut servers: Vec<String> = match Fred::from_url(url).unwrap().server {
            ServerConfig::Clustered { hosts, .. } | ServerConfig::Sentinel { hosts, .. } => {
                hosts.iter().map(ToString::to_string).collect()
            }
            other => panic!("not a cluster nor Sentinel: {other:?}"),
        };
        servers.sort();
        servers
    }

    #[test]
    fn a_cluster_or_sentinel_url_may_list_its_nodes_comma_separated() {
        let url =
            redis_url_of("redis-cluster://10.0.0.1:7000,10.0.0.2:7001, 10.0.0.3:7002").unwrap();
        assert_eq!(
            url,
            "redis-cluster://10.0.0.1:7000?node=10.0.0.2:7001&node=10.0.0.3:7002"
        );
        assert_eq!(
            servers_of(&url),
            ["10.0.0.1:7000", "10.0.0.2:7001", "10.0.0.3:7002"]
        );
        // A password may hold a comma; a path and a query are kept.
        let url =
            redis_url_of("redis-sentinel://:pa,ss@s1:26379,s2:26380/2?sentinelServiceName=kitchen")
                .unwrap();
        assert_eq!(
            url,
            "redis-sentinel://:pa,ss@s1:26379/2?node=s2:26380&sentinelServiceName=kitchen"
        );
        assert_eq!(servers_of(&url), ["s1:26379", "s2:26380"]);
    }

    #[test]
    fn fred_s_own_redis_url_forms_are_taken_as_given() {
        for url in [
            "redis://127.0.0.1:6379/0",
            "redis://:secret@redis.internal:6379",
            "redis-cluster://h1:7000?node=h2:7001&node=h3:7002",
            "redis-sentinel://s1:26379/0?sentinelServiceName=kitchen&node=s2:26379",
        ] {
            assert_eq!(redis_url_of(url).unwrap(), url);
        }
    }

    #[test]
    fn a_malformed_redis_url_stops_the_service_naming_the_variable_but_not_its_password() {
        for (url, says) in [
            ("127.0.0.1:6379", "no scheme"),
            ("http://127.0.0.1:6379", "not Redis's"),
            ("rediss://:s3cret@h:6379", "TLS"),
            ("redis://:s3cret@h1:6379,h2:6379", "redis-cluster://"),
            ("redis-cluster://h1:7000,,h3:7002", "empty host"),
            ("redis-cluster://h1:7000,h2", "does not parse"),
            ("redis-sentinel://:s3cret@s1:26379/0", "does not parse"),
            ("redis://:s3cret@h:port", "does not parse"),
            ("redis://h:6379/zero", "does not parse"),
        ] {
            let err = redis_url_of(url).unwrap_err().to_string();
            assert!(
                err.contains("REDIS_URL") && err.contains(says),
                "{url}: {err}"
            );
            assert!(err.contains("redis-cluster://host:port,host:port"), "{err}");
            assert!(!err.contains("s3cret"), "{err}");
        }
    }

    /// The session lock a configuration with `extra` (and a secret) gets.
    fn lock_of(extra: &[(&'static str, &'static str)]) -> Result<SessionLock, ConfigError> {
        let mut v = vec![("SECRET_KEY", KEY)];
        v.extend_from_slice(extra);
        Config::from_vars(vars(&v)).map(|c| c.session_lock)
    }

    #[test]
    fn shared_sessions_take_turns_across_instances_unless_told_otherwise() {
        let redis = [
            ("SESSION_BACKEND", "redis"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ];
        let postgres = [("DATABASE_URL", "postgres://db/kitchen")];
        assert_eq!(lock_of(&redis).unwrap(), SessionLock::Redis);
        assert_eq!(lock_of(&postgres).unwrap(), SessionLock::Database);
        assert_eq!(lock_of(&[]).unwrap(), SessionLock::Process, "SQLite");
        assert_eq!(
            lock_of(&[("SESSION_BACKEND", "memory")]).unwrap(),
            SessionLock::Process
        );
        let overridden = [redis.as_slice(), &[("SESSION_LOCK", "process")]].concat();
        assert_eq!(lock_of(&overridden).unwrap(), SessionLock::Process);
        let on_sqlite = [("SESSION_LOCK", "database")];
        assert_eq!(lock_of(&on_sqlite).unwrap(), SessionLock::Database);

        let err = lock_of(&[("SESSION_LOCK", "redis")]).unwrap_err();
        assert!(err.to_string().contains("SESSION_BACKEND=redis"), "{err}");
        let wrong = [redis.as_slice(), &[("SESSION_LOCK", "database")]].concat();
        let err = lock_of(&wrong).unwrap_err();
        assert!(
            err.to_string().contains("SESSION_BACKEND=database"),
            "{err}"
        );
    }

    #[test]
    fn file_sessions_take_turns_with_file_locks_unless_told_otherwise() {
        let file = [("SESSION_BACKEND", "file")];
        assert_eq!(lock_of(&file).unwrap(), SessionLock::File);
        let overridden = [file.as_slice(), &[("SESSION_LOCK", "process")]].concat();
        assert_eq!(lock_of(&overridden).unwrap(), SessionLock::Process);
        for backend in ["memory", "database", "redis"] {
            let err = lock_of(&[
                ("SESSION_BACKEND", backend),
                ("REDIS_URL", "redis://127.0.0.1:6379"),
                ("SESSION_LOCK", "file"),
            ])
            .unwrap_err();
            assert!(err.to_string().contains("SESSION_BACKEND=file"), "{err}");
        }
        for lock in ["redis", "database"] {
            let wrong = [file.as_slice(), &[("SESSION_LOCK", lock)]].concat();
            assert!(lock_of(&wrong).is_err(), "SESSION_LOCK={lock}");
        }
    }

    #[test]
    fn session_files_go_to_the_data_folder_unless_a_path_is_given() {
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("DATA_DIR", "/var/lib/kitchen"),
            ("SESSION_BACKEND", "file"),
        ]))
        .unwrap();
        assert_eq!(c.session_backend, SessionBackend::File);
        assert_eq!(
            c.session_file_path,
            PathBuf::from("/var/lib/kitchen/sessions")
        );
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("SESSION_BACKEND", "file"),
            ("SESSION_FILE_PATH", "/srv/sessions"),
        ]))
        .unwrap();
        assert_eq!(c.session_file_path, PathBuf::from("/srv/sessions"));
    }

    #[test]
    fn samesite_none_needs_secure() {
        let err = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("SESSION_COOKIE_SAMESITE", "none"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("SESSION_COOKIE_SECURE"), "{err}");
    }

    #[test]
    fn a_null_or_schemeless_cors_origin_is_refused() {
        for bad in ["null", "app.example.com"] {
            let err =
                Config::from_vars(vars(&[("SECRET_KEY", KEY), ("CORS_ALLOWED_ORIGINS", bad)]))
                    .unwrap_err();
            assert!(err.to_string().contains("is not one"), "{err}");
        }
    }

    #[test]
    fn a_wildcard_cors_origin_is_refused() {
        let err = Config::from_vars(vars(&[("SECRET_KEY", KEY), ("CORS_ALLOWED_ORIGINS", "*")]))
            .unwrap_err();
        assert!(err.to_string().contains("wildcard"), "{err}");
    }

    #[test]
    fn the_secret_is_never_printed() {
        let old = "an-older-secret-key-0123456789abcdef";
        let c =
            Config::from_vars(vars(&[("SECRET_KEY", KEY), ("SECRET_KEY_FALLBACKS", old)])).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains(KEY) && !printed.contains(old));
        assert_eq!(c.secret_key_fallbacks.len(), 1);
    }

    #[test]
    fn the_passwords_in_database_and_redis_urls_are_never_printed() {
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("DATABASE_URL", "postgres://kitchen:pg-pass@db:5432/km"),
            ("SESSION_BACKEND", "redis"),
            (
                "REDIS_URL",
                "redis-sentinel://app:redis-pass@s1:26379/0?sentinelServiceName=km&sentinelPassword=sentinel-pass",
            ),
        ]))
        .unwrap();
        let printed = format!("{c:?}");
        for password in ["pg-pass", "redis-pass", "sentinel-pass"] {
            assert!(!printed.contains(password), "{password} in {printed}");
        }
        assert!(
            printed.contains("postgres://kitchen:***@db:5432/km"),
            "{printed}"
        );
        assert!(
            printed.contains("sentinelServiceName=km&sentinelPassword=***"),
            "{printed}"
        );
        assert_eq!(
            c.database_url.as_str(),
            "postgres://kitchen:pg-pass@db:5432/km"
        );
    }

    #[test]
    fn a_short_fallback_key_is_refused() {
        let err = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("SECRET_KEY_FALLBACKS", "short"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("SECRET_KEY_FALLBACKS"), "{err}");
    }

    #[test]
    fn a_request_timeout_of_zero_is_refused_and_one_millisecond_is_not() {
        let err = Config::from_vars(vars(&[("SECRET_KEY", KEY), ("REQUEST_TIMEOUT_MS", "0")]))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("REQUEST_TIMEOUT_MS must be at least 1"),
            "{err}"
        );
        let c =
            Config::from_vars(vars(&[("SECRET_KEY", KEY), ("REQUEST_TIMEOUT_MS", "1")])).unwrap();
        assert_eq!(c.request_timeout, Duration::from_millis(1));
    }

    #[test]
    fn the_signed_in_limits_default_to_half_an_hour_eight_hours_and_thirty_days() {
        let c = Config::from_vars(vars(&[("SECRET_KEY", KEY)])).unwrap();
        assert_eq!(c.sign_in, SignInLimits::default());
        assert_eq!(c.sign_in.idle, Duration::from_secs(1800));
        assert_eq!(c.sign_in.absolute, Duration::from_secs(28800));
        assert_eq!(c.sign_in.remember_me, Duration::from_secs(30 * 86400));
        assert!(!c.sign_in.bind_ip);
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("SESSION_IDLE_TIMEOUT", "60"),
            ("SESSION_ABSOLUTE_TIMEOUT", "600"),
            ("REMEMBER_ME_AGE", "86400"),
            ("SESSION_BIND_IP", "on"),
        ]))
        .unwrap();
        assert_eq!(c.sign_in.idle, Duration::from_secs(60));
        assert_eq!(c.sign_in.absolute, Duration::from_secs(600));
        assert_eq!(c.sign_in.remember_me, Duration::from_secs(86400));
        assert!(c.sign_in.bind_ip);
    }

    #[test]
    fn a_signed_in_limit_of_zero_is_refused() {
        for name in [
            "SESSION_IDLE_TIMEOUT",
            "SESSION_ABSOLUTE_TIMEOUT",
            "REMEMBER_ME_AGE",
        ] {
            let err = Config::from_vars(vars(&[("SECRET_KEY", KEY), (name, "0")])).unwrap_err();
            assert!(
                err.to_string()
                    .contains(&format!("{name} must be at least 1 second")),
                "{err}"
            );
        }
    }

    #[test]
    fn each_malformed_variable_is_named_with_what_it_accepts() {
        for (name, value, accepts) in [
            ("APP_ENV", "staging", &["`development`", "`production`"][..]),
            (
                "SESSION_BACKEND",
                "mongo",
                &["`memory`", "`database`", "`redis`", "`file`"],
            ),
            (
                "SESSION_LOCK",
                "zookeeper",
                &["`process`", "`redis`", "`database`", "`file`"],
            ),
            ("LOG_FORMAT", "xml", &["`pretty`", "`json`"]),
            (
                "SESSION_COOKIE_SAMESITE",
                "sometimes",
                &["`lax`", "`strict`", "`none`"],
            ),
            ("REDIS_POOL_SIZE", "-1", &["non-negative whole number"]),
            (
                "CATALOG_CACHE_TTL_MS",
                "1.5",
                &["non-negative whole number"],
            ),
            ("SESSION_COOKIE_SECURE", "maybe", &["true or false"]),
            (
                "SESSION_IDLE_TIMEOUT",
                "30m",
                &["non-negative whole number"],
            ),
            (
                "SESSION_ABSOLUTE_TIMEOUT",
                "-5",
                &["non-negative whole number"],
            ),
            ("REMEMBER_ME_AGE", "1e6", &["non-negative whole number"]),
            ("SESSION_BIND_IP", "sometimes", &["true or false"]),
            ("LISTEN_ADDR", "localhost", &["like 127.0.0.1:8080"]),
            ("METRICS_ADDR", "9090", &["like 127.0.0.1:8080"]),
        ] {
            let err = Config::from_vars(vars(&[("SECRET_KEY", KEY), (name, value)])).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(&format!("{name}: ")), "{message}");
            assert!(message.contains(&format!("`{value}`")), "{message}");
            for accepted in accepts {
                assert!(message.contains(accepted), "{message}");
            }
        }
    }

    #[test]
    fn metrics_are_off_unless_an_address_is_given_and_it_is_not_the_api_s_own() {
        let c = Config::from_vars(vars(&[("SECRET_KEY", KEY)])).unwrap();
        assert_eq!(c.metrics_addr, None);
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("METRICS_ADDR", "0.0.0.0:9090"),
        ]))
        .unwrap();
        assert_eq!(c.metrics_addr, Some(SocketAddr::from(([0, 0, 0, 0], 9090))));
        let err = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("LISTEN_ADDR", "127.0.0.1:8080"),
            ("METRICS_ADDR", "127.0.0.1:8080"),
        ]))
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("METRICS_ADDR must differ from LISTEN_ADDR"),
            "{err}"
        );
        // Port 0 twice is two free ports, as the tests use.
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("LISTEN_ADDR", "127.0.0.1:0"),
            ("METRICS_ADDR", "127.0.0.1:0"),
        ]))
        .unwrap();
        assert_eq!(c.metrics_addr, Some(SocketAddr::from(([127, 0, 0, 1], 0))));
    }

    #[test]
    fn a_malformed_trusted_proxy_is_named_and_a_good_list_reads() {
        for bad in [
            "10.0.0.0/8, 10.0.0.300",
            "10.0.0.0/8,10.0.0.0/40",
            "proxy.internal",
        ] {
            let err = Config::from_vars(vars(&[("SECRET_KEY", KEY), ("TRUSTED_PROXIES", bad)]))
                .unwrap_err()
                .to_string();
            assert!(err.contains("TRUSTED_PROXIES: "), "{err}");
            assert!(err.contains("like 10.0.0.0/8"), "{err}");
            let wrong = bad.rsplit(',').next().unwrap().trim();
            assert!(err.contains(&format!("`{wrong}`")), "{err}");
        }
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("TRUSTED_PROXIES", " 10.0.0.0/8 , 192.0.2.10,fd00::/8 "),
        ]))
        .unwrap();
        assert!(c.trusted_proxies.contains("192.0.2.10".parse().unwrap()));
        assert!(c.trusted_proxies.contains("10.20.30.40".parse().unwrap()));
        assert!(!c.trusted_proxies.contains("192.0.2.11".parse().unwrap()));
        let c = Config::from_vars(vars(&[("SECRET_KEY", KEY)])).unwrap();
        assert!(c.trusted_proxies.is_empty());
    }

    #[test]
    fn each_rate_limit_reads_its_own_variable_and_a_malformed_one_is_named() {
        let c = Config::from_vars(vars(&[("SECRET_KEY", KEY)])).unwrap();
        for limit in Limit::ALL {
            assert_eq!(c.rate_limits.get(limit), Some(limit.default_rate()));
        }
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("LOGIN_LIMIT_PER_IP", "5/60"),
            ("LOGIN_LIMIT_PER_USERNAME", "0"),
            ("REGISTER_LIMIT_PER_IP", "3/7200"),
            ("REGISTER_LIMIT_PER_USERNAME", "4/600"),
            ("NEW_SESSION_LIMIT_PER_IP", "off"),
        ]))
        .unwrap();
        assert_eq!(c.rate_limits.get(Limit::LoginPerIp), Rate::new(5, 60));
        assert_eq!(c.rate_limits.get(Limit::LoginPerUsername), None);
        assert_eq!(c.rate_limits.get(Limit::RegisterPerIp), Rate::new(3, 7200));
        assert_eq!(
            c.rate_limits.get(Limit::RegisterPerUsername),
            Rate::new(4, 600)
        );
        assert_eq!(c.rate_limits.get(Limit::NewSessionPerIp), None);
        for limit in Limit::ALL {
            let err = Config::from_vars(vars(&[
                ("SECRET_KEY", KEY),
                (limit.variable(), "20 per 5m"),
            ]))
            .unwrap_err()
            .to_string();
            assert!(err.contains(&format!("{}: ", limit.variable())), "{err}");
            assert!(
                err.contains("`20 per 5m`") && err.contains("like 20/300"),
                "{err}"
            );
        }
    }

    #[test]
    fn every_accepted_spelling_still_reads_and_a_blank_value_is_unset() {
        let c = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("APP_ENV", "prod"),
            ("LOG_FORMAT", "text"),
            ("SESSION_COOKIE_SAMESITE", "Strict"),
            ("SESSION_COOKIE_HTTPONLY", "OFF"),
            ("SESSION_EXPIRE_AT_BROWSER_CLOSE", "yes"),
            ("REDIS_POOL_SIZE", " 0 "),
            ("SESSION_COOKIE_NAME", "  "),
            ("LISTEN_ADDR", "0.0.0.0:9000"),
        ]))
        .unwrap();
        assert_eq!(c.environment, Environment::Production);
        assert_eq!(c.log_format, LogFormat::Pretty);
        assert_eq!(c.session_cookie.same_site, SameSite::Strict);
        assert!(!c.session_cookie.http_only);
        assert!(c.session_cookie.expire_at_browser_close);
        assert_eq!(c.redis_pool_size, 1, "at least one connection");
        assert_eq!(c.session_cookie.name, "km_session");
        assert_eq!(c.listen_addr, SocketAddr::from(([0, 0, 0, 0], 9000)));
        let c = Config::from_vars(vars(&[("SECRET_KEY", KEY), ("APP_ENV", "dev")])).unwrap();
        assert_eq!(c.environment, Environment::Development);
        assert!(!c.session_cookie.secure);
    }
}
