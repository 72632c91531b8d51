//! Building the application: connections, stores, the router and its layers,
//! the listener, and graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
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
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{Config, SessionBackend, SessionLock};
use crate::cookies::CookieKit;
use crate::db;
use crate::db::catalog::Catalog;
use crate::error::{ApiError, problem_for_bare_errors};
use crate::openapi::{ApiDoc, CommonResponses};
use crate::origin::{AllowedOrigins, refuse_cross_site_writes};
use crate::routes;
use crate::session::lock::{SessionLocks, serialize_session_writes};
use crate::session::rotation::{SessionCookieKeys, resign_with_current_key};
use crate::session::{self, AnyStore, db_store::DatabaseStore};
use crate::state::AppState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The routes and the spec they produce, before any state or layer.
fn route_parts() -> (Router<AppState>, Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/api/v1", routes::api_v1())
        .split_for_parts();
    let (probes, probe_spec) = routes::health::router().split_for_parts();
    spec.merge(probe_spec);
    CommonResponses.modify(&mut spec);
    (api, probes, spec)
}

/// The OpenAPI document the service serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    route_parts().2
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
    let (api, probes, spec) = route_parts();

    let mut api = api
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(session::layer(config, state.sessions.clone()));
    if config.session_cookie.expire_at_browser_close {
        api = api.layer(middleware::map_response_with_state(
            Arc::<str>::from(config.session_cookie.name.as_str()),
            session::browser_session_cookie,
        ));
    }
    let api = api
        .layer(middleware::from_fn_with_state(
            session_locks(config, &state.sessions),
            serialize_session_writes,
        ))
        .layer(middleware::from_fn_with_state(
            SessionCookieKeys::new(config),
            resign_with_current_key,
        ))
        .layer(middleware::from_fn_with_state(
            AllowedOrigins::new(&config.cors_allowed_origins, config.session_cookie.secure),
            refuse_cross_site_writes,
        ));

    let mut router = Router::new()
        .merge(api)
        .merge(probes)
        .merge(SwaggerUi::new("/swagger-ui").url("/api-docs/openapi.json", spec))
        .fallback(not_found)
        .with_state(state);

    if !config.cors_allowed_origins.is_empty() {
        router = router.layer(
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
                .expose_headers([REQUEST_ID, header::LOCATION])
                .max_age(Duration::from_secs(600)),
        );
    }

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
            .layer(middleware::map_response(problem_for_bare_errors))
            .layer(TimeoutLayer::with_status_code(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            // Enforced by every body extractor, with or without a Content-Length.
            .layer(DefaultBodyLimit::max(config.body_limit_bytes)),
    )
}

fn session_locks(config: &Config, sessions: &AnyStore) -> Arc<SessionLocks> {
    match (config.session_lock, sessions) {
        (SessionLock::Redis, AnyStore::Redis(_, pool)) => SessionLocks::with_redis(
            &config.session_cookie.name,
            pool.clone(),
            config.request_timeout,
        ),
        _ => SessionLocks::new(&config.session_cookie.name),
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
) -> anyhow::Result<AnyStore> {
    Ok(match config.session_backend {
        SessionBackend::Memory => AnyStore::Memory(MemoryStore::default()),
        SessionBackend::Database => AnyStore::Database(DatabaseStore::new(db.clone())),
        SessionBackend::Redis => {
            let url = config
                .redis_url
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("SESSION_BACKEND=redis needs REDIS_URL"))?;
            let redis_config = RedisConfig::from_url(url)
                .map_err(|e| anyhow::anyhow!("REDIS_URL is not a valid Redis URL: {e}"))?;
            let pool = Builder::from_config(redis_config)
                .with_connection_config(|c| {
                    c.connection_timeout = Duration::from_secs(5);
                    c.internal_command_timeout = Duration::from_secs(5);
                })
                .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
                .build_pool(config.redis_pool_size)
                .map_err(|e| anyhow::anyhow!("cannot set up the Redis pool: {e}"))?;
            pool.init().await.map_err(|e| {
                anyhow::anyhow!("cannot connect to Redis at the REDIS_URL given: {e}")
            })?;
            AnyStore::redis(pool)
        }
    })
}

/// A built application: bound to its port, ready to serve.
pub struct Application {
    listener: TcpListener,
    router: Router,
    background: Vec<JoinHandle<()>>,
    state: AppState,
}

impl Application {
    /// Connects, migrates, loads the menu and binds `LISTEN_ADDR` (port 0
    /// picks a free port; `local_addr` says which).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let db = db::connect(&config).await?;
        db::migrate(&db).await?;
        let sessions = session_store(&config, &db).await?;
        let catalog = Catalog::load(db.clone(), config.catalog_cache_ttl)
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the menu: {e}"))?;
        let state = AppState {
            db,
            catalog: Arc::new(catalog),
            sessions: sessions.clone(),
            cookies: Arc::new(CookieKit::new(&config)),
        };

        let mut background = Vec::new();
        if matches!(sessions, AnyStore::Database(_)) {
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

        let router = app(&config, state.clone());
        let listener = TcpListener::bind(config.listen_addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_addr))?;
        Ok(Application {
            listener,
            router,
            background,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until Ctrl-C or SIGTERM, then finishes the requests in flight.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let result = axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        for task in self.background {
            task.abort();
        }
        if let AnyStore::Redis(_, pool) = &self.state.sessions {
            let _ = pool.quit().await;
        }
        self.state.db.clone().close().await.ok();
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
