//! What the outage tests (`redis_outage.rs`, `postgres_outage.rs`) assert
//! alike: a 503 in designed time, readiness naming the part that is down,
//! and the service working again soon after it is back.

use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use serde_json::json;

use crate::helpers::{TestApp, assert_problem};

/// The service's request timeout (its default): every answer must come
/// before it.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// How soon after the part answers again every request must work.
pub(crate) const RECOVERY: Duration = Duration::from_secs(2);

/// How much later than designed an answer may come on a loaded machine.
pub(crate) const MARGIN: Duration = Duration::from_millis(500);

/// Sends `request` and asserts what it gets while a part it needs is down:
/// a 503 problem with `Retry-After`, within `designed` (and the margin).
pub(crate) async fn assert_unavailable(request: RequestBuilder, what: &str, designed: Duration) {
    let started = Instant::now();
    let res = tokio::time::timeout(REQUEST_TIMEOUT * 2, request.send())
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer in twice the request timeout"))
        .expect("request");
    let took = started.elapsed();
    assert_eq!(res.status(), 503, "{what} after {took:?}");
    assert!(
        res.headers().contains_key("retry-after"),
        "{what}: no Retry-After"
    );
    assert_problem(res, 503, "service-unavailable").await;
    assert!(
        took < designed + MARGIN,
        "{what}: the 503 came after {took:?}, designed within {designed:?}"
    );
    eprintln!("{what}: 503 after {} ms", took.as_millis());
}

/// Asserts that `/readyz` says not ready because of `part` alone (as the
/// answer lists it; its detail calls it `named`), within `designed`.
pub(crate) async fn assert_not_ready(app: &TestApp, part: &str, named: &str, designed: Duration) {
    let started = Instant::now();
    let res = app.get("/readyz").await;
    let took = started.elapsed();
    let body = assert_problem(res, 503, "service-unavailable").await;
    assert_eq!(body["unavailable"], json!([part]), "{body}");
    assert!(body["detail"].as_str().unwrap().contains(named), "{body}");
    assert!(
        took < designed + MARGIN,
        "readiness answered after {took:?}, designed within {designed:?}"
    );
    eprintln!("/readyz: 503 after {} ms", took.as_millis());
}

/// Waits until a round of requests all succeed (readiness, and each of
/// `paths` for each visitor), and returns how long after `since` that was.
pub(crate) async fn working_again(
    app: &TestApp,
    visitors: &[&Client],
    paths: &[&str],
    since: Instant,
) -> Duration {
    loop {
        let mut ok = app.get("/readyz").await.status() == 200;
        for visitor in visitors {
            for path in paths {
                let res = visitor.get(app.url(path)).send().await.unwrap();
                ok &= res.status() == 200;
            }
        }
        if ok {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < REQUEST_TIMEOUT * 2,
            "the service did not recover"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
