//! The service on a Redis Cluster and behind Redis Sentinel, on servers of
//! each test's own (see `redis_server.rs`): three masters made one cluster
//! by `redis-cli --cluster create`, and a master watched by one sentinel.
//! On the cluster: the session store's conformance checks, a hundred
//! parallel changes over two instances, a session's record and lock key in
//! one hash slot, menu changes announced to the other instances, and rate
//! limits shared by them. Behind Sentinel: the conformance checks, and a
//! change saved on the master with its lock.
//!
//! These tests run wherever `redis-server` and `redis-cli` are installed.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use api::session::lock::shared_key;
use fred::prelude::{KeysInterface, Pool};
use fred::types::{Expiration, SetOptions};
use serde_json::json;

use crate::admin::{LONG_TTL_MS, add_at, cart_at, patch, sign_in_as_admin, unit_price};
use crate::helpers::{Backend, COOKIE, TestApp, assert_problem, session_cookie, session_id};
use crate::limits::{assert_too_many, limited};
use crate::redis_server::{
    Persistence, REDIS_CLI, REDIS_SERVER, RedisServer, Role, installed, on_redis, redis_command,
};
use crate::session_stores::conformance_on_redis;
use crate::sessions::all_adds_are_kept;

/// Three masters on free ports, the slots split between them; the servers
/// are killed and their directories removed when dropped.
struct RedisCluster {
    nodes: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts the cluster and returns once every node sees it whole, or
    /// `None` where the tools are not installed (see [`installed`]).
    async fn start() -> Option<RedisCluster> {
        if !installed(&[REDIS_SERVER, REDIS_CLI]) {
            return None;
        }
        let started = Instant::now();
        let mut nodes = Vec::new();
        for _ in 0..3 {
            nodes.push(RedisServer::spawn(Role::ClusterNode).await);
        }
        let cluster = RedisCluster { nodes };
        let addresses = cluster.addresses();
        let created = tokio::task::spawn_blocking(move || {
            Command::new(REDIS_CLI)
                .args(["--cluster", "create"])
                .args(&addresses)
                .args(["--cluster-replicas", "0", "--cluster-yes"])
                .stdin(Stdio::null())
                .output()
        })
        .await
        .unwrap()
        .expect("run redis-cli");
        assert!(
            created.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&created.stdout),
            String::from_utf8_lossy(&created.stderr)
        );
        cluster.wait_until_whole().await;
        eprintln!(
            "cluster of 3 masters up in {} ms",
            started.elapsed().as_millis()
        );
        Some(cluster)
    }

    fn addresses(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect()
    }

    /// Waits until every node knows the three and has every slot served.
    async fn wait_until_whole(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for node in &self.nodes {
            loop {
                let info = redis_command(node.port, &["CLUSTER", "INFO"])
                    .await
                    .unwrap_or_default();
                let has = |line: &str| info.lines().any(|l| l.trim() == line);
                if has("cluster_state:ok") && has("cluster_known_nodes:3") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "node {} is not in a whole cluster after 30 s: {info}",
                    node.port
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The cluster's URL in the form the issue asks for, its nodes
    /// comma-separated (the service rewrites it to fred's `node=` form).
    fn url(&self) -> String {
        format!("redis-cluster://{}", self.addresses().join(","))
    }

    /// `CLUSTER KEYSLOT key`, as the cluster computes it.
    async fn slot(&self, key: &str) -> u16 {
        let reply = redis_command(self.nodes[0].port, &["CLUSTER", "KEYSLOT", key])
            .await
            .expect("CLUSTER KEYSLOT answers");
        reply
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("CLUSTER KEYSLOT {key}: {reply}"))
    }

    /// The ports of the nodes that hold `key`. A node that does not serve
    /// its slot answers `MOVED`, so at most one does.
    async fn holders(&self, key: &str) -> Vec<u16> {
        let mut holders = Vec::new();
        for node in &self.nodes {
            if redis_command(node.port, &["EXISTS", key]).await.as_deref() == Some(":1") {
                holders.push(node.port);
            }
        }
        holders
    }
}

/// The app's Redis pool (its session store's).
fn pool(app: &TestApp) -> Pool {
    match app.state.as_ref().map(|s| &s.sessions) {
        Some(api::session::AnyStore::Redis(_, pool)) => pool.clone(),
        _ => panic!("a Redis store"),
    }
}

/// The visitor's total number of items.
async fn item_count(app: &TestApp) -> i64 {
    app.cart().await["item_count"].as_i64().unwrap()
}

/// The app's first change for its visitor (one dish 1), which starts the
/// session; returns the session's id.
async fn start_a_session(app: &TestApp) -> String {
    let res = app.add(1, 1).await;
    assert_eq!(res.status(), 201);
    session_id(&session_cookie(res.headers()).expect("the first add sets the session cookie"))
}

/// Sets the session `id`'s lock key as another instance holding the lock
/// would (a token of its own, for 30 s), and checks that a change then
/// waits for its turn (half of the app's 2 s request timeout) and is
/// refused with a 503 and `Retry-After`, changing nothing. Returns the
/// key, still held.
async fn a_change_waits_for_a_lock_held_elsewhere(app: &TestApp, id: &str) -> String {
    let key = shared_key(id);
    let items = item_count(app).await;
    let set: Option<String> = pool(app)
        .set(
            key.as_str(),
            "another-instance",
            Some(Expiration::PX(30_000)),
            Some(SetOptions::NX),
            false,
        )
        .await
        .unwrap();
    assert!(set.is_some(), "the lock {key} was free");
    let started = Instant::now();
    let res = app.add(2, 1).await;
    let waited = started.elapsed();
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, 503, "service-unavailable").await;
    assert!(
        waited >= Duration::from_millis(900),
        "refused after {waited:?}, without waiting for its turn"
    );
    assert_eq!(item_count(app).await, items, "the refused change was kept");
    key
}

/// Deletes the lock `key` another instance held: the next change is saved,
/// and its lock is given back with the save.
async fn once_the_lock_is_gone_a_change_is_saved_and_leaves_no_lock(app: &TestApp, key: &str) {
    let items = item_count(app).await;
    let deleted: i64 = pool(app).del(key).await.unwrap();
    assert_eq!(deleted, 1);
    let res = app.add(2, 1).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(item_count(app).await, items + 1);
    let left: i64 = pool(app).exists(key).await.unwrap();
    assert_eq!(left, 0, "the lock is still there");
}

#[tokio::test]
async fn the_session_store_conformance_checks_pass_on_a_redis_cluster() {
    let Some(cluster) = RedisCluster::start().await else {
        return;
    };
    conformance_on_redis(&cluster.url()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_a_hundred_parallel_changes_over_two_instances_are_all_kept_with_record_and_lock_in_one_slot()
 {
    let Some(cluster) = RedisCluster::start().await else {
        return;
    };
    // Default settings: Redis sessions take the lock in Redis.
    let mut app = on_redis(&cluster.url()).spawn().await;
    let other = app.another_instance().await;
    let id = start_a_session(&app).await;
    // The cookie store is per host, so both instances get the same session cookie.
    let adds = (0..100).map(|n| {
        let base = if n % 2 == 0 { &app.base } else { &other.base };
        app.client
            .post(format!("{base}/api/v1/cart/items"))
            .json(&json!({"product_id": n % 20 + 1, "quantity": 1}))
            .send()
    });
    let started = Instant::now();
    all_adds_are_kept(&app, Backend::Redis, adds).await;
    eprintln!(
        "100 parallel adds over two instances on the cluster: {} ms",
        started.elapsed().as_millis()
    );

    // The record under the bare id, the lock under the id as hash tag: one
    // slot, so one node, where the lock's scripts ran.
    let key = shared_key(&id);
    assert_eq!(key, format!("km:session-lock:{{{id}}}"));
    assert_eq!(cluster.slot(&key).await, cluster.slot(&id).await);
    let holder = cluster.holders(&id).await;
    assert_eq!(holder.len(), 1, "the record is on one node: {holder:?}");
    let stats = redis_command(holder[0], &["INFO", "commandstats"])
        .await
        .unwrap();
    assert!(stats.contains("cmdstat_evalsha:calls="), "{stats}");
    assert_eq!(
        cluster.holders(&key).await,
        Vec::<u16>::new(),
        "every lock was given back"
    );

    // A lock held elsewhere is found where the scripts look for it.
    drop(other);
    app.set_var("REQUEST_TIMEOUT_MS", Some("2000"));
    app.restart().await;
    let key = a_change_waits_for_a_lock_held_elsewhere(&app, &id).await;
    assert_eq!(
        cluster.holders(&key).await,
        holder,
        "the lock beside the record"
    );
    once_the_lock_is_gone_a_change_is_saved_and_leaves_no_lock(&app, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_redis_cluster_menu_changes_reach_the_other_instances_and_rate_limits_are_shared() {
    let Some(cluster) = RedisCluster::start().await else {
        return;
    };
    // The cache never expires during the test: only the announcement,
    // published on one node and heard on another, can bring the change.
    let app = on_redis(&cluster.url())
        .var("CATALOG_CACHE_TTL_MS", LONG_TTL_MS)
        .spawn()
        .await;
    let other = app.another_instance().await;
    let customer = app.another_visitor();
    assert_eq!(add_at(&customer, &other.base, 1, 2).await.status(), 201);
    assert_eq!(
        unit_price(&cart_at(&customer, &other.base).await, 1),
        "12.50"
    );
    sign_in_as_admin(&app).await;
    assert_eq!(
        patch(&app, 1, &json!({"price": "11.25"})).await.status(),
        200
    );
    let changed = Instant::now();
    loop {
        let cart = cart_at(&customer, &other.base).await;
        if unit_price(&cart, 1) == "11.25" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "the other instance still shows the old price: {cart}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    eprintln!(
        "menu change heard on the other instance after {} ms",
        changed.elapsed().as_millis()
    );

    // New sessions per client IP, counted in the cluster for both instances.
    let app = limited("NEW_SESSION_LIMIT_PER_IP", "3/600")
        .backend(Backend::Redis)
        .var("REDIS_URL", &cluster.url())
        .spawn()
        .await;
    let other = app.another_instance().await;
    let script = reqwest::Client::new();
    let visit = |base: &str| script.post(format!("{base}/api/v1/visits")).send();
    assert_eq!(visit(&app.base).await.unwrap().status(), 200);
    assert_eq!(visit(&other.base).await.unwrap().status(), 200);
    assert_eq!(visit(&app.base).await.unwrap().status(), 200);
    assert_too_many(visit(&other.base).await.unwrap(), 600).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_redis_sentinel_sessions_and_their_locks_are_kept_on_the_master() {
    if !installed(&[REDIS_SERVER]) {
        return;
    }
    let master = RedisServer::spawn(Role::Single(Persistence::None)).await;
    let sentinel = RedisServer::spawn(Role::Sentinel {
        master_port: master.port,
        service: "kitchen",
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = sentinel.info("sentinel").await;
        if info.contains("name=kitchen,status=ok") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the sentinel does not see its master: {info}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!(
        "redis-sentinel://127.0.0.1:{}/0?sentinelServiceName=kitchen",
        sentinel.port
    );
    conformance_on_redis(&url).await;

    let app = on_redis(&url)
        .var("REQUEST_TIMEOUT_MS", "2000")
        .spawn()
        .await;
    let id = start_a_session(&app).await;
    assert_eq!(app.add(3, 2).await.status(), 201);
    let cart = app.cart().await;
    assert_eq!(cart["item_count"], 3, "{cart}");
    assert_eq!(cart["lines"][1]["product_id"], 3, "{cart}");

    // The sentinel named the master; the record and the lock's scripts are there.
    let master_port = master.port;
    let on_master = |key: String| async move {
        redis_command(master_port, &["EXISTS", key.as_str()])
            .await
            .unwrap()
    };
    assert_eq!(on_master(id.clone()).await, ":1");
    assert_eq!(
        on_master(shared_key(&id)).await,
        ":0",
        "the lock was given back"
    );
    assert!(
        master
            .info("commandstats")
            .await
            .contains("cmdstat_evalsha:calls=")
    );
    let key = a_change_waits_for_a_lock_held_elsewhere(&app, &id).await;
    assert_eq!(on_master(key.clone()).await, ":1");
    once_the_lock_is_gone_a_change_is_saved_and_leaves_no_lock(&app, &key).await;
    assert_eq!(on_master(key).await, ":0");
}

#[tokio::test]
async fn on_a_redis_cluster_signing_in_and_out_gives_the_session_a_new_id_and_keeps_the_cart() {
    let Some(cluster) = RedisCluster::start().await else {
        return;
    };
    let app = on_redis(&cluster.url()).spawn().await;
    let before = start_a_session(&app).await;

    // A new id, its record in another slot than the old id's lock.
    let res = app
        .register("cluster-reader", "a long enough passphrase")
        .await;
    assert_eq!(res.status(), 201);
    let signed_in_cookie = session_cookie(res.headers()).expect("a new session cookie");
    let signed_in = session_id(&signed_in_cookie);
    assert_ne!(signed_in, before);
    assert_eq!(item_count(&app).await, 1, "the cart moved to the new id");
    assert_eq!(cluster.holders(&signed_in).await.len(), 1);
    assert_eq!(
        cluster.holders(&shared_key(&before)).await,
        Vec::<u16>::new()
    );
    assert_eq!(
        cluster.holders(&shared_key(&signed_in)).await,
        Vec::<u16>::new()
    );

    let res = app.post_json("/api/v1/auth/logout", &json!({})).await;
    assert!(res.status().is_success(), "{}", res.status());
    assert_eq!(
        item_count(&app).await,
        0,
        "signed out, the cart is the account's"
    );
    assert_eq!(
        cluster.holders(&shared_key(&signed_in)).await,
        Vec::<u16>::new()
    );
    // The signed-in id keeps only a tombstone, written under its lock: a
    // change sent with its cookie is told to send it again.
    let stale = reqwest::Client::new()
        .post(app.url("/api/v1/cart/items"))
        .header("Cookie", format!("{COOKIE}={signed_in_cookie}"))
        .json(&json!({"product_id": 1, "quantity": 1}))
        .send()
        .await
        .unwrap();
    assert_problem(stale, 409, "session-renewed").await;
}
