//! Configuration from environment variables. The variable names are a
//! contract: the README documents each one.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::HeaderValue;
use rand::RngCore;
use tower_sessions::cookie::SameSite;

/// Where the service runs. Production refuses to start without an explicit,
/// long enough `SECRET_KEY` and defaults session cookies to `Secure`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionBackend {
    Memory,
    Database,
    Redis,
}

/// How requests that change one session are made to take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionLock {
    /// Within this process: enough for one instance.
    Process,
    /// Also across instances, with a lock key in Redis.
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// The secret that keys every signed or encrypted cookie. Never printed.
#[derive(Clone)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// The shortest secret accepted, in bytes.
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, ConfigError> {
        let bytes = bytes.into();
        if bytes.len() < Self::MIN_LEN {
            return Err(ConfigError::new(format!(
                "SECRET_KEY must be at least {} characters long (it has {}); generate one with `openssl rand -hex 32`",
                Self::MIN_LEN,
                bytes.len()
            )));
        }
        Ok(SecretKey(bytes))
    }

    /// A key for one purpose, derived from the secret, so that a value made
    /// for one purpose never verifies for another.
    pub fn derive(&self, purpose: &str) -> cookie::Key {
        let mut material = self.0.clone();
        material.extend_from_slice(b"\x00kitchen-memory\x00");
        material.extend_from_slice(purpose.as_bytes());
        cookie::Key::derive_from(&material)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(<redacted>)")
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

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub listen_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub database_max_connections: u32,
    pub session_backend: SessionBackend,
    pub redis_url: Option<String>,
    pub redis_pool_size: usize,
    pub session_lock: SessionLock,
    pub secret_key: SecretKey,
    /// Older secrets: they only verify and decrypt, so that cookies made
    /// with them keep working (and are re-issued) after a rotation.
    pub secret_key_fallbacks: Vec<SecretKey>,
    pub session_cookie: SessionCookieConfig,
    pub session_cleanup_interval: Duration,
    pub cors_allowed_origins: Vec<HeaderValue>,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub catalog_cache_ttl: Duration,
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    fn new(msg: impl Into<String>) -> Self {
        ConfigError(msg.into())
    }
}

/// Two weeks, Django's `SESSION_COOKIE_AGE` default.
pub const DEFAULT_SESSION_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Reads the given variables, as if they were the environment; tests use
    /// this to start an app without touching the process environment.
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            vars.get(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let environment = match get("APP_ENV").as_deref() {
            None | Some("development") | Some("dev") => Environment::Development,
            Some("production") | Some("prod") => Environment::Production,
            Some(other) => {
                return Err(ConfigError::new(format!(
                    "APP_ENV must be `development` or `production`, not `{other}`"
                )));
            }
        };
        let production = environment == Environment::Production;

        let listen_addr = get("LISTEN_ADDR")
            .unwrap_or_else(|| "127.0.0.1:8080".into())
            .parse()
            .map_err(|e| {
                ConfigError::new(format!(
                    "LISTEN_ADDR is not a socket address (like 127.0.0.1:8080): {e}"
                ))
            })?;

        let data_dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let database_url = match get("DATABASE_URL") {
            Some(url) => url,
            None => format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("kitchen-memory.db").display()
            ),
        };
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "DATABASE_URL must start with sqlite:, postgres:// or postgresql://",
            ));
        }
        let database_max_connections = parse_num(&get, "DATABASE_MAX_CONNECTIONS", 10u32)?;

        let session_backend = match get("SESSION_BACKEND").as_deref() {
            None | Some("database") => SessionBackend::Database,
            Some("memory") => SessionBackend::Memory,
            Some("redis") => SessionBackend::Redis,
            Some(other) => {
                return Err(ConfigError::new(format!(
                    "SESSION_BACKEND must be `memory`, `database` or `redis`, not `{other}`"
                )));
            }
        };
        let redis_url = get("REDIS_URL");
        if session_backend == SessionBackend::Redis && redis_url.is_none() {
            return Err(ConfigError::new(
                "SESSION_BACKEND=redis needs REDIS_URL (like redis://127.0.0.1:6379/0)",
            ));
        }
        let redis_pool_size = parse_num(&get, "REDIS_POOL_SIZE", 4usize)?.max(1);
        let session_lock = match get("SESSION_LOCK").as_deref() {
            None | Some("process") => SessionLock::Process,
            Some("redis") if session_backend == SessionBackend::Redis => SessionLock::Redis,
            Some("redis") => {
                return Err(ConfigError::new(
                    "SESSION_LOCK=redis needs SESSION_BACKEND=redis",
                ));
            }
            Some(other) => {
                return Err(ConfigError::new(format!(
                    "SESSION_LOCK must be `process` or `redis`, not `{other}`"
                )));
            }
        };

        let secret_key = match get("SECRET_KEY") {
            Some(key) => SecretKey::new(key.into_bytes())?,
            None if production => {
                return Err(ConfigError::new(
                    "APP_ENV=production needs SECRET_KEY (at least 32 characters; `openssl rand -hex 32` makes one)",
                ));
            }
            None => dev_secret_key(&data_dir)?,
        };

        let secret_key_fallbacks = match get("SECRET_KEY_FALLBACKS") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| {
                    SecretKey::new(k.as_bytes().to_vec()).map_err(|_| {
                        ConfigError::new(format!(
                            "every key in SECRET_KEY_FALLBACKS must be at least {} characters long",
                            SecretKey::MIN_LEN
                        ))
                    })
                })
                .collect::<Result<_, _>>()?,
        };

        let same_site = match get("SESSION_COOKIE_SAMESITE")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("lax") => SameSite::Lax,
            Some("strict") => SameSite::Strict,
            Some("none") => SameSite::None,
            Some(other) => {
                return Err(ConfigError::new(format!(
                    "SESSION_COOKIE_SAMESITE must be `lax`, `strict` or `none`, not `{other}`"
                )));
            }
        };
        let secure = parse_bool(&get, "SESSION_COOKIE_SECURE", production)?;
        if same_site == SameSite::None && !secure {
            return Err(ConfigError::new(
                "SESSION_COOKIE_SAMESITE=none needs SESSION_COOKIE_SECURE=true: browsers drop SameSite=None cookies that are not Secure",
            ));
        }
        let idle_age = Duration::from_secs(parse_num(
            &get,
            "SESSION_COOKIE_AGE",
            DEFAULT_SESSION_AGE.as_secs(),
        )?);
        if idle_age.is_zero() {
            return Err(ConfigError::new(
                "SESSION_COOKIE_AGE must be at least 1 second",
            ));
        }
        let session_cookie = SessionCookieConfig {
            name: get("SESSION_COOKIE_NAME").unwrap_or_else(|| "km_session".into()),
            idle_age,
            secure,
            http_only: parse_bool(&get, "SESSION_COOKIE_HTTPONLY", true)?,
            same_site,
            domain: get("SESSION_COOKIE_DOMAIN"),
            path: get("SESSION_COOKIE_PATH").unwrap_or_else(|| "/".into()),
            expire_at_browser_close: parse_bool(&get, "SESSION_EXPIRE_AT_BROWSER_CLOSE", false)?,
        };
        if !is_cookie_name(&session_cookie.name) {
            return Err(ConfigError::new(
                "SESSION_COOKIE_NAME may hold only letters, digits, `_` and `-`",
            ));
        }

        let cors_allowed_origins = match get("CORS_ALLOWED_ORIGINS") {
            None => Vec::new(),
            Some(list) => list
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
                .collect::<Result<_, _>>()?,
        };

        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("pretty") | Some("text") => LogFormat::Pretty,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(ConfigError::new(format!(
                    "LOG_FORMAT must be `pretty` or `json`, not `{other}`"
                )));
            }
        };

        Ok(Config {
            environment,
            listen_addr,
            data_dir,
            database_url,
            database_max_connections,
            session_backend,
            redis_url,
            redis_pool_size,
            session_lock,
            secret_key,
            secret_key_fallbacks,
            session_cookie,
            session_cleanup_interval: Duration::from_secs(
                parse_num(&get, "SESSION_CLEANUP_INTERVAL_SECS", 300u64)?.max(1),
            ),
            cors_allowed_origins,
            request_timeout: Duration::from_millis(parse_num(
                &get,
                "REQUEST_TIMEOUT_MS",
                10_000u64,
            )?),
            body_limit_bytes: 64 * 1024,
            catalog_cache_ttl: Duration::from_millis(parse_num(
                &get,
                "CATALOG_CACHE_TTL_MS",
                1_000u64,
            )?),
            log_format,
        })
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn parse_num<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: T,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ConfigError::new(format!(
                "{name} must be a non-negative whole number, not `{v}`"
            ))
        }),
    }
}

fn parse_bool(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("1" | "true" | "yes" | "on") => Ok(true),
        Some("0" | "false" | "no" | "off") => Ok(false),
        Some(other) => Err(ConfigError::new(format!(
            "{name} must be true or false, not `{other}`"
        ))),
    }
}

fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// In development the secret is generated once and kept in the data folder,
/// so sessions survive a restart without any set-up.
fn dev_secret_key(data_dir: &Path) -> Result<SecretKey, ConfigError> {
    let path = data_dir.join("secret_key");
    let read = |path: &Path| -> Result<SecretKey, ConfigError> {
        let existing = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::new(format!(
                "cannot read the development secret {}: {e}",
                path.display()
            ))
        })?;
        SecretKey::new(existing.trim().as_bytes().to_vec()).map_err(|_| {
            ConfigError::new(format!(
                "the development secret {} is shorter than {} characters; delete it to have a new one made, or set SECRET_KEY",
                path.display(),
                SecretKey::MIN_LEN
            ))
        })
    };
    if path.exists() {
        return read(&path);
    }
    std::fs::create_dir_all(data_dir).map_err(|e| {
        ConfigError::new(format!(
            "cannot create the data folder {}: {e}",
            data_dir.display()
        ))
    })?;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Written whole to a file of its own, then moved into place: a crash
    // leaves no half-written secret, and two processes starting at once
    // agree on the one that landed first.
    let tmp = data_dir.join(format!("secret_key.{:016x}.tmp", rand::random::<u64>()));
    write_private(&tmp, &hex).map_err(|e| {
        ConfigError::new(format!(
            "cannot write the development secret to {}: {e}",
            tmp.display()
        ))
    })?;
    let placed = std::fs::hard_link(&tmp, &path);
    std::fs::remove_file(&tmp).ok();
    match placed {
        Ok(()) => SecretKey::new(hex.into_bytes()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(ConfigError::new(format!(
            "cannot write the development secret to {}: {e}",
            path.display()
        ))),
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
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

    #[test]
    fn the_redis_session_lock_is_opt_in_and_needs_redis_sessions() {
        let redis = [
            ("SECRET_KEY", KEY),
            ("SESSION_BACKEND", "redis"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ];
        let c = Config::from_vars(vars(&redis)).unwrap();
        assert_eq!(c.session_lock, SessionLock::Process);
        let mut with_lock = redis.to_vec();
        with_lock.push(("SESSION_LOCK", "redis"));
        let c = Config::from_vars(vars(&with_lock)).unwrap();
        assert_eq!(c.session_lock, SessionLock::Redis);
        let err =
            Config::from_vars(vars(&[("SECRET_KEY", KEY), ("SESSION_LOCK", "redis")])).unwrap_err();
        assert!(err.to_string().contains("SESSION_BACKEND=redis"), "{err}");
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
    fn the_development_secret_is_generated_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("km-config-{}", rand::random::<u64>()));
        let dir_s = dir.display().to_string();
        let a = Config::from_vars(vars(&[("DATA_DIR", &dir_s)])).unwrap();
        let b = Config::from_vars(vars(&[("DATA_DIR", &dir_s)])).unwrap();
        assert_eq!(a.secret_key.0, b.secret_key.0);
        assert_eq!(a.secret_key.0.len(), 64);
        std::fs::remove_dir_all(dir).ok();
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
    fn a_short_fallback_key_is_refused() {
        let err = Config::from_vars(vars(&[
            ("SECRET_KEY", KEY),
            ("SECRET_KEY_FALLBACKS", "short"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("SECRET_KEY_FALLBACKS"), "{err}");
    }
}
