//! Rate limits: sign-in and registration per client IP and per username,
//! and new sessions per client IP.
//!
//! Each [`Limit`] is a budget of `count` attempts per `window`, set by its
//! own variable as `COUNT/SECONDS` (`LOGIN_LIMIT_PER_IP=20/300`); `0` turns
//! it off. Past the budget the answer is a 429 problem with `Retry-After`.
//!
//! Where the counters live:
//! - With Redis sessions (`SESSION_BACKEND=redis`), in Redis, so that every
//!   instance shares them: a fixed window per key, counted by one Lua script
//!   (`INCR`, and `PEXPIRE` on the window's first hit), whose remaining time
//!   is the `Retry-After`. Deployments that run several instances share
//!   their sessions through Redis, so that is where their limits are too; a
//!   `REDIS_URL` without Redis sessions does not move them (one connection
//!   pool, one place that depends on Redis).
//! - Otherwise in this process, with `governor` (GCRA): the budget is a
//!   bucket of `count` that refills one attempt every `window / count`, so a
//!   client that spent it may try again a little later instead of waiting
//!   for the whole window. Keys whose bucket is full again are swept away
//!   every minute, so memory holds only recently active keys (32 bytes and
//!   a counter each). The in-process counters run on the service's clock.
//!
//! Both let `count` through at once from rest and average at most `count`
//! per `window` over time; either can let up to twice `count` through in an
//! unlucky `window` (the fixed window across its boundary, the bucket as it
//! refills), which for these limits is an acceptable price for one counter
//! per key.
//!
//! A failing Redis (down, or slower than [`REDIS_TIMEOUT`]) neither refuses
//! everyone (signing in must not stop because the limiter's store did) nor
//! lets everyone through: the attempt is counted in this process instead,
//! so the limits still hold per instance, and a warning is logged (at most
//! every ten seconds).
//!
//! Keys never appear as themselves: a counter is named after a SHA-256 of a
//! secret derived from `SECRET_KEY`, the limit and the key, so neither Redis
//! nor memory holds usernames or addresses, Redis's names cannot be reversed
//! by trying every IPv4 address, two deployments sharing one Redis count
//! apart, and a 64 KiB username costs 32 bytes (rotating `SECRET_KEY`
//! starts every count afresh). Usernames are counted
//! without regard to case or surrounding space, as they sign in. IPv6
//! clients are counted per /64, the block one subscriber usually holds, so
//! that walking through one's own addresses does not reset the budget.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use governor::clock::Clock as GovernorClock;
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use ipnet::Ipv6Net;
use sha2::{Digest, Sha256};
use tower_sessions_redis_store::fred::prelude::{LuaInterface, Pool};

use crate::client_ip::{self, TrustedProxies};
use crate::clock::Clock;
use crate::config::SecretKey;
use crate::error::ApiError;
use crate::session::keys::SessionCookieKeys;

/// Counts one hit of a fixed window and reports the count and the window's
/// remaining milliseconds. A key left without an expiry (which would block
/// forever) is given one.
const HIT: &str = "local n = redis.call('INCR', KEYS[1]) \
    if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end \
    local ttl = redis.call('PTTL', KEYS[1]) \
    if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) ttl = tonumber(ARGV[1]) end \
    return {n, ttl}";

/// How long an attempt waits for Redis before it is counted in process.
pub const REDIS_TIMEOUT: Duration = Duration::from_secs(1);

/// The purpose the key-naming secret is derived for.
const KEY_PURPOSE: &str = "rate-limit-keys";

/// How many limits there are.
const COUNT: usize = 5;

/// What is being limited; each has its own budget and variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Sign-in attempts from one client IP: 20 per 5 minutes by default.
    /// A person who mistypes needs a handful, and a few people behind one
    /// NAT still fit; one address gets at most about 5,800 guesses a day.
    LoginPerIp,
    /// Sign-in attempts for one username, from anywhere: 10 per 15 minutes.
    /// It caps guessing at one account from many addresses (under 1,000 a
    /// day). Anyone can spend it, so it can hold its owner off, but never
    /// for more than 15 minutes at a time.
    LoginPerUsername,
    /// Registrations from one client IP: 10 per hour. A household or an
    /// office registers a few accounts; a script that makes accounts is
    /// slowed to 240 a day per address.
    RegisterPerIp,
    /// Registration attempts for one username, from anywhere: 10 per hour.
    /// Someone whose password is refused as too easy tries the same name a
    /// few times; a script that keeps asking, from many addresses, whether
    /// one name is taken, or keeps racing to claim it, is held to 240 a day.
    RegisterPerUsername,
    /// New sessions from one client IP: 100 per 10 minutes. A browser keeps
    /// its cookie and starts one session; a client that drops its cookie
    /// starts one per change, so this bounds what one address can store
    /// (14,400 two-week sessions a day instead of one per request), with
    /// room for many visitors behind one NAT.
    NewSessionPerIp,
}

impl Limit {
    pub const ALL: [Limit; COUNT] = [
        Limit::LoginPerIp,
        Limit::LoginPerUsername,
        Limit::RegisterPerIp,
        Limit::RegisterPerUsername,
        Limit::NewSessionPerIp,
    ];

    /// The variable that sets it.
    pub fn variable(self) -> &'static str {
        match self {
            Limit::LoginPerIp => "LOGIN_LIMIT_PER_IP",
            Limit::LoginPerUsername => "LOGIN_LIMIT_PER_USERNAME",
            Limit::RegisterPerIp => "REGISTER_LIMIT_PER_IP",
            Limit::RegisterPerUsername => "REGISTER_LIMIT_PER_USERNAME",
            Limit::NewSessionPerIp => "NEW_SESSION_LIMIT_PER_IP",
        }
    }

    /// The budget when its variable is not set.
    pub fn default_rate(self) -> Rate {
        let (count, secs) = match self {
            Limit::LoginPerIp => (20, 300),
            Limit::LoginPerUsername => (10, 900),
            Limit::RegisterPerIp => (10, 3600),
            Limit::RegisterPerUsername => (10, 3600),
            Limit::NewSessionPerIp => (100, 600),
        };
        Rate::new(count, secs).unwrap_or(Rate {
            count: NonZeroU32::MIN,
            window: Duration::from_secs(1),
        })
    }

    /// The counter's name in Redis.
    fn name(self) -> &'static str {
        match self {
            Limit::LoginPerIp => "login-ip",
            Limit::LoginPerUsername => "login-username",
            Limit::RegisterPerIp => "register-ip",
            Limit::RegisterPerUsername => "register-username",
            Limit::NewSessionPerIp => "new-session-ip",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// Whether its key is a username (otherwise a client IP).
    fn per_username(self) -> bool {
        matches!(self, Limit::LoginPerUsername | Limit::RegisterPerUsername)
    }

    /// The key as it is counted.
    fn normalize(self, key: &str) -> String {
        match self {
            Limit::LoginPerUsername | Limit::RegisterPerUsername => key.trim().to_lowercase(),
            Limit::LoginPerIp | Limit::RegisterPerIp | Limit::NewSessionPerIp => {
                match key.trim().parse::<IpAddr>().map(|ip| ip.to_canonical()) {
                    Ok(IpAddr::V6(v6)) => Ipv6Net::new_assert(v6, 64).trunc().to_string(),
                    Ok(v4) => v4.to_string(),
                    Err(_) => key.to_owned(),
                }
            }
        }
    }

    /// The 429 once the budget is spent.
    fn refusal(self, retry_after: Duration) -> ApiError {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        let secs = secs.max(1);
        let detail = match self {
            Limit::LoginPerIp => format!(
                "Too many sign-in attempts from your network address. Try again in {secs} s."
            ),
            Limit::LoginPerUsername => {
                format!("Too many sign-in attempts for this username. Try again in {secs} s.")
            }
            Limit::RegisterPerIp => format!(
                "Too many accounts registered from your network address. Try again in {secs} s."
            ),
            Limit::RegisterPerUsername => {
                format!("Too many attempts to register this username. Try again in {secs} s.")
            }
            Limit::NewSessionPerIp => format!(
                "Too many new sessions from your network address. Send back the session cookie you were given (a client that drops it starts a new session with every change), or try again in {secs} s."
            ),
        };
        ApiError::too_many_requests(detail, retry_after)
    }
}

/// A budget: `count` attempts per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: NonZeroU32,
    pub window: Duration,
}

impl Rate {
    /// `count` per `secs` seconds; `None` when either is zero.
    pub fn new(count: u32, secs: u64) -> Option<Rate> {
        (secs > 0).then_some(())?;
        Some(Rate {
            count: NonZeroU32::new(count)?,
            window: Duration::from_secs(secs),
        })
    }

    /// Reads `COUNT/SECONDS` (`20/300`: 20 per 300 seconds); `0` or `off`
    /// is no limit (`None`).
    pub fn parse(text: &str) -> Result<Option<Rate>, String> {
        let text = text.trim();
        if text == "0" || text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let wrong = || {
            format!(
                "must be COUNT/SECONDS like 20/300 (20 per 300 seconds), both at least 1, or 0 to turn the limit off; not `{text}`"
            )
        };
        let (count, secs) = text.split_once('/').ok_or_else(wrong)?;
        let count = u32::from_str(count.trim()).map_err(|_| wrong())?;
        let secs = u64::from_str(secs.trim()).map_err(|_| wrong())?;
        Rate::new(count, secs).map(Some).ok_or_else(wrong)
    }

    /// The governor quota: a burst of `count`, one more every `window / count`.
    fn quota(self) -> Quota {
        let period = (self.window / self.count.get()).max(Duration::from_nanos(1));
        Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.window.as_secs())
    }
}

/// The budget of each limit; `None` is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rates([Option<Rate>; COUNT]);

impl Default for Rates {
    fn default() -> Self {
        Rates(Limit::ALL.map(|l| Some(l.default_rate())))
    }
}

impl Rates {
    pub fn get(&self, limit: Limit) -> Option<Rate> {
        self.0[limit.index()]
    }

    pub fn set(&mut self, limit: Limit, rate: Option<Rate>) {
        self.0[limit.index()] = rate;
    }
}

/// The service's clock as governor reads it: nanoseconds since the epoch,
/// so a test that moves the clock moves the limits too.
#[derive(Debug, Clone)]
struct LimiterClock(Clock);

impl GovernorClock for LimiterClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        let nanos = self.0.now_exact().unix_timestamp_nanos();
        Nanos::from(u64::try_from(nanos).unwrap_or(0))
    }
}

type KeyedLimiter = RateLimiter<
    [u8; 32],
    DashMapStateStore<[u8; 32]>,
    LimiterClock,
    governor::middleware::NoOpMiddleware<Nanos>,
>;

/// One limit's in-process counters.
struct Local {
    rate: Rate,
    limiter: KeyedLimiter,
    clock: LimiterClock,
}

/// The counters behind every [`Limit`].
pub struct RateLimits {
    local: [Option<Local>; COUNT],
    redis: Option<Pool>,
    /// The secret counters are named with.
    salt: [u8; 32],
    /// When Redis's failure was last logged, in seconds since the epoch.
    warned_at: AtomicI64,
}

impl fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rates: Vec<_> = self
            .local
            .iter()
            .map(|l| l.as_ref().map(|l| l.rate.to_string()))
            .collect();
        f.debug_struct("RateLimits")
            .field("rates", &rates)
            .field("redis", &self.redis.is_some())
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// The limits of `rates`, counted in Redis when `redis` is given (see
    /// the module's documentation), on `clock` otherwise.
    pub fn new(rates: &Rates, secret: &SecretKey, clock: Clock, redis: Option<Pool>) -> Self {
        let clock = LimiterClock(clock);
        let local = Limit::ALL.map(|limit| {
            rates.get(limit).map(|rate| Local {
                rate,
                limiter: RateLimiter::new(
                    rate.quota(),
                    DashMapStateStore::default(),
                    clock.clone(),
                ),
                clock: clock.clone(),
            })
        });
        let mut salt = [0; 32];
        salt.copy_from_slice(&Sha256::digest(secret.derive(KEY_PURPOSE).signing()));
        RateLimits {
            local,
            redis,
            salt,
            warned_at: AtomicI64::new(i64::MIN),
        }
    }

    /// Counts one attempt of `limit` for `key` (an IP or a username):
    /// `Err` is the 429 (with `Retry-After`) once the budget is spent.
    pub async fn hit(&self, limit: Limit, key: &str) -> Result<(), ApiError> {
        let Some(local) = &self.local[limit.index()] else {
            return Ok(());
        };
        let digest = self.digest(limit, key);
        let mut counted = None;
        if let Some(pool) = &self.redis {
            match self.hit_redis(pool, local.rate, limit, &digest).await {
                Ok(outcome) => counted = Some(outcome),
                Err(e) => self.warn(limit, &e),
            }
        }
        let outcome = counted.unwrap_or_else(|| {
            local
                .limiter
                .check_key(&digest)
                .map_err(|not_until| not_until.wait_time_from(local.clock.now()))
        });
        outcome.map_err(|retry_after| {
            log_refusal(limit, key, &digest, retry_after);
            limit.refusal(retry_after)
        })
    }

    /// Forgets the in-process counters that are full again, so the tables
    /// hold only keys seen within about one refill period. Run it now and
    /// then (the service does every minute).
    pub fn sweep(&self) {
        for local in self.local.iter().flatten() {
            local.limiter.retain_recent();
            local.limiter.shrink_to_fit();
        }
    }

    /// How many keys the in-process counters hold, over every limit.
    pub fn keys_held(&self) -> usize {
        self.local.iter().flatten().map(|l| l.limiter.len()).sum()
    }

    fn digest(&self, limit: Limit, key: &str) -> [u8; 32] {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        hasher.update(limit.name().as_bytes());
        hasher.update([0]);
        hasher.update(limit.normalize(key).as_bytes());
        hasher.finalize().into()
    }

    /// Counts in Redis: `Ok(Err(retry_after))` once the budget is spent,
    /// `Err` when Redis cannot count.
    async fn hit_redis(
        &self,
        pool: &Pool,
        rate: Rate,
        limit: Limit,
        digest: &[u8; 32],
    ) -> Result<Result<(), Duration>, String> {
        let key = format!("km:rate:{}:{}", limit.name(), hex(digest));
        let window_ms = rate.window.as_millis().to_string();
        let counted = tokio::time::timeout(
            REDIS_TIMEOUT,
            pool.eval::<(i64, i64), _, _, _>(HIT, vec![key], vec![window_ms]),
        )
        .await
        .map_err(|_| format!("no answer within {REDIS_TIMEOUT:?}"))?
        .map_err(|e| e.to_string())?;
        let (count, ttl_ms) = counted;
        if count <= i64::from(rate.count.get()) {
            return Ok(Ok(()));
        }
        Ok(Err(Duration::from_millis(
            u64::try_from(ttl_ms).unwrap_or(0),
        )))
    }

    fn warn(&self, limit: Limit, error: &str) {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let last = self.warned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= 10
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(
                error,
                limit = limit.variable(),
                "rate limits cannot reach Redis; counting in this process until it answers"
            );
        }
    }
}

/// What the new-session limit needs to know of a request.
pub struct NewSessionLimit {
    pub keys: Arc<SessionCookieKeys>,
    pub limits: Arc<RateLimits>,
    pub trusted_proxies: Arc<TrustedProxies>,
}

/// A step of the session routes' guard ([`crate::session::guard`]), outside
/// the session layer: a request
/// that may change state (anything but GET, HEAD and OPTIONS) and carries no
/// session cookie that verifies would start a new session if it writes one,
/// so it counts against [`Limit::NewSessionPerIp`] before anything runs.
/// Reads are never counted (they never store a session).
///
/// Counting before, not after: a count taken once the response shows a new
/// session cookie would come after the session was stored, so it could only
/// refuse the next one, and a burst sent in parallel would all pass the
/// check before any was counted. The price is that a cookie-less write that
/// ends up storing nothing (a refused body, deleting what is not there, a
/// failed sign-in) spends the budget too; the default budget leaves room
/// for that.
///
/// A change with a cookie that verifies is not counted here, but it may
/// carry the id of a session that is gone (ended, expired, or replayed on
/// purpose): the session layer then starts a new session under a new id.
/// Only loading the record tells, so the request is handed a [`CountIfNew`]
/// that the session extractor uses once it has loaded it (still before the
/// handler does anything), at no extra load.
pub async fn limit_new_sessions<F, Fut>(
    guard: &NewSessionLimit,
    mut req: Request,
    next: F,
) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next(req).await;
    }
    let ip = match client_ip::peer(req.extensions()) {
        Ok(peer) => guard.trusted_proxies.client_ip(peer, req.headers()),
        Err(e) => return e.into_response(),
    };
    if guard.keys.session_id(req.headers()).is_some() {
        req.extensions_mut().insert(CountIfNew {
            limits: guard.limits.clone(),
            ip,
        });
        return next(req).await;
    }
    match guard
        .limits
        .hit(Limit::NewSessionPerIp, &ip.to_string())
        .await
    {
        Ok(()) => next(req).await,
        Err(refused) => refused.into_response(),
    }
}

/// Carried by a change whose session cookie verifies: when its session
/// turns out to be gone from the store, the change would start a new one,
/// and [`CountIfNew::count`] counts it against [`Limit::NewSessionPerIp`].
#[derive(Clone)]
pub struct CountIfNew {
    limits: Arc<RateLimits>,
    ip: IpAddr,
}

impl CountIfNew {
    pub async fn count(&self) -> Result<(), ApiError> {
        self.limits
            .hit(Limit::NewSessionPerIp, &self.ip.to_string())
            .await
    }
}

/// One log line per refusal, naming the limit and whom it held back: the
/// client's address (or /64) for a limit per IP; for a limit per username
/// only the first 12 hex digits of its keyed digest, which tell refusals
/// of one username apart from another's without naming it (a username may
/// be a password typed into the wrong field).
fn log_refusal(limit: Limit, key: &str, digest: &[u8; 32], retry_after: Duration) {
    let retry_after_secs = retry_after.as_secs_f64().ceil() as u64;
    if limit.per_username() {
        tracing::warn!(
            limit = limit.variable(),
            username_digest = %hex(&digest[..6]),
            retry_after_secs,
            "rate limit reached; request refused"
        );
    } else {
        tracing::warn!(
            limit = limit.variable(),
            client_ip = %limit.normalize(key),
            retry_after_secs,
            "rate limit reached; request refused"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;

    fn secret() -> SecretKey {
        SecretKey::new("unit-test-secret-key-0123456789abcdef-0123456789").unwrap()
    }

    fn in_process(limit: Limit, rate: &str, clock: &Clock) -> RateLimits {
        let mut rates = Rates::default();
        rates.set(limit, Rate::parse(rate).unwrap());
        RateLimits::new(&rates, &secret(), clock.clone(), None)
    }

    fn retry_after(e: ApiError) -> u64 {
        let response = axum::response::IntoResponse::into_response(e);
        response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    #[test]
    fn rates_read_count_per_seconds_and_zero_turns_a_limit_off() {
        assert_eq!(Rate::parse("20/300").unwrap(), Rate::new(20, 300));
        assert_eq!(Rate::parse(" 5 / 1 ").unwrap(), Rate::new(5, 1));
        assert_eq!(Rate::parse("0").unwrap(), None);
        assert_eq!(Rate::parse("off").unwrap(), None);
        for bad in ["20", "20/0", "0/300", "-1/300", "20/5m", "x/y", "20/300/1"] {
            let err = Rate::parse(bad).unwrap_err();
            assert!(err.contains("like 20/300") && err.contains(bad), "{err}");
        }
        assert_eq!(Limit::LoginPerIp.default_rate().to_string(), "20/300");
    }

    #[tokio::test]
    async fn a_spent_budget_is_refused_with_retry_after_and_refills_on_the_clock() {
        let clock = Clock::manual(OffsetDateTime::now_utc());
        let limits = in_process(Limit::LoginPerIp, "3/60", &clock);
        for _ in 0..3 {
            limits.hit(Limit::LoginPerIp, "192.0.2.1").await.unwrap();
        }
        let refused = limits
            .hit(Limit::LoginPerIp, "192.0.2.1")
            .await
            .unwrap_err();
        assert_eq!(retry_after(refused), 20, "one attempt back every 60/3 s");
        // Another address, and another limit, have their own budgets.
        limits.hit(Limit::LoginPerIp, "192.0.2.2").await.unwrap();
        limits.hit(Limit::RegisterPerIp, "192.0.2.1").await.unwrap();
        clock.advance(time::Duration::seconds(20));
        limits.hit(Limit::LoginPerIp, "192.0.2.1").await.unwrap();
        assert!(limits.hit(Limit::LoginPerIp, "192.0.2.1").await.is_err());
        clock.advance(time::Duration::seconds(60));
        for _ in 0..3 {
            limits.hit(Limit::LoginPerIp, "192.0.2.1").await.unwrap();
        }
    }

    #[tokio::test]
    async fn usernames_count_without_case_and_ipv6_per_64() {
        let clock = Clock::manual(OffsetDateTime::now_utc());
        let limits = in_process(Limit::LoginPerUsername, "2/60", &clock);
        limits.hit(Limit::LoginPerUsername, "Alice").await.unwrap();
        limits
            .hit(Limit::LoginPerUsername, " alice ")
            .await
            .unwrap();
        assert!(limits.hit(Limit::LoginPerUsername, "ALICE").await.is_err());

        let limits = in_process(Limit::NewSessionPerIp, "2/60", &clock);
        limits
            .hit(Limit::NewSessionPerIp, "2001:db8:1:2::1")
            .await
            .unwrap();
        limits
            .hit(Limit::NewSessionPerIp, "2001:db8:1:2:ffff::9")
            .await
            .unwrap();
        assert!(
            limits
                .hit(Limit::NewSessionPerIp, "2001:db8:1:2::abcd")
                .await
                .is_err()
        );
        limits
            .hit(Limit::NewSessionPerIp, "2001:db8:1:3::1")
            .await
            .unwrap();
    }

    /// Collects what is logged while it is the default subscriber.
    #[derive(Clone, Default)]
    struct Logged(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Logged {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn each_refusal_is_logged_with_the_limit_and_never_the_username_itself() {
        let logged = Logged::default();
        let sink = logged.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let clock = Clock::manual(OffsetDateTime::now_utc());
        let mut rates = Rates::default();
        rates.set(Limit::RegisterPerUsername, Rate::new(1, 60));
        rates.set(Limit::LoginPerIp, Rate::new(1, 60));
        let limits = RateLimits::new(&rates, &secret(), clock, None);

        limits
            .hit(Limit::RegisterPerUsername, "Secret-Name")
            .await
            .unwrap();
        limits.hit(Limit::LoginPerIp, "192.0.2.7").await.unwrap();
        assert!(logged.0.lock().unwrap().is_empty(), "what passes is quiet");
        assert!(
            limits
                .hit(Limit::RegisterPerUsername, "secret-name")
                .await
                .is_err()
        );
        assert!(limits.hit(Limit::LoginPerIp, "192.0.2.7").await.is_err());

        let text = String::from_utf8(logged.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].contains("WARN")
                && lines[0].contains("REGISTER_LIMIT_PER_USERNAME")
                && lines[0].contains("username_digest=")
                && lines[0].contains("retry_after_secs=60"),
            "{text}"
        );
        assert!(!text.to_lowercase().contains("secret-name"), "{text}");
        assert!(
            lines[1].contains("LOGIN_LIMIT_PER_IP") && lines[1].contains("client_ip=192.0.2.7"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_limit_turned_off_never_refuses() {
        let clock = Clock::manual(OffsetDateTime::now_utc());
        let limits = in_process(Limit::RegisterPerIp, "0", &clock);
        for _ in 0..1000 {
            limits.hit(Limit::RegisterPerIp, "192.0.2.1").await.unwrap();
        }
    }

    #[tokio::test]
    async fn sweeping_forgets_keys_whose_budget_is_full_again() {
        let clock = Clock::manual(OffsetDateTime::now_utc());
        let limits = in_process(Limit::NewSessionPerIp, "10/60", &clock);
        for i in 0..100 {
            limits
                .hit(Limit::NewSessionPerIp, &format!("198.51.100.{i}"))
                .await
                .unwrap();
        }
        assert!(limits.keys_held() >= 100);
        limits.sweep();
        assert!(limits.keys_held() >= 100, "still recent");
        clock.advance(time::Duration::seconds(61));
        limits.sweep();
        assert_eq!(limits.keys_held(), 0);
    }

    #[tokio::test]
    async fn with_redis_unreachable_the_attempts_are_counted_in_process() {
        use tower_sessions_redis_store::fred::prelude::{Builder, ClientLike, Config};
        // Nothing listens on port 1: every command fails.
        let config = Config::from_url("redis://127.0.0.1:1").unwrap();
        let pool = Builder::from_config(config).build_pool(1).unwrap();
        let _ = pool.init().await;
        let clock = Clock::manual(OffsetDateTime::now_utc());
        let mut rates = Rates::default();
        rates.set(Limit::LoginPerIp, Rate::new(2, 60));
        let limits = RateLimits::new(&rates, &secret(), clock, Some(pool));
        limits.hit(Limit::LoginPerIp, "192.0.2.1").await.unwrap();
        limits.hit(Limit::LoginPerIp, "192.0.2.1").await.unwrap();
        let refused = limits
            .hit(Limit::LoginPerIp, "192.0.2.1")
            .await
            .unwrap_err();
        assert_eq!(retry_after(refused), 30);
    }
}
