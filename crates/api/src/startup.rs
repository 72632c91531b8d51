//! Building the application: connections, stores, the router and its layers,
//! the listener, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_sessions::MemoryStore;
use tower_sessions_redis_store::fred::prelude::{
    Builder, ClientLike, Config as RedisConfig, ReconnectPolicy,
};
use tracing::Level;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::{Config as SwaggerConfig, SwaggerUi};

use crate::clock::Clock;
use crate::config::{Config, SessionBackend, SessionLock};
use crate::cookies::CookieKit;
use crate::db;
use crate::db::catalog::Catalog;
use crate::db::catalog_sync::{Announcer, Subscriber};
use crate::db::library::Library;
use crate::error::{ApiError, problem_for_bare_errors};
use crate::extract::{BodyLimit, RequestDeadline};
use crate::limits::{NewSessionLimit, RateLimits};
use crate::metrics::RequestMetricsLayer;
use crate::openapi::{ApiDoc, CommonResponses};
use crate::origin::AllowedOrigins;
use crate::routes;
use crate::serve;
use crate::session::file_store::FileStore;
use crate::session::guard::SessionGuard;
use crate::session::keys::SessionCookieKeys;
use crate::session::lock::{SHARED_LOCK_TTL, SessionLocks};
use crate::session::{self, AnyStore, db_store::DatabaseStore};
use crate::state::{AppState, Shared};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The routes, before any state or layer, and the spec they produce.
struct RouteParts {
    /// The same for every visitor: no session, cacheable.
    public: Router<AppState>,
    /// Everything that depends on the visitor's session.
    session: Router<AppState>,
    /// Liveness and readiness.
    probes: Router<AppState>,
    spec: utoipa::openapi::OpenApi,
}

fn route_parts() -> RouteParts {
    let (public, mut spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", routes::public_v1())
        .split_for_parts();
    let (session, session_spec) = OpenApiRouter::new()
        .nest("/api/v1", routes::api_v1())
        .split_for_parts();
    spec.merge(session_spec);
    let (probes, probe_spec) = routes::health::router().split_for_parts();
    spec.merge(probe_spec);
    CommonResponses.modify(&mut spec);
    RouteParts {
        public,
        session,
        probes,
        spec,
    }
}

/// The OpenAPI document the service serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    route_parts().spec
}

/// The spec as committed in `openapi/openapi.json`.
pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    json.push('\n');
    json
}

/// The full router with every layer, over the given state.
pub fn app(config: &Config, state: AppState) -> Router {
    let RouteParts {
        public,
        session,
        probes,
        spec,
    } = route_parts();
    let router = Router::new()
        .merge(with_public_caching(public, config))
        .merge(with_session(session, config, &state))
        .merge(probes)
        .merge(swagger_ui(spec))
        .fallback(not_found)
        .with_state(state);
    let router = with_outer_layers(with_cors(router, config), config);
    with_request_metrics(with_security_headers(router, config), config)
}

/// With `METRICS_ADDR`, every request counted and timed by its route,
/// outside every other layer so that its time and status are the client's
/// (see [`crate::metrics`]). Without, no layer at all: nothing to pay.
fn with_request_metrics(router: Router, config: &Config) -> Router {
    if config.metrics_addr.is_some() {
        router.layer(RequestMetricsLayer)
    } else {
        router
    }
}

/// The catalog is the same for every visitor, so shared caches may keep it
/// as long as this service keeps its own copy of the menu (rounded up to a
/// whole second); its `ETag` lets them revalidate after that. Only a menu
/// answer (200, or 304 for a held version) is cacheable: an error depends on
/// the request (or on a passing outage) and is not kept.
fn with_public_caching(public: Router<AppState>, config: &Config) -> Router<AppState> {
    let max_age =
        config.catalog_cache_ttl.as_secs() + u64::from(config.catalog_cache_ttl.subsec_nanos() > 0);
    let value = HeaderValue::from_str(&format!("public, max-age={max_age}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
    public.layer(SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        move |res: &axum::response::Response| {
            use axum::http::StatusCode;
            matches!(res.status(), StatusCode::OK | StatusCode::NOT_MODIFIED).then(|| value.clone())
        },
    ))
}

/// The session and what guards it, outermost first: no caching (so every
/// answer of these routes says `no-store`, refusals included), the guard
/// (`session::guard`: the cross-site write check, the cookie's lifetime,
/// re-signing under the current key, the limit on new sessions, turns for
/// writes, a failed session save as a 503), the session itself, then the
/// lifetime of its sign-in (see `auth::logins`).
fn with_session(api: Router<AppState>, config: &Config, state: &AppState) -> Router<AppState> {
    let keys = SessionCookieKeys::new(config);
    let guard = Arc::new(SessionGuard {
        origins: AllowedOrigins::new(&config.cors_allowed_origins, config.session_cookie.secure),
        cookie_lifetimes: session::CookieLifetimes {
            config: config.session_cookie.clone(),
            clock: state.clock.clone(),
        },
        keys: keys.clone(),
        new_sessions: NewSessionLimit {
            keys: keys.clone(),
            limits: state.limits.clone(),
            trusted_proxies: state.trusted_proxies.clone(),
        },
        locks: state.session_locks.clone(),
    });
    // One static stack, outermost first: a request clones and boxes it once,
    // where a `Router::layer` per layer would box each layer again.
    api.layer(
        ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ))
            .layer(middleware::from_fn_with_state(guard, session::guard::guard))
            .layer(session::layer(config, state.sessions.clone()))
            .layer(middleware::from_fn_with_state(
                session::RecordLifetimes::of(config),
                session::fit_lifetime_to_sign_in,
            )),
    )
}

/// What Swagger UI's own page needs, and nothing else: its vendored scripts
/// and stylesheets from this origin, the one `<style>` element its logo
/// carries (allowed by its hash, so no other inline style runs), the spec
/// fetched from this origin, the `data:` images its stylesheet embeds, and no
/// framing. Its validator badge is off, so the spec's address is never sent
/// to a third party. A Swagger UI upgrade that changes the logo's style shows
/// up as a CSP violation in the browser console (and fails a test).
pub const SWAGGER_UI_CSP: &str = concat!(
    "default-src 'none'; script-src 'self'; ",
    "style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; ",
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; ",
    "frame-ancestors 'none'"
);

fn swagger_ui(spec: utoipa::openapi::OpenApi) -> Router<AppState> {
    Router::from(
        SwaggerUi::new("/swagger-ui")
            .url("/api-docs/openapi.json", spec)
            .config(SwaggerConfig::default().validator_url("none")),
    )
    .layer(SetResponseHeaderLayer::overriding(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(SWAGGER_UI_CSP),
    ))
}

/// Lets the configured SPA origins call with credentials.
fn with_cors(router: Router, config: &Config) -> Router {
    if config.cors_allowed_origins.is_empty() {
        return router;
    }
    router.layer(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(config.cors_allowed_origins.clone()))
            .allow_credentials(true)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([header::CONTENT_TYPE, header::ACCEPT])
            // What a script must read: the request id to report, where a new
            // resource is, when to retry a 503, and the menu's version.
            .expose_headers([
                REQUEST_ID,
                header::LOCATION,
                header::RETRY_AFTER,
                header::ETAG,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// Request ids, tracing, the one error shape, the timeout and the body limit.
fn with_outer_layers(router: Router, config: &Config) -> Router {
    let body_limit = BodyLimit::new(config.body_limit_bytes);
    let request_timeout = config.request_timeout;
    router.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveHeadersLayer::new([header::COOKIE, header::SET_COOKIE, header::AUTHORIZATION]))
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let request_id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("");
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id)
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .map_response(move |res| problem_for_bare_errors(body_limit, res))
            .map_request(move |mut req: Request| {
                let deadline = tokio::time::Instant::now() + request_timeout;
                req.extensions_mut().insert(RequestDeadline(deadline));
                req
            })
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(body_limit.layer()),
    )
}

/// What browsers should know of every response, errors and timeouts
/// included: do not guess content types, send no referrer, never frame
/// this service (Swagger UI sets its own, stricter-than-none policy), and,
/// when cookies are Secure, reach it over HTTPS only.
fn with_security_headers(router: Router, config: &Config) -> Router {
    // Two years, as browsers' preload lists ask; subdomains are left to
    // whoever runs them.
    let hsts = config
        .session_cookie
        .secure
        .then(|| always(header::STRICT_TRANSPORT_SECURITY, "max-age=63072000"));
    router.layer(
        ServiceBuilder::new()
            .option_layer(hsts)
            .layer(always(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .layer(always(header::REFERRER_POLICY, "no-referrer"))
            .layer(always(header::X_FRAME_OPTIONS, "DENY"))
            .layer(SetResponseHeaderLayer::if_not_present(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static("frame-ancestors 'none'"),
            )),
    )
}

/// Sets `name` to a fixed `value` on every response, replacing any value a
/// handler gave it.
fn always(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

fn session_locks(
    config: &Config,
    db: &sea_orm::DatabaseConnection,
    sessions: &AnyStore,
) -> Arc<SessionLocks> {
    let keys = SessionCookieKeys::new(config);
    let wait = SessionLocks::wait_within(config.request_timeout);
    match (config.session_lock, sessions) {
        (SessionLock::Redis, AnyStore::Redis(_, pool)) => {
            SessionLocks::with_redis(keys, wait, pool.clone(), SHARED_LOCK_TTL)
        }
        (SessionLock::Database, AnyStore::Database(_)) => {
            SessionLocks::with_database(keys, wait, db.clone(), SHARED_LOCK_TTL)
        }
        (SessionLock::File, AnyStore::File(store)) => {
            SessionLocks::with_files(keys, wait, store.dir())
        }
        _ => SessionLocks::new(keys, wait),
    }
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "There is nothing at {}. The API lives under /api/v1; its description is at /api-docs/openapi.json.",
        req.uri().path()
    ))
}

/// Connects the configured session store.
pub async fn session_store(
    config: &Config,
    db: &sea_orm::DatabaseConnection,
    clock: &Clock,
) -> anyhow::Result<AnyStore> {
    Ok(match config.session_backend {
        SessionBackend::Memory => AnyStore::Memory(MemoryStore::default()),
        SessionBackend::Database => {
            AnyStore::Database(DatabaseStore::new(db.clone(), clock.clone()))
        }
        SessionBackend::Redis => {
            let pool = redis_builder(config)?
                .build_pool(config.redis_pool_size)
                .map_err(|e| anyhow::anyhow!("cannot set up the Redis pool: {e}"))?;
            pool.init().await.map_err(|e| {
                anyhow::anyhow!("cannot connect to Redis at the REDIS_URL given: {e}")
            })?;
            AnyStore::redis(pool)
        }
        SessionBackend::File => {
            let dir = config.session_file_path.clone();
            let store = FileStore::open(dir, clock.clone()).await.map_err(|e| {
                anyhow::anyhow!(
                    "cannot use the session directory {} (SESSION_FILE_PATH): {e}",
                    config.session_file_path.display()
                )
            })?;
            AnyStore::File(store)
        }
    })
}

/// Once the service stops taking connections, how much longer than the
/// request timeout it waits for the open ones to close. By the request
/// timeout every request in flight has its answer (a 408 at the latest);
/// this is for writing it out. A connection still open after that is one
/// whose client never finished sending a request, or does not read its
/// answer: it is cut, so that it cannot keep the service from stopping.
pub const SHUTDOWN_WRITE_OUT: Duration = Duration::from_secs(1);

/// How often the in-process rate-limit counters forget the keys whose
/// budget is full again.
const RATE_LIMIT_SWEEP: Duration = Duration::from_secs(60);

/// The rate limits, counted in Redis with Redis sessions, in process
/// otherwise (see [`crate::limits`]).
fn rate_limits(config: &Config, sessions: &AnyStore, clock: &Clock) -> RateLimits {
    let redis = match sessions {
        AnyStore::Redis(_, pool) => Some(pool.clone()),
        _ => None,
    };
    RateLimits::new(
        &config.rate_limits,
        &config.secret_key,
        clock.clone(),
        redis,
    )
}

/// How long a Redis command may wait for its answer, at most. A healthy
/// Redis answers in well under a millisecond; one that is paused,
/// unreachable or being reconnected to fails the command after this, so the
/// request gets a 503 with `Retry-After` instead of waiting for its own
/// timeout (a 408); a command not yet sent by then is never sent.
const REDIS_COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// The command timeout within a request that times out after
/// `request_timeout`: a change may wait on up to three commands in a row
/// (the read that takes its lock, the save, the lock's release), so each
/// gets at most a quarter of the request.
fn redis_command_timeout(request_timeout: Duration) -> Duration {
    REDIS_COMMAND_TIMEOUT.min(request_timeout / 4)
}

/// How a Redis client reconnects: for as long as it takes, from 100 ms
/// between attempts, doubling up to half a second (plus up to 100 ms of
/// jitter), so that every connection is back within about 0.6 s of Redis.
pub fn redis_reconnect_policy() -> ReconnectPolicy {
    ReconnectPolicy::new_exponential(0, 100, 500, 2)
}

/// How every Redis client of the service is set up: the server of
/// `REDIS_URL`, short timeouts, and reconnecting for as long as it takes.
fn redis_builder(config: &Config) -> anyhow::Result<Builder> {
    let url = config
        .redis_url
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("SESSION_BACKEND=redis needs REDIS_URL"))?;
    let redis_config = RedisConfig::from_url(url)
        .map_err(|e| anyhow::anyhow!("REDIS_URL is not a valid Redis URL: {e}"))?;
    let mut builder = Builder::from_config(redis_config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(5);
            c.internal_command_timeout = Duration::from_secs(5);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = redis_command_timeout(config.request_timeout);
        })
        .set_policy(redis_reconnect_policy());
    Ok(builder)
}

/// A built application: bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    /// `/metrics`, with `METRICS_ADDR`: its own listener and router.
    metrics: Option<(TcpListener, Router)>,
    background: Vec<JoinHandle<()>>,
    /// Listens for menu changes made on other instances (Redis only).
    catalog_subscriber: Option<Subscriber>,
    state: AppState,
    /// Every request's limit (`REQUEST_TIMEOUT_MS`), which also bounds how
    /// long stopping takes.
    request_timeout: Duration,
}

impl Application {
    /// Connects, migrates, loads the menu and binds `LISTEN_ADDR` (port 0
    /// picks a free port; `local_addr` says which).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// [`Application::build`] with the clock the service stamps times with;
    /// tests pass a manual one.
    pub async fn build_with_clock(config: Config, clock: Clock) -> anyhow::Result<Self> {
        // First, so that what starting records (the menu, the stores) is
        // counted; once per process (see `metrics`).
        let metrics_handle = config
            .metrics_addr
            .map(|_| crate::metrics::install())
            .transpose()?;
        // The dummy hash an unknown username is checked against is made
        // now, so the first such sign-in does not stand out by its time.
        tokio::task::spawn_blocking(crate::auth::password::warm_up).await?;
        let db = db::connect(&config).await?;
        db::migrate(&db).await?;
        let sessions = session_store(&config, &db, &clock).await?;
        let database_timeout = db::database_timeout(config.request_timeout);
        let catalog = Catalog::load(db.clone(), config.catalog_cache_ttl, database_timeout)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the menu: {e}"))?;
        let library = Library::load(&db)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the library: {e}"))?;
        let limits = Arc::new(rate_limits(&config, &sessions, &clock));
        // With Redis, menu changes are announced to the other instances and
        // heard from them, on a connection of the listener's own.
        let (catalog, catalog_subscriber) = match &sessions {
            AnyStore::Redis(_, pool) => {
                let announcer = Announcer::new(pool.clone());
                let catalog = Arc::new(catalog.announcing_to(announcer.clone()));
                let subscriber =
                    Subscriber::start(&redis_builder(&config)?, catalog.clone(), &announcer)
                        .await?;
                (catalog, Some(subscriber))
            }
            _ => (Arc::new(catalog), None),
        };
        let session_locks = session_locks(&config, &db, &sessions);
        let state = AppState::new(Shared {
            db,
            catalog,
            library: Arc::new(library),
            sessions: sessions.clone(),
            cookies: Arc::new(CookieKit::new(&config)),
            clock,
            checkout_limit: routes::orders::checkout_limit(config.request_timeout),
            tasks: TaskTracker::new(),
            database_timeout,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            limits,
            sign_in: config.sign_in,
            session_locks,
        });

        let mut background = Vec::new();
        {
            // On every backend: sign-ins whose records are gone from the store.
            let (state, period) = (state.clone(), config.session_cleanup_interval);
            background.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    if let Err(e) = crate::auth::logins::delete_ended(&state).await {
                        tracing::warn!(error = %e, "deleting ended sign-ins failed; will retry");
                    }
                }
            }));
        }
        // Redis expires sessions itself, the memory store on load.
        if matches!(sessions, AnyStore::Database(_) | AnyStore::File(_)) {
            let period = config.session_cleanup_interval;
            background.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(period);
                loop {
                    tick.tick().await;
                    if let Err(e) = sessions.delete_expired().await {
                        tracing::warn!(error = %e, "deleting expired sessions failed; will retry");
                    }
                }
            }));
        }

        let limits = state.limits.clone();
        background.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(RATE_LIMIT_SWEEP);
            loop {
                tick.tick().await;
                limits.sweep();
            }
        }));

        let router = app(&config, state.clone());
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_addr))?;
        let metrics = match (config.metrics_addr, metrics_handle) {
            (Some(addr), Some(handle)) => {
                let listener = TcpListener::bind(addr).await.map_err(|e| {
                    anyhow::anyhow!("cannot listen on {addr} (METRICS_ADDR) for the metrics: {e}")
                })?;
                Some((listener, crate::metrics::router(handle)))
            }
            _ => None,
        };
        Ok(Application {
            listener,
            router,
            metrics,
            background,
            catalog_subscriber,
            state,
            request_timeout: config.request_timeout,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Where `/metrics` is served (`METRICS_ADDR`; port 0 picks a free
    /// port), if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics
            .as_ref()
            .and_then(|(listener, _)| listener.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then stops taking connections
    /// and returns once every request already sent has its answer (see
    /// `serve`), or once the request timeout and [`SHUTDOWN_WRITE_OUT`]
    /// have passed, whichever comes first; and once the checkouts still
    /// running (their clients gone) have ended, within their limit. The
    /// metrics listener stops at the same time as the API's, in the same way.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let Application {
            listener,
            router,
            metrics,
            background,
            catalog_subscriber,
            state,
            request_timeout,
        } = self;
        let drain_limit = request_timeout + SHUTDOWN_WRITE_OUT;
        let result = match metrics {
            None => serve::serve(listener, router, shutdown, drain_limit).await,
            Some((metrics_listener, metrics_router)) => {
                let (stop, stopping) = tokio::sync::watch::channel(false);
                let stop = &stop;
                let api = async move {
                    let signal = async move {
                        shutdown.await;
                        stop.send_replace(true);
                    };
                    let result = serve::serve(listener, router, signal, drain_limit).await;
                    // Also when it could not start serving.
                    stop.send_replace(true);
                    result
                };
                let metrics = serve::serve(
                    metrics_listener,
                    metrics_router,
                    async move {
                        let mut stopping = stopping;
                        let _ = stopping.wait_for(|stop| *stop).await;
                    },
                    drain_limit,
                );
                let (result, metrics_result) = tokio::join!(api, metrics);
                if let Err(e) = metrics_result {
                    tracing::warn!(error = %e, "the metrics listener failed");
                }
                result
            }
        };
        // A checkout whose client hung up goes on in its own task: let it
        // record its order in the session (it ends within its limit).
        let tasks = &state.tasks;
        tasks.close();
        if tokio::time::timeout(state.checkout_limit, tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                tasks = tasks.len(),
                "checkouts still running at the stop; cutting them"
            );
        }
        for task in background {
            task.abort();
        }
        if let Some(subscriber) = catalog_subscriber {
            subscriber.stop().await;
        }
        if let AnyStore::Redis(_, pool) = &state.sessions {
            let _ = pool.quit().await;
        }
        state.db.clone().close().await.ok();
        result
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_command_waits_a_second_or_a_quarter_of_a_shorter_request() {
        let at = |ms| redis_command_timeout(Duration::from_millis(ms));
        assert_eq!(at(10_000), Duration::from_secs(1));
        assert_eq!(at(4_000), Duration::from_secs(1));
        assert_eq!(at(2_000), Duration::from_millis(500));
        assert!(!at(1).is_zero(), "zero would mean no timeout at all");
    }
}
