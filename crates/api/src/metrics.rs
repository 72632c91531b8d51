//! Prometheus metrics, served at `/metrics` on a listener of their own
//! (`METRICS_ADDR`), never on the API's: unset, there is no such listener.
//! The README's "Metrics" section lists each metric.
//!
//! The recorder is the `metrics` crate's global one, installed once per
//! process, by the first application built with `METRICS_ADDR`; from then
//! on every application in the process records into it, and each one's
//! `/metrics` renders it. A deployed process runs one application, so its
//! metrics are that application's. Tests start many in one process: they
//! read a count as its growth over their own requests, never as a total.
//! A recorder per application would not do: `metrics::with_local_recorder`
//! holds only for a synchronous closure on one thread, not across a
//! request's awaits and the tasks it starts, so every store, lock and
//! cache would have to be handed its application's handles instead.
//!
//! The hot paths never look a metric up by name. The series whose labels
//! are known in advance (stores, locks, the menu) are registered once, when
//! the recorder is installed, and kept as handles: recording is an atomic
//! add, or a push onto a histogram's lock-free buffer. A request's series
//! (route, method and status) is found in a cache of handles by those three,
//! under a read lock, and registered on its first request. Until the
//! recorder is installed (without `METRICS_ADDR`, for ever) each recording
//! function returns after one atomic load, and nothing is timed.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use ::metrics::{Counter, Histogram, Unit};
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use strum::VariantArray;

use crate::config::{SessionBackend, SessionLock};
use crate::error::ApiError;

/// The Prometheus text format's media type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Every histogram's buckets, in seconds: from a memory store's 100 µs to
/// the 10 s of the default request timeout.
const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// How often the histograms' buffers are folded into their buckets when no
/// one scrapes (a scrape folds them too), so they do not grow.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The route label of a request no route matched: never its path, which
/// the client chooses and would make a series per path tried.
pub const UNMATCHED: &str = "unmatched";

const HTTP_REQUESTS: &str = "km_http_requests_total";
const HTTP_DURATION: &str = "km_http_request_duration_seconds";
const STORE_OPERATIONS: &str = "km_session_store_operations_total";
const STORE_DURATION: &str = "km_session_store_operation_duration_seconds";
const SESSIONS_CREATED: &str = "km_sessions_created_total";
const LOCK_WAIT: &str = "km_session_lock_wait_seconds";
const LOCK_TIMEOUTS: &str = "km_session_lock_timeouts_total";
const LOCK_RENEWALS: &str = "km_session_lock_renewals_total";
const MENU_RELOADS: &str = "km_menu_reloads_total";

static INSTALLED: OnceLock<Result<Installed, String>> = OnceLock::new();

struct Installed {
    handle: PrometheusHandle,
    series: Series,
}

/// The handles, once the recorder is installed.
fn series() -> Option<&'static Series> {
    match INSTALLED.get() {
        Some(Ok(installed)) => Some(&installed.series),
        _ => None,
    }
}

/// Installs the process's recorder, the first time, and returns what
/// renders it. Fails only when another recorder was installed first.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    match INSTALLED.get_or_init(try_install) {
        Ok(installed) => Ok(installed.handle.clone()),
        Err(e) => Err(anyhow::anyhow!("cannot record metrics: {e}")),
    }
}

fn try_install() -> Result<Installed, String> {
    let recorder = PrometheusBuilder::new()
        .set_buckets(&BUCKETS)
        .map_err(|e| e.to_string())?
        .build_recorder();
    let handle = recorder.handle();
    ::metrics::set_global_recorder(recorder)
        .map_err(|_| "another metrics recorder is installed in this process".to_owned())?;
    describe();
    // A thread rather than a task: the recorder outlives any one runtime
    // (each test has its own).
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        })
        .map_err(|e| format!("cannot start the metrics upkeep thread: {e}"))?;
    Ok(Installed {
        handle,
        series: Series::register(),
    })
}

/// The `# HELP` lines.
fn describe() {
    use ::metrics::{describe_counter, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "Time to answer an HTTP request (its response's head), by route template, method and status"
    );
    describe_counter!(
        STORE_OPERATIONS,
        "Session store operations, by backend, operation and result"
    );
    describe_histogram!(
        STORE_DURATION,
        Unit::Seconds,
        "Time a session store operation took, by backend and operation"
    );
    describe_counter!(SESSIONS_CREATED, "Sessions created, by backend");
    describe_histogram!(
        LOCK_WAIT,
        Unit::Seconds,
        "Time a change waited for its session's turn, by lock: in process, then across instances"
    );
    describe_counter!(
        LOCK_TIMEOUTS,
        "Changes refused (503) because their session's turn did not come in time, by lock"
    );
    describe_counter!(
        LOCK_RENEWALS,
        "Extensions of held cross-instance session locks, by lock and result"
    );
    describe_counter!(MENU_RELOADS, "Reloads of the in-memory menu, by result");
}

/// A session store operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum StoreOp {
    Load,
    Save,
    Create,
    Delete,
}

/// How the renewal of a held lock went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "lowercase")]
pub enum Renewal {
    /// Extended.
    Ok,
    /// Gone while still held: it expired (the store was unreachable for its
    /// whole lifetime), and another instance may have taken it.
    Lost,
    /// The store did not answer; tried again at the next round.
    Error,
}

fn result(ok: bool) -> &'static str {
    if ok { "ok" } else { "error" }
}

/// Every handle, registered with the recorder once.
struct Series {
    /// By [`SessionBackend`], in its order.
    stores: Vec<StoreSeries>,
    /// By [`SessionLock`], in its order.
    locks: Vec<LockSeries>,
    /// Failed, then succeeded.
    menu_reloads: [Counter; 2],
    /// By route, then a few (method, status) pairs each.
    http: RwLock<HashMap<Box<str>, Vec<HttpSeries>>>,
}

struct StoreSeries {
    /// By [`StoreOp`], then failed or succeeded.
    operations: Vec<[Counter; 2]>,
    /// By [`StoreOp`].
    seconds: Vec<Histogram>,
    created: Counter,
}

struct LockSeries {
    wait: Histogram,
    timeouts: Counter,
    /// By [`Renewal`]; none for the locks that are not renewed (a process's
    /// own, and a file lock, which the kernel releases with its holder).
    renewals: Vec<Counter>,
}

struct HttpSeries {
    method: &'static str,
    status: u16,
    requests: Counter,
    seconds: Histogram,
}

impl Series {
    fn register() -> Series {
        use ::metrics::{counter, histogram};
        let stores = SessionBackend::VARIANTS
            .iter()
            .map(|&backend| {
                let backend: &'static str = backend.into();
                StoreSeries {
                    operations: StoreOp::VARIANTS
                        .iter()
                        .map(|&op| {
                            let op: &'static str = op.into();
                            [false, true].map(|ok| {
                                counter!(STORE_OPERATIONS, "backend" => backend, "operation" => op, "result" => result(ok))
                            })
                        })
                        .collect(),
                    seconds: StoreOp::VARIANTS
                        .iter()
                        .map(|&op| {
                            let op: &'static str = op.into();
                            histogram!(STORE_DURATION, "backend" => backend, "operation" => op)
                        })
                        .collect(),
                    created: counter!(SESSIONS_CREATED, "backend" => backend),
                }
            })
            .collect();
        let locks = SessionLock::VARIANTS
            .iter()
            .map(|&lock| {
                let renewed = matches!(lock, SessionLock::Redis | SessionLock::Database);
                let lock: &'static str = lock.into();
                LockSeries {
                    wait: histogram!(LOCK_WAIT, "lock" => lock),
                    timeouts: counter!(LOCK_TIMEOUTS, "lock" => lock),
                    renewals: Renewal::VARIANTS
                        .iter()
                        .filter(|_| renewed)
                        .map(|&r| {
                            let r: &'static str = r.into();
                            counter!(LOCK_RENEWALS, "lock" => lock, "result" => r)
                        })
                        .collect(),
                }
            })
            .collect();
        Series {
            stores,
            locks,
            menu_reloads: [false, true].map(|ok| counter!(MENU_RELOADS, "result" => result(ok))),
            http: RwLock::new(HashMap::new()),
        }
    }

    fn lock(&self, lock: SessionLock) -> &LockSeries {
        &self.locks[lock as usize]
    }

    fn http_request(&self, route: &str, method: &'static str, status: StatusCode, took: Duration) {
        let status = status.as_u16();
        let record = |series: &HttpSeries| {
            series.requests.increment(1);
            series.seconds.record(took.as_secs_f64());
        };
        let found = |all: &[HttpSeries]| {
            all.iter()
                .position(|s| s.status == status && s.method == method)
        };
        {
            let routes = self.http.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(all) = routes.get(route)
                && let Some(i) = found(all)
            {
                return record(&all[i]);
            }
        }
        let mut routes = self.http.write().unwrap_or_else(PoisonError::into_inner);
        let all = routes.entry(route.into()).or_default();
        // Another request may have registered it meanwhile.
        let i = found(all).unwrap_or_else(|| {
            let labels = [
                ("route", route.to_owned()),
                ("method", method.to_owned()),
                ("status", status.to_string()),
            ];
            all.push(HttpSeries {
                method,
                status,
                requests: ::metrics::counter!(HTTP_REQUESTS, &labels),
                seconds: ::metrics::histogram!(HTTP_DURATION, &labels),
            });
            all.len() - 1
        });
        record(&all[i]);
    }
}

/// The time now when metrics are recorded, to pass to a function below
/// once the work is done; `None` (and no clock read) otherwise.
pub fn start() -> Option<Instant> {
    series().map(|_| Instant::now())
}

/// Runs a session store operation, counting it by its result and timing it
/// (a successful `create` also counts a session created).
pub async fn store_op<T, E>(
    backend: SessionBackend,
    op: StoreOp,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let Some(series) = series() else {
        return work.await;
    };
    let started = Instant::now();
    let outcome = work.await;
    let store = &series.stores[backend as usize];
    let ok = outcome.is_ok();
    store.operations[op as usize][usize::from(ok)].increment(1);
    store.seconds[op as usize].record(started.elapsed().as_secs_f64());
    if ok && op == StoreOp::Create {
        store.created.increment(1);
    }
    outcome
}

/// A change had its turn on `lock`, after waiting since `started` (from
/// [`start`]).
pub fn lock_waited(lock: SessionLock, started: Option<Instant>) {
    if let (Some(series), Some(started)) = (series(), started) {
        series
            .lock(lock)
            .wait
            .record(started.elapsed().as_secs_f64());
    }
}

/// A change was refused: its turn on `lock` did not come in time.
pub fn lock_timed_out(lock: SessionLock) {
    if let Some(series) = series() {
        series.lock(lock).timeouts.increment(1);
    }
}

/// A held lock's renewal went as `how`.
pub fn lock_renewed(lock: SessionLock, how: Renewal) {
    if let Some(series) = series()
        && let Some(renewals) = series.lock(lock).renewals.get(how as usize)
    {
        renewals.increment(1);
    }
}

/// The menu was read again, or could not be.
pub fn menu_reloaded(ok: bool) {
    if let Some(series) = series() {
        series.menu_reloads[usize::from(ok)].increment(1);
    }
}

/// The method as a label: the standard ones by name, any other as `other`,
/// since a client may send any token as a method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

/// Counts and times every request, by its route's template. Applied with
/// `Router::layer`, which wraps each route after routing, so a matched
/// request carries its [`MatchedPath`] (the fallback's do not: they are
/// [`UNMATCHED`]). Outermost, so the time and status are the client's:
/// a timeout's 408 included.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestMetricsLayer;

impl<S> tower::Layer<S> for RequestMetricsLayer {
    type Service = RequestMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequestMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct RequestMetrics<S> {
    inner: S,
}

impl<S, B> tower::Service<Request> for RequestMetrics<S>
where
    S: tower::Service<Request, Response = axum::http::Response<B>>,
    S::Future: Unpin,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Measured<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let started = series().map(|series| Started {
            series,
            at: Instant::now(),
            route: req.extensions().get::<MatchedPath>().cloned(),
            method: method_label(req.method()),
        });
        Measured {
            inner: self.inner.call(req),
            started,
        }
    }
}

struct Started {
    series: &'static Series,
    at: Instant,
    route: Option<MatchedPath>,
    method: &'static str,
}

/// A request's response, recorded once it is ready. A request dropped
/// before then (its client gone) is not recorded.
pub struct Measured<F> {
    inner: F,
    started: Option<Started>,
}

impl<F, B, E> Future for Measured<F>
where
    F: Future<Output = Result<axum::http::Response<B>, E>> + Unpin,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let output = ready!(Pin::new(&mut this.inner).poll(cx));
        if let (Some(started), Ok(res)) = (this.started.take(), &output) {
            let route = started
                .route
                .as_ref()
                .map_or(UNMATCHED, MatchedPath::as_str);
            started
                .series
                .http_request(route, started.method, res.status(), started.at.elapsed());
        }
        Poll::Ready(output)
    }
}

/// The metrics listener's router: `GET /metrics`, and a 404 for the rest.
pub fn router(handle: PrometheusHandle) -> Router {
    Router::new()
        .route("/metrics", get(render))
        .fallback(not_found)
        .with_state(handle)
}

async fn render(State(handle): State<PrometheusHandle>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE))],
        handle.render(),
    )
        .into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!(
        "There is nothing at {} on the metrics listener; the metrics are at /metrics.",
        req.uri().path()
    ))
}
