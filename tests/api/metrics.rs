//! Prometheus metrics on their own listener (`METRICS_ADDR`).
//!
//! The recorder is one per process and the tests share the process, so a
//! test reads each count as its growth across its own requests (other
//! tests may add to it meanwhile, never take from it).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;

use crate::helpers::{Backend, TestApp, app, assert_problem, backends, send, services, spawn_app};
use crate::postgres_outage::{wait_at_commit, wait_for_a_lock_wait};

/// One sample of the exposition: a metric's labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// What `/metrics` answered, parsed.
struct Scrape {
    text: String,
    samples: Vec<Sample>,
}

impl Scrape {
    /// The sum of `name`'s samples that carry every label of `labels`
    /// (more labels allowed); 0 when there is none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name)
            .filter(|s| {
                labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
            .sum()
    }
}

/// Parses one sample line: `name{k="v",...} value`, where a value may hold
/// any character (a quote, a backslash and a line break escaped).
fn sample(line: &str) -> Sample {
    let (series, value) = line.rsplit_once(' ').expect("a value");
    let value = value.parse().expect("a number");
    let Some((name, labels_text)) = series.split_once('{') else {
        return Sample {
            name: series.to_owned(),
            labels: BTreeMap::new(),
            value,
        };
    };
    let mut rest = labels_text.strip_suffix('}').expect("a closing brace");
    let mut labels = BTreeMap::new();
    while !rest.is_empty() {
        let (key, quoted) = rest.split_once("=\"").expect("a label");
        let mut label = String::new();
        let mut chars = quoted.char_indices();
        let end = loop {
            match chars.next().expect("a closing quote") {
                (_, '\\') => match chars.next().expect("an escaped character") {
                    (_, 'n') => label.push('\n'),
                    (_, c) => label.push(c),
                },
                (i, '"') => break i,
                (_, c) => label.push(c),
            }
        };
        labels.insert(key.to_owned(), label);
        rest = quoted[end + 1..].trim_start_matches(',');
    }
    Sample {
        name: name.to_owned(),
        labels,
        value,
    }
}

/// `GET /metrics` on the app's metrics listener: 200, the text format.
async fn scrape(app: &TestApp) -> Scrape {
    let base = app.metrics_base.as_ref().expect("a metrics listener");
    let res = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let samples = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(sample)
        .collect();
    Scrape { text, samples }
}

/// The lock a change takes across instances on `backend`, by default.
fn shared_lock(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Redis => Some("redis"),
        Backend::File => Some("file"),
        Backend::Database if services().is_some() => Some("database"),
        Backend::Database | Backend::Memory => None,
    }
}

#[tokio::test]
async fn the_metrics_listener_counts_requests_by_route_and_the_session_work_of_each_store() {
    for backend in backends() {
        let app = app()
            .backend(backend)
            .var("METRICS_ADDR", "127.0.0.1:0")
            .spawn()
            .await;
        let before = scrape(&app).await;
        let unknown_path = format!("/nowhere-{:x}", rand::random::<u64>());

        assert_eq!(app.add(1, 2).await.status(), 201, "{backend:?}");
        assert_eq!(app.add(6, 1).await.status(), 201, "{backend:?}");
        app.cart().await;
        assert_eq!(app.get("/api/v1/products").await.status(), 200);
        assert_eq!(app.get("/api/v1/products/987654").await.status(), 404);
        assert_eq!(app.get(&unknown_path).await.status(), 404);
        assert_eq!(app.delete("/api/v1/session").await.status(), 200);
        let after = scrape(&app).await;

        let grew = |name: &str, labels: &[(&str, &str)]| {
            after.value(name, labels) - before.value(name, labels)
        };
        let request =
            |route, method, status| [("route", route), ("method", method), ("status", status)];
        // Requests, by route template, method and status.
        let adds = request("/api/v1/cart/items", "POST", "201");
        assert!(grew("km_http_requests_total", &adds) >= 2.0, "{backend:?}");
        for (route, status) in [
            ("/api/v1/cart", "200"),
            ("/api/v1/products", "200"),
            ("/api/v1/products/{id}", "404"),
            ("unmatched", "404"),
            ("/api/v1/session", "200"),
        ] {
            let method = if route == "/api/v1/session" {
                "DELETE"
            } else {
                "GET"
            };
            let labels = request(route, method, status);
            assert!(
                grew("km_http_requests_total", &labels) >= 1.0,
                "{backend:?}: {labels:?}"
            );
        }
        // Their latency: a histogram, with buckets.
        let bucket = |le| {
            let [route, method, status] = adds;
            [route, method, status, ("le", le)]
        };
        assert!(grew("km_http_request_duration_seconds_bucket", &bucket("+Inf")) >= 2.0);
        assert!(grew("km_http_request_duration_seconds_count", &adds) >= 2.0);
        assert!(after.value("km_http_request_duration_seconds_sum", &adds) > 0.0);
        assert!(
            after
                .text
                .contains("km_http_request_duration_seconds_bucket{route=\"/api/v1/cart/items\",method=\"POST\",status=\"201\",le=\"0.001\"}"),
            "a bucket of a millisecond"
        );
        // A path no route has, and a route's parameter, never become labels.
        assert!(!after.text.contains(&unknown_path[1..]), "{backend:?}");
        assert!(!after.text.contains("987654"), "{backend:?}");

        // The session store's work: each operation, its time, the session made.
        let name = backend.env_name();
        for operation in ["create", "load", "save", "delete"] {
            let labels = [
                ("backend", name),
                ("operation", operation),
                ("result", "ok"),
            ];
            assert!(
                grew("km_session_store_operations_total", &labels) >= 1.0,
                "{backend:?}: {operation}"
            );
            let timed = [("backend", name), ("operation", operation)];
            assert!(
                grew("km_session_store_operation_duration_seconds_count", &timed) >= 1.0,
                "{backend:?}: {operation}"
            );
        }
        assert!(grew("km_sessions_created_total", &[("backend", name)]) >= 1.0);

        // The second add, the goodbye: each waited for its turn, in process
        // and then across instances where the store is shared.
        let waited = |lock| grew("km_session_lock_wait_seconds_count", &[("lock", lock)]);
        assert!(waited("process") >= 2.0, "{backend:?}");
        if let Some(lock) = shared_lock(backend) {
            assert!(waited(lock) >= 2.0, "{backend:?}: {lock}");
        }
        // The tests' menu is always stale (CATALOG_CACHE_TTL_MS=0): read again.
        assert!(grew("km_menu_reloads_total", &[("result", "ok")]) >= 1.0);
        // The rest is listed from the start, at zero until it happens.
        for listed in [
            "km_session_lock_timeouts_total{lock=\"process\"}",
            "km_session_lock_renewals_total{lock=\"redis\",result=\"lost\"}",
            "km_menu_reloads_total{result=\"error\"}",
        ] {
            assert!(after.text.contains(listed), "{listed}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_refused_behind_another_instance_counts_a_lock_timeout_and_a_held_lock_its_renewals()
 {
    for backend in backends() {
        let Some(lock) = shared_lock(backend) else {
            continue;
        };
        // A file lock is the kernel's to release, and is never renewed; the
        // Redis and database locks are held here with PostgreSQL.
        let renewed = lock != "file";
        // Where the lock is renewed, the checkout limit (three times the
        // request timeout, 6 s), which bounds the wait for a commit,
        // outlasts the first renewal.
        let request_timeout = if renewed { "2000" } else { "1000" };
        let app = app()
            .backend(backend)
            .var("REQUEST_TIMEOUT_MS", request_timeout)
            .var("METRICS_ADDR", "127.0.0.1:0")
            .spawn()
            .await;
        let other = app.another_instance().await;
        assert_eq!(app.add(1, 1).await.status(), 201);
        let before = scrape(&app).await;

        // A checkout keeps the session's lock while it is stuck: on the
        // dish's row until it gives up (a database timeout, 1 s here), or,
        // for a lock to be renewed, in its commit for as long as the test
        // holds the advisory lock its commit waits on (PostgreSQL only).
        let blocker = app.db.begin().await.unwrap();
        if renewed {
            wait_at_commit(&app).await;
            blocker
                .execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
                .await
                .unwrap();
        } else {
            blocker
                .execute_unprepared("UPDATE products SET stock = stock WHERE id = 1")
                .await
                .unwrap();
        }
        let started = Instant::now();
        let checkout = tokio::spawn(app.client.post(app.url("/api/v1/orders")).send());
        if renewed {
            wait_for_a_lock_wait(&app).await;
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The same visitor's change on the other instance waits half its
        // request timeout for the lock, then is refused.
        let add = json!({"product_id": 2, "quantity": 1});
        let url = format!("{}/api/v1/cart/items", other.base);
        let res = send(&app.client, reqwest::Method::POST, url, Some(&add)).await;
        assert_problem(res, 503, "service-unavailable").await;
        if renewed {
            // A held lock is extended every third of its 10 s lifetime.
            let renewal = Duration::from_millis(3_333 + 1_000);
            tokio::time::sleep(renewal.saturating_sub(started.elapsed())).await;
        }
        blocker.rollback().await.unwrap();
        // Answered in any way: the request times out before a frozen commit ends.
        checkout.await.unwrap().unwrap();
        let after = scrape(&app).await;

        let grew = |name: &str, labels: &[(&str, &str)]| {
            after.value(name, labels) - before.value(name, labels)
        };
        assert!(
            grew("km_session_lock_timeouts_total", &[("lock", lock)]) >= 1.0,
            "{backend:?}: {lock}"
        );
        if renewed {
            let labels = [("lock", lock), ("result", "ok")];
            assert!(
                grew("km_session_lock_renewals_total", &labels) >= 1.0,
                "{backend:?}: {lock}"
            );
        }
    }
}

#[tokio::test]
async fn metrics_are_never_on_the_api_s_listener_and_only_at_metrics_on_their_own() {
    let app = app().var("METRICS_ADDR", "127.0.0.1:0").spawn().await;
    let metrics = app.metrics_base.clone().unwrap();
    assert_ne!(metrics, app.base, "a listener of its own");

    assert_problem(app.get("/metrics").await, 404, "not-found").await;
    let res = reqwest::get(format!("{metrics}/api/v1/products"))
        .await
        .unwrap();
    assert_problem(res, 404, "not-found").await;
    let scraped = scrape(&app).await;
    assert!(
        scraped
            .text
            .contains("# TYPE km_http_requests_total counter")
    );
    // The main listener's 404 for /metrics was counted, as any other.
    let labels = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert!(scraped.value("km_http_requests_total", &labels) >= 1.0);
}

#[tokio::test]
async fn a_refused_method_keeps_its_route_and_an_unknown_method_is_other() {
    let app = app().var("METRICS_ADDR", "127.0.0.1:0").spawn().await;
    let before = scrape(&app).await;

    let patch = reqwest::Method::PATCH;
    let res = send(&app.client, patch, app.url("/api/v1/products"), None).await;
    assert_eq!(res.status(), 405);
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let res = send(&app.client, brew, app.url("/api/v1/products"), None).await;
    assert_eq!(res.status(), 405);
    let after = scrape(&app).await;

    for method in ["PATCH", "other"] {
        let labels = [
            ("route", "/api/v1/products"),
            ("method", method),
            ("status", "405"),
        ];
        let grew = after.value("km_http_requests_total", &labels)
            - before.value("km_http_requests_total", &labels);
        assert!(grew >= 1.0, "{labels:?}");
    }
    assert!(!after.text.contains("BREW"), "a method the client made up");
}

#[tokio::test]
async fn the_metrics_listener_stops_with_the_service_and_a_restart_opens_it_again() {
    let mut app = app().var("METRICS_ADDR", "127.0.0.1:0").spawn().await;
    let scraper = reqwest::Client::new();
    let metrics = format!("{}/metrics", app.metrics_base.clone().unwrap());
    // A scraper's connection, kept alive, does not hold the stop up.
    assert_eq!(scraper.get(&metrics).send().await.unwrap().status(), 200);

    let started = Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let refused = scraper.get(&metrics).send().await;
    assert!(refused.is_err(), "still answering: {refused:?}");

    app.restart().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let labels = [("route", "/healthz"), ("method", "GET"), ("status", "200")];
    assert!(scrape(&app).await.value("km_http_requests_total", &labels) >= 1.0);
}

#[tokio::test]
async fn without_metrics_addr_there_is_no_metrics_listener() {
    let app = spawn_app().await;
    assert_eq!(app.metrics_base, None);
    assert_problem(app.get("/metrics").await, 404, "not-found").await;
}
