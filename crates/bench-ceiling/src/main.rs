//! The ceiling `scripts/bench.sh` measures the service against: an axum
//! server that does only the Redis round trips a cart request needs, and
//! nothing else (no session layer, no logging, no limits, no signed cookie).
//! On a shared machine absolute req/s drift by half from hour to hour; the
//! service's req/s divided by this server's, measured in the same run, does
//! not.
//!
//! - `GET /read`: one `GET` of the key the `km_session` cookie names (as a
//!   cart read loads its session);
//! - `POST` or `PUT /write`: `GET` of that key, then `SET key value EX
//!   1209600` of the value read (as a cart write loads and saves its session);
//! - `GET /healthz`: `{"status":"ok"}`, the service's own liveness answer,
//!   with no Redis: the bare handler.
//!
//! No cookie is a 401 and no such key a 404, for `/read` as for `/write` (so
//! a bench that names the wrong key gets errors, not a fast `GET` of
//! nothing); Redis failing is a 503. Each answers a small JSON object.
//!
//! Environment: `LISTEN_ADDR` (default `127.0.0.1:18282`), `REDIS_URL`
//! (default `redis://127.0.0.1:6379`), `REDIS_POOL_SIZE` (default 4, the
//! service's default) and `SESSION_COOKIE_NAME` (default `km_session`).
//! Built only on demand: the crate is not among the workspace's default
//! members and not in the image.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use fred::bytes::Bytes;
use fred::prelude::{Builder, ClientLike, Config, KeysInterface, Pool, ReconnectPolicy};
use fred::types::Expiration;
use serde::Serialize;

/// The service's allocator: a ceiling with a slower one would flatter the
/// service's ratio.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long a written key lives: 14 days, as `SET ... EX 1209600`.
const TTL_SECONDS: i64 = 1_209_600;

#[derive(Clone)]
struct Ceiling {
    redis: Pool,
    cookie_name: &'static str,
}

/// The answer of every endpoint but `/healthz`.
#[derive(Serialize)]
struct Answer {
    /// The stored value's length in bytes, or the error.
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
}

fn answer(status: StatusCode, bytes: Option<usize>, error: Option<&'static str>) -> Response {
    (status, Json(Answer { bytes, error })).into_response()
}

fn refused(status: StatusCode, error: &'static str) -> Response {
    answer(status, None, Some(error))
}

/// The value of the first cookie named `name`, if any.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, value) = pair.trim().split_once('=')?;
            (n == name && !value.is_empty()).then_some(value)
        })
}

async fn read(State(c): State<Ceiling>, headers: HeaderMap) -> Response {
    let Some(key) = cookie(&headers, c.cookie_name) else {
        return refused(StatusCode::UNAUTHORIZED, "no session cookie");
    };
    match c.redis.get::<Option<Bytes>, _>(key).await {
        Ok(Some(value)) => answer(StatusCode::OK, Some(value.len()), None),
        Ok(None) => refused(StatusCode::NOT_FOUND, "no such key"),
        Err(_) => refused(StatusCode::SERVICE_UNAVAILABLE, "redis"),
    }
}

async fn write(State(c): State<Ceiling>, headers: HeaderMap) -> Response {
    let Some(key) = cookie(&headers, c.cookie_name) else {
        return refused(StatusCode::UNAUTHORIZED, "no session cookie");
    };
    let value = match c.redis.get::<Option<Bytes>, _>(key).await {
        Ok(Some(value)) => value,
        Ok(None) => return refused(StatusCode::NOT_FOUND, "no such key"),
        Err(_) => return refused(StatusCode::SERVICE_UNAVAILABLE, "redis"),
    };
    let len = value.len();
    let expire = Some(Expiration::EX(TTL_SECONDS));
    match c
        .redis
        .set::<(), _, _>(key, value, expire, None, false)
        .await
    {
        Ok(()) => answer(StatusCode::OK, Some(len), None),
        Err(_) => refused(StatusCode::SERVICE_UNAVAILABLE, "redis"),
    }
}

/// The bare handler: no Redis, the service's `/healthz` body, so the
/// service's `/healthz` against it is the cost of the service's layers.
async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The pool as the service builds its own (`redis_builder` and
/// `session_store` in `crates/api/src/startup.rs`): the same timeouts
/// (the command timeout the service has at its default request timeout),
/// reconnect policy and number of connections.
async fn redis_pool() -> Result<Pool, String> {
    let url = env_or("REDIS_URL", "redis://127.0.0.1:6379");
    let size: usize = env_or("REDIS_POOL_SIZE", "4")
        .trim()
        .parse()
        .map_err(|e| format!("REDIS_POOL_SIZE: {e}"))?;
    let config = Config::from_url(&url).map_err(|e| format!("REDIS_URL: {e}"))?;
    let mut builder = Builder::from_config(config);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(5);
            c.internal_command_timeout = Duration::from_secs(5);
        })
        .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(1))
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 500, 2));
    let pool = builder
        .build_pool(size.max(1))
        .map_err(|e| format!("Redis pool: {e}"))?;
    pool.init()
        .await
        .map_err(|e| format!("cannot connect to Redis at {url}: {e}"))?;
    Ok(pool)
}

async fn run() -> Result<(), String> {
    let addr: SocketAddr = env_or("LISTEN_ADDR", "127.0.0.1:18282")
        .parse()
        .map_err(|e| format!("LISTEN_ADDR: {e}"))?;
    let cookie_name = env_or("SESSION_COOKIE_NAME", "km_session").leak();
    let state = Ceiling {
        redis: redis_pool().await?,
        cookie_name,
    };
    let app = Router::new()
        .route("/read", get(read))
        .route("/write", axum::routing::post(write).put(write))
        .route("/healthz", get(healthz))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("serve: {e}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-ceiling: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
