//! The service through a PostgreSQL outage. The machine's PostgreSQL is
//! shared and never stopped: the app reaches its database (a fresh one of
//! the test's own, as everywhere else) through a TCP proxy the test
//! controls, and the outage happens there. Three kinds:
//!
//! - refused: every open connection is closed and nothing listens any
//!   more, as when the server is down;
//! - black-holed: every open connection is closed, and new ones are
//!   accepted but never answered, as behind a network that drops packets;
//! - frozen: connections stay open but nothing goes through in either
//!   direction, as when the network or the database's host hangs, caught
//!   in the middle of a checkout's statement, or of its commit (which the
//!   database carries out, while its answer is held);
//!
//! and a commit whose connection is closed under it, which the database
//! carries out all the same.
//!
//! Sessions are in Redis (the suite's own), so the session itself keeps
//! working: what needs only the session and the menu snapshot is served
//! all along, what needs the database gets a 503.
//!
//! These tests need the services: run with `TEST_DATABASE_URL`,
//! `TEST_REDIS_URL` and `-- --include-ignored`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder};
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::helpers::{Backend, TestApp, address_of, app, assert_problem, new_client, services};
use crate::outage::{self, MARGIN, RECOVERY, REQUEST_TIMEOUT, assert_unavailable};
use crate::redis_outage::{add, add_request, lines};

/// How long the service waits for the database (with the default request
/// timeout): a 503 comes after it.
const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a read that needs only the session and the menu snapshot may
/// take during the outage: far less than the database timeout (2 s), so it
/// was not waiting on the database.
const FROM_THE_CACHE: Duration = Duration::from_millis(500);

/// What the proxy's connections do.
#[derive(Debug, Clone)]
struct Control {
    /// The epoch new connections belong to.
    epoch: u64,
    /// The connections of an earlier epoch are closed.
    cut_below: u64,
    /// The connections of an earlier epoch are held for good (stranded).
    held_below: u64,
    /// Whether bytes go through; bytes held meanwhile go once it opens.
    open: bool,
}

impl Control {
    fn cut(&self, epoch: u64) -> bool {
        epoch < self.cut_below
    }

    fn flows(&self, epoch: u64) -> bool {
        self.open && epoch >= self.held_below
    }

    /// Closes every open connection.
    fn cut_all(&mut self) {
        self.epoch += 1;
        self.cut_below = self.epoch;
    }
}

/// A TCP proxy in front of the database, on a port of 127.0.0.1.
struct Proxy {
    port: u16,
    upstream: String,
    control: Arc<watch::Sender<Control>>,
    /// Accepts connections; `None` while refusing them.
    acceptor: Option<JoinHandle<()>>,
}

impl Proxy {
    async fn start(upstream: &str) -> Proxy {
        let control = Arc::new(watch::Sender::new(Control {
            epoch: 0,
            cut_below: 0,
            held_below: 0,
            open: true,
        }));
        for _ in 0..20 {
            // Below Linux's ephemeral ports (32768 and up): no outgoing
            // connection takes this port while the proxy refuses (nothing
            // listens on it), so it can listen on it again.
            let port = 20_000 + rand::random::<u16>() % 12_000;
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)).await {
                let mut proxy = Proxy {
                    port,
                    upstream: upstream.to_owned(),
                    control,
                    acceptor: None,
                };
                proxy.accept(listener);
                return proxy;
            }
        }
        panic!("no free port for the proxy after 20 tries");
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn accept(&mut self, listener: TcpListener) {
        let (upstream, control) = (self.upstream.clone(), self.control.clone());
        self.acceptor = Some(tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let epoch = control.borrow().epoch;
                tokio::spawn(relay(client, upstream.clone(), control.clone(), epoch));
            }
        }));
    }

    /// Closes every open connection and refuses new ones: nothing listens.
    async fn refuse(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
            // Once it has ended, its listener is closed.
            let _ = acceptor.await;
        }
        self.control.send_modify(Control::cut_all);
    }

    /// Closes every open connection; new ones are accepted and never
    /// answered.
    fn black_hole(&self) {
        self.control.send_modify(|c| {
            c.cut_all();
            c.open = false;
        });
    }

    /// Holds every open connection for good, as a peer that stopped
    /// answering but never closes; new ones work.
    fn strand(&self) {
        self.control.send_modify(|c| {
            c.epoch += 1;
            c.held_below = c.epoch;
            c.open = true;
        });
    }

    /// Holds every connection now.
    fn freeze(&self) {
        self.control.send_modify(|c| c.open = false);
    }

    /// Lets everything through again (what was held goes first), and
    /// listens again if it refused.
    async fn restore(&mut self) {
        if self.acceptor.is_none() {
            let deadline = Instant::now() + Duration::from_secs(2);
            let listener = loop {
                match TcpListener::bind(("127.0.0.1", self.port)).await {
                    Ok(listener) => break listener,
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("proxy: port {} not free yet ({e})", self.port);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    Err(e) => panic!("the proxy cannot listen on {} again: {e}", self.port),
                }
            };
            self.accept(listener);
        }
        self.control.send_modify(|c| c.open = true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            acceptor.abort();
        }
        self.control.send_modify(Control::cut_all);
    }
}

/// Waits until bytes may go through on a connection of `epoch`; false once
/// it is cut.
async fn flowing(control: &mut watch::Receiver<Control>, epoch: u64) -> bool {
    control
        .wait_for(|c| c.cut(epoch) || c.flows(epoch))
        .await
        .is_ok_and(|c| !c.cut(epoch))
}

/// One client's connection: to the database once the flow is open, then
/// bytes both ways until either side closes or the proxy cuts it.
async fn relay(
    client: TcpStream,
    upstream: String,
    control: Arc<watch::Sender<Control>>,
    epoch: u64,
) {
    if !flowing(&mut control.subscribe(), epoch).await {
        return;
    }
    let Ok(server) = TcpStream::connect(&upstream).await else {
        return;
    };
    let (from_client, to_client) = client.into_split();
    let (from_server, to_server) = server.into_split();
    let mut cut = control.subscribe();
    tokio::select! {
        () = pump(from_client, to_server, control.subscribe(), epoch) => {}
        () = pump(from_server, to_client, control.subscribe(), epoch) => {}
        _ = cut.wait_for(|c| c.cut(epoch)) => {}
    }
}

/// Bytes one way; what was read while the flow is held waits for it to
/// open again.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut flow: watch::Receiver<Control>,
    epoch: u64,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !flowing(&mut flow, epoch).await || to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The proxy in front of the suite's PostgreSQL, and the service behind it
/// with its sessions in the suite's Redis.
async fn on_proxy() -> (Proxy, TestApp) {
    on_proxy_with(&[]).await
}

/// [`on_proxy`], with these settings.
async fn on_proxy_with(vars: &[(&str, &str)]) -> (Proxy, TestApp) {
    let services = services().expect("set TEST_DATABASE_URL and TEST_REDIS_URL");
    let proxy = Proxy::start(address_of(&services.postgres)).await;
    let mut app = app()
        .backend(Backend::Redis)
        .database_through(&proxy.address());
    for (name, value) in vars {
        app = app.var(name, value);
    }
    (proxy, app.spawn().await)
}

fn checkout(app: &TestApp, visitor: &Client) -> RequestBuilder {
    visitor.post(app.url("/api/v1/orders"))
}

/// Orders `visitor`'s cart, asserting that the order is acknowledged;
/// returns its id.
async fn place_order(app: &TestApp, visitor: &Client) -> i64 {
    let res = checkout(app, visitor).send().await.unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    assert_eq!(status, 201, "{body}");
    body["id"].as_i64().unwrap()
}

/// The ids of `visitor`'s orders, newest first.
async fn order_ids(app: &TestApp, visitor: &Client) -> Vec<i64> {
    let res = visitor.get(app.url("/api/v1/orders")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the orders");
    let orders: Value = res.json().await.unwrap();
    orders["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect()
}

/// Each dish's stock and the number of orders, read from the database
/// directly (not through the proxy, not from the service's cache).
async fn stored(app: &TestApp) -> (BTreeMap<i64, i64>, i64) {
    let rows = app
        .db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT id::bigint AS id, stock::bigint AS stock FROM products",
        ))
        .await
        .unwrap();
    let stock = rows
        .iter()
        .map(|r| {
            (
                r.try_get::<i64>("", "id").unwrap(),
                r.try_get::<i64>("", "stock").unwrap(),
            )
        })
        .collect();
    let orders = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM orders",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    (stock, orders)
}

/// `stock` less what `cart` orders.
fn less(stock: &BTreeMap<i64, i64>, cart: &BTreeMap<i64, i64>) -> BTreeMap<i64, i64> {
    let mut left = stock.clone();
    for (dish, quantity) in cart {
        *left.get_mut(dish).unwrap() -= quantity;
    }
    left
}

/// Sends `request` and asserts the 503 of an order whose outcome is not
/// known yet: no `Retry-After`, a detail that says not to order again,
/// before the request timeout.
async fn assert_unconfirmed(request: RequestBuilder, what: &str) {
    let started = Instant::now();
    let res = tokio::time::timeout(REQUEST_TIMEOUT * 2, request.send())
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer in twice the request timeout"))
        .expect("request");
    let took = started.elapsed();
    assert_unconfirmed_answer(res, took, DATABASE_TIMEOUT * 2 + MARGIN, what).await;
    eprintln!(
        "{what}: 503 without Retry-After after {} ms",
        took.as_millis()
    );
}

/// Asserts the 503 of an order whose outcome is not known yet, `took`
/// after the checkout was sent: no `Retry-After`, a detail that says not
/// to order again, sooner than `bound`. Returns the problem.
async fn assert_unconfirmed_answer(
    res: reqwest::Response,
    took: Duration,
    bound: Duration,
    what: &str,
) -> Value {
    assert!(
        !res.headers().contains_key("retry-after"),
        "{what}: a Retry-After invites ordering twice"
    );
    let body = assert_problem(res, 503, "service-unavailable").await;
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("Do not order again"), "{body}");
    assert!(took < bound, "{what}: the 503 came after {took:?}");
    body
}

/// Asserts that `visitor`'s cart and the public pages are served from the
/// session and the menu snapshot, at once: the cart, the product list and
/// a dish, the menu with the visitor's recommendations, the library.
async fn assert_served_from_the_cache(app: &TestApp, visitor: &Client, cart: &BTreeMap<i64, i64>) {
    let started = Instant::now();
    assert_eq!(&lines(app, visitor).await, cart, "the cart");
    assert_quick(started, "the cart");
    for path in [
        "/healthz",
        "/api/v1/products",
        "/api/v1/products/1",
        "/api/v1/books",
    ] {
        let started = Instant::now();
        let res = visitor.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_quick(started, path);
    }
    let started = Instant::now();
    let res = visitor.get(app.url("/api/v1/menu")).send().await.unwrap();
    assert_eq!(res.status(), 200, "the menu");
    let menu: Value = res.json().await.unwrap();
    assert_ne!(menu["recommended"], json!([]), "the profile still counts");
    assert_quick(started, "the menu");
}

/// Asserts that what started at `started` did not wait on the database.
fn assert_quick(started: Instant, what: &str) {
    let took = started.elapsed();
    assert!(
        took < FROM_THE_CACHE,
        "{what} took {took:?}: it waited on the database"
    );
}

/// Asserts that `/readyz` says not ready because of the database alone.
async fn assert_not_ready(app: &TestApp) {
    outage::assert_not_ready(app, "database", "database", DATABASE_TIMEOUT).await;
}

/// Waits until readiness and each visitor's orders and cart work again.
async fn working_again(app: &TestApp, visitors: &[&Client], since: Instant) -> Duration {
    let paths = ["/api/v1/orders", "/api/v1/cart"];
    outage::working_again(app, visitors, &paths, since).await
}

/// Gives `visitor` a profile, so that the menu has recommendations to keep.
async fn with_profile(app: &TestApp, visitor: &Client) {
    let profile =
        json!({"name": "Ada", "dietary_restrictions": ["vegan"], "spice_level": "medium"});
    let res = visitor
        .put(app.url("/api/v1/profile"))
        .json(&profile)
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.status());
}

/// How the connections are cut.
#[derive(Debug, Clone, Copy)]
enum Cut {
    Refused,
    BlackHoled,
}

/// An outage of the whole database while serving: see the two tests below.
async fn cut_while_serving(cut: Cut) {
    let (mut proxy, app) = on_proxy().await;
    with_profile(&app, &app.client).await;
    // Two orders acknowledged before the outage.
    add(&app, &app.client, &mut BTreeMap::new(), 1, 2).await;
    let first = place_order(&app, &app.client).await;
    add(&app, &app.client, &mut BTreeMap::new(), 6, 3).await;
    let second = place_order(&app, &app.client).await;
    // A cart to order during the outage.
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 1).await;
    add(&app, &app.client, &mut cart, 6, 1).await;
    // A signed-in visitor: the sign-in is checked in the database, and the
    // cart is the account's, in the database too.
    let member = new_client();
    let res = member
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"username": "ada", "password": "plum orbit candle seventy"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let mut member_cart = BTreeMap::new();
    add(&app, &member, &mut member_cart, 3, 2).await;
    let before = stored(&app).await;

    let cut_at = Instant::now();
    match cut {
        Cut::Refused => proxy.refuse().await,
        Cut::BlackHoled => proxy.black_hole(),
    }
    assert_unavailable(checkout(&app, &app.client), "checkout", DATABASE_TIMEOUT).await;
    let first_503 = cut_at.elapsed();
    assert_unavailable(
        app.client.get(app.url("/api/v1/orders")),
        "listing the orders",
        DATABASE_TIMEOUT,
    )
    .await;
    assert_unavailable(
        app.client.get(app.url(&format!("/api/v1/orders/{first}"))),
        "reading an order",
        DATABASE_TIMEOUT,
    )
    .await;
    assert_unavailable(
        member.get(app.url("/api/v1/cart")),
        "a signed-in visitor's cart",
        DATABASE_TIMEOUT,
    )
    .await;
    assert_unavailable(
        add_request(&app, &member, 7, 1),
        "a signed-in visitor's add",
        DATABASE_TIMEOUT,
    )
    .await;
    let signing_in = new_client()
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"username": "ada", "password": "plum orbit candle seventy"}));
    assert_unavailable(signing_in, "signing in", DATABASE_TIMEOUT).await;
    assert_not_ready(&app).await;
    // What needs only the session and the menu snapshot keeps working,
    // changes included, and at once.
    assert_served_from_the_cache(&app, &app.client, &cart).await;
    let started = Instant::now();
    add(&app, &app.client, &mut cart, 2, 1).await;
    assert_quick(started, "adding to the cart");
    let started = Instant::now();
    let res = app.set(6, 3).await;
    assert_eq!(res.status(), 200, "setting a quantity");
    assert_quick(started, "setting a quantity");
    cart.insert(6, 3);
    let res = app.add(7, 1).await;
    assert!(res.status().is_success(), "{}", res.status());
    let started = Instant::now();
    let res = app.delete("/api/v1/cart/items/7").await;
    assert_eq!(res.status(), 204, "removing a line");
    assert_quick(started, "removing a line");
    assert_eq!(lines(&app, &app.client).await, cart);

    let restored = Instant::now();
    proxy.restore().await;
    let took = working_again(&app, &[&app.client, &member], restored).await;
    eprintln!(
        "{cut:?}: first 503 {} ms after the cut; working again {} ms after the restore",
        first_503.as_millis(),
        took.as_millis()
    );
    assert!(took <= RECOVERY, "working again only after {took:?}");
    // Every acknowledged change is there; the refused checkout took
    // nothing and ordered nothing.
    assert_eq!(order_ids(&app, &app.client).await, [second, first]);
    assert_eq!(stored(&app).await, before);
    assert_eq!(lines(&app, &app.client).await, cart);
    assert_eq!(lines(&app, &member).await, member_cart);
    // Checkout works again, and takes the stock once.
    let started = Instant::now();
    let third = place_order(&app, &app.client).await;
    assert!(started.elapsed() < RECOVERY, "{:?}", started.elapsed());
    assert_eq!(order_ids(&app, &app.client).await, [third, second, first]);
    assert_eq!(stored(&app).await, (less(&before.0, &cart), before.1 + 1));
    assert_eq!(lines(&app, &app.client).await, BTreeMap::new());
    let product: Value = app.get_json("/api/v1/products/6").await;
    assert_eq!(product["stock"], json!(before.0[&6] - 3), "{product}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_refused_database_gets_checkout_and_orders_503s_in_time_while_carts_and_the_menu_keep_serving()
 {
    cut_while_serving(Cut::Refused).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_black_holed_database_gets_checkout_and_orders_503s_in_time_while_carts_and_the_menu_keep_serving()
 {
    cut_while_serving(Cut::BlackHoled).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_checkout_whose_statement_hangs_gets_a_503_in_time_and_takes_nothing() {
    let (mut proxy, app) = on_proxy().await;
    with_profile(&app, &app.client).await;
    add(&app, &app.client, &mut BTreeMap::new(), 1, 2).await;
    let first = place_order(&app, &app.client).await;
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 1).await;
    add(&app, &app.client, &mut cart, 6, 2).await;
    let before = stored(&app).await;

    // The checkout's first stock update waits on a lock the test holds, so
    // it is in the middle of that statement when the network freezes.
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("SELECT id FROM products WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    let request = checkout(&app, &app.client);
    let sent = Instant::now();
    let ordering = tokio::spawn(assert_unavailable(
        request,
        "a checkout frozen mid-statement",
        DATABASE_TIMEOUT,
    ));
    wait_for_a_lock_wait(&app).await;
    proxy.freeze();
    // The update now runs, and its answer is held.
    lock.commit().await.unwrap();
    ordering.await.unwrap();
    let first_503 = sent.elapsed();
    assert_unavailable(
        app.client.get(app.url("/api/v1/orders")),
        "listing the orders",
        DATABASE_TIMEOUT,
    )
    .await;
    assert_not_ready(&app).await;
    assert_served_from_the_cache(&app, &app.client, &cart).await;

    let restored = Instant::now();
    proxy.restore().await;
    let took = working_again(&app, &[&app.client], restored).await;
    eprintln!(
        "frozen mid-statement: 503 {} ms after the checkout was sent; working again {} ms after the restore",
        first_503.as_millis(),
        took.as_millis()
    );
    assert!(took <= RECOVERY, "working again only after {took:?}");
    // The update reached the database, in a transaction that was rolled
    // back: nothing taken, nothing ordered, the cart as it was.
    assert_eq!(stored(&app).await, before);
    assert_eq!(order_ids(&app, &app.client).await, [first]);
    assert_eq!(lines(&app, &app.client).await, cart);
    let second = place_order(&app, &app.client).await;
    assert_eq!(order_ids(&app, &app.client).await, [second, first]);
    assert_eq!(stored(&app).await, (less(&before.0, &cart), before.1 + 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_checkout_committed_while_the_network_hangs_is_answered_in_time_as_unconfirmed_and_recorded_once_it_answers()
 {
    let (mut proxy, app) = on_proxy().await;
    with_profile(&app, &app.client).await;
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 2).await;
    add(&app, &app.client, &mut cart, 6, 1).await;
    let before = stored(&app).await;
    // A new order's commit waits on an advisory lock the test holds, so the
    // checkout is in the middle of its commit when the network freezes.
    wait_at_commit(&app).await;
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();

    let request = checkout(&app, &app.client);
    let sent = Instant::now();
    let ordering = tokio::spawn(assert_unconfirmed(
        request,
        "a checkout frozen in its commit",
    ));
    wait_for_a_lock_wait(&app).await;
    proxy.freeze();
    // The commit now completes in the database, and its answer is held.
    lock.commit().await.unwrap();
    ordering.await.unwrap();
    let first_503 = sent.elapsed();
    assert_eq!(stored(&app).await, (less(&before.0, &cart), before.1 + 1));
    // The service does not know yet: the cart is still there.
    assert_served_from_the_cache(&app, &app.client, &cart).await;
    assert_not_ready(&app).await;

    let restored = Instant::now();
    proxy.restore().await;
    // The commit's answer arrives: the checkout's own task, which held the
    // session's turn meanwhile, lists the order and empties the cart.
    loop {
        let res = app.get("/api/v1/orders").await;
        if res.status() == 200 {
            let orders: Value = res.json().await.unwrap();
            if orders["items"].as_array().unwrap().len() == 1 {
                break;
            }
        }
        assert!(
            restored.elapsed() <= RECOVERY,
            "the order was not recorded within {RECOVERY:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = working_again(&app, &[&app.client], restored).await;
    eprintln!(
        "frozen in the commit: 503 {} ms after the checkout was sent; order recorded and working again {} ms after the restore",
        first_503.as_millis(),
        took.as_millis()
    );
    assert!(took <= RECOVERY, "working again only after {took:?}");
    assert_eq!(stored(&app).await, (less(&before.0, &cart), before.1 + 1));
    assert_eq!(lines(&app, &app.client).await, BTreeMap::new());
    let res = app.add(1, 1).await;
    assert!(res.status().is_success(), "{}", res.status());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_checkout_whose_connection_breaks_in_its_commit_names_the_order_and_records_it_once_the_database_answers()
 {
    let (mut proxy, app) = on_proxy().await;
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 2).await;
    let before = stored(&app).await;
    wait_at_commit(&app).await;
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();

    let request = checkout(&app, &app.client);
    let sent = Instant::now();
    let ordering = tokio::spawn(request.send());
    wait_for_a_lock_wait(&app).await;
    proxy.refuse().await;
    let res = ordering.await.unwrap().unwrap();
    let took = sent.elapsed();
    let what = "connection broken in the commit";
    let body = assert_unconfirmed_answer(res, took, DATABASE_TIMEOUT * 2 + MARGIN, what).await;
    assert!(
        body["detail"].as_str().unwrap().contains("quote order"),
        "{body}"
    );
    eprintln!(
        "connection broken in the commit: 503 naming the order {} ms after the checkout was sent",
        took.as_millis()
    );

    // The database carries out the commit it was sent, whoever hears of it.
    lock.commit().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while stored(&app).await.1 == before.1 {
        assert!(Instant::now() < deadline, "the commit was not carried out");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(stored(&app).await, (less(&before.0, &cart), before.1 + 1));
    let restored = Instant::now();
    proxy.restore().await;
    // The checkout's task asks the database, once it answers again, whether
    // the order is there: it is, and it is recorded in the session.
    while lines(&app, &app.client).await != BTreeMap::new() {
        assert!(
            restored.elapsed() < RECOVERY,
            "the order was not recorded within {RECOVERY:?} of the restore"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    working_again(&app, &[&app.client], restored).await;
    assert_eq!(order_ids(&app, &app.client).await.len(), 1);
}

/// A commit whose answer never comes (its connection held for good, as by
/// a peer that stopped answering but never closes) holds the session's
/// turn at most the checkout limit: then the commit's server process is
/// ended from a fresh connection, the order found placed and recorded, and
/// the visitor's changes are taken again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_commit_whose_answer_never_comes_is_settled_within_the_checkout_limit_and_the_order_recorded()
 {
    // A database timeout of one second, a checkout limit of twelve.
    let (proxy, app) = on_proxy_with(&[("REQUEST_TIMEOUT_MS", "4000")]).await;
    let (database_timeout, limit) = (Duration::from_secs(1), Duration::from_secs(12));
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 2).await;
    add(&app, &app.client, &mut cart, 6, 1).await;
    let before = stored(&app).await;
    wait_at_commit(&app).await;
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();

    let request = checkout(&app, &app.client);
    let sent = Instant::now();
    let ordering = tokio::spawn(request.send());
    wait_for_a_lock_wait(&app).await;
    proxy.freeze();
    lock.commit().await.unwrap();
    let res = ordering.await.unwrap().unwrap();
    let took = sent.elapsed();
    let what = "a commit never answered";
    let body = assert_unconfirmed_answer(res, took, database_timeout * 2 + MARGIN, what).await;
    let id = last_order_id(&app).await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("order {id}")),
        "names the order: {body}"
    );
    // The commit's connection is never answered again; new ones are.
    proxy.strand();

    // The visitor's changes wait for the checkout's turn, which ends once
    // the commit is settled.
    let bound = limit + database_timeout * 2 + MARGIN;
    loop {
        let res = app.add(7, 1).await;
        if res.status().is_success() {
            break;
        }
        assert_eq!(res.status(), 503, "busy while the checkout settles");
        assert!(
            sent.elapsed() < bound,
            "the visitor's changes were still refused after {:?}",
            sent.elapsed()
        );
    }
    eprintln!(
        "unanswered commit: changes taken again {} ms after the checkout was sent",
        sent.elapsed().as_millis()
    );
    assert!(sent.elapsed() < bound, "{:?}", sent.elapsed());
    assert_eq!(order_ids(&app, &app.client).await, [id]);
    assert_eq!(lines(&app, &app.client).await, BTreeMap::from([(7, 1)]));
    assert_eq!(stored(&app).await, (less(&before.0, &cart), before.1 + 1));
}

/// Reloading the menu after an order (which waits on the database) is not
/// part of the checkout's answer: an order placed while the menu cannot be
/// read is answered as placed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn an_order_placed_while_the_menu_cannot_be_reloaded_is_answered_as_placed() {
    // A database timeout of two seconds: the answer comes within four.
    let (_proxy, app) = on_proxy().await;
    let database_timeout = Duration::from_secs(2);
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 1).await;
    wait_at_commit(&app).await;
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();
    let ordering = tokio::spawn(checkout(&app, &app.client).send());
    wait_for_lock_waits(&app, 1).await;
    // The menu's table, taken for good as soon as the order's transaction
    // lets go of it: the reload that follows the order waits on it.
    let db = app.db.clone();
    let menu = tokio::spawn(async move {
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("LOCK TABLE products IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        txn
    });
    wait_for_lock_waits(&app, 2).await;
    // The commit takes longer than the database timeout.
    tokio::time::sleep(database_timeout + Duration::from_millis(500)).await;
    lock.commit().await.unwrap();

    let res = ordering.await.unwrap().unwrap();
    let status = res.status();
    let body: Value = res.json().await.unwrap();
    menu.await.unwrap().rollback().await.unwrap();
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        order_ids(&app, &app.client).await,
        [body["id"].as_i64().unwrap()]
    );
}

/// The newest order's id, read from the database directly.
async fn last_order_id(app: &TestApp) -> i64 {
    app.db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT MAX(id)::bigint AS id FROM orders",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "id")
        .unwrap()
}

/// Makes each new order's commit wait on advisory lock 4242 (a deferred
/// trigger runs at commit), so a test that holds that lock catches a
/// checkout in the middle of its commit.
pub(crate) async fn wait_at_commit(app: &TestApp) {
    app.sql(
        "CREATE FUNCTION wait_at_commit() RETURNS trigger AS $$ \
         BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END $$ LANGUAGE plpgsql",
    )
    .await;
    app.sql(
        "CREATE CONSTRAINT TRIGGER wait_at_commit AFTER INSERT ON orders \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wait_at_commit()",
    )
    .await;
}

/// Waits until one of the database's sessions waits on a lock: the
/// service's, on the one the test holds.
pub(crate) async fn wait_for_a_lock_wait(app: &TestApp) {
    wait_for_lock_waits(app, 1).await;
}

/// Waits until `n` of the database's sessions wait on a lock.
async fn wait_for_lock_waits(app: &TestApp, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while waiting_on_locks(app).await < n {
        assert!(Instant::now() < deadline, "the service never waited");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// How many of the database's sessions wait on a lock.
async fn waiting_on_locks(app: &TestApp) -> i64 {
    app.db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT COUNT(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap()
}

/// A commit the database refuses (here a check deferred to commit time)
/// rolled everything back: nothing was ordered, so the answer is not the
/// "may have been placed" 503, and the cart stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_commit_the_database_refuses_orders_nothing_and_says_so() {
    let (_proxy, app) = on_proxy().await;
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 2).await;
    let before = stored(&app).await;
    app.sql(
        "CREATE FUNCTION refuse_at_commit() RETURNS trigger AS $$ \
         BEGIN RAISE EXCEPTION 'refused at commit'; END $$ LANGUAGE plpgsql",
    )
    .await;
    app.sql(
        "CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON orders \
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()",
    )
    .await;

    let res = checkout(&app, &app.client).send().await.unwrap();
    let body = assert_problem(res, 500, "internal-error").await;
    assert!(
        !body["detail"]
            .as_str()
            .unwrap()
            .contains("may have been placed"),
        "{body}"
    );
    assert_eq!(stored(&app).await, before);
    assert_eq!(order_ids(&app, &app.client).await, Vec::<i64>::new());
    assert_eq!(lines(&app, &app.client).await, cart);
}

/// A stop waits for a checkout whose client is gone: its commit, held up
/// when the stop begins, ends during the stop, and the order is recorded
/// in the session before the service lets go of its stores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs TEST_DATABASE_URL and TEST_REDIS_URL; run with -- --include-ignored"]
async fn a_stop_waits_for_a_checkout_whose_client_is_gone_to_record_its_order() {
    let (_proxy, mut app) = on_proxy().await;
    let mut cart = BTreeMap::new();
    add(&app, &app.client, &mut cart, 1, 2).await;
    let before = stored(&app).await;
    wait_at_commit(&app).await;
    let lock = app.db.begin().await.unwrap();
    lock.execute_unprepared("SELECT pg_advisory_xact_lock(4242)")
        .await
        .unwrap();
    let ordering = tokio::spawn(checkout(&app, &app.client).send());
    wait_for_a_lock_wait(&app).await;
    // The client hangs up while the order is being committed.
    ordering.abort();
    let _ = ordering.await;

    // The commit goes through once the stop has begun.
    let releasing = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        lock.commit().await.unwrap();
    });
    app.stop().await;
    releasing.await.unwrap();
    app.restart().await;

    assert_eq!(stored(&app).await, (less(&before.0, &cart), before.1 + 1));
    let id = last_order_id(&app).await;
    assert_eq!(order_ids(&app, &app.client).await, [id]);
    assert_eq!(lines(&app, &app.client).await, BTreeMap::new());
}
