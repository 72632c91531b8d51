//! Starts the real service on a random port, with its own database, and
//! talks to it over HTTP with a client that keeps cookies, as an SPA or
//! `curl -b jar -c jar` would.
//!
//! With nothing set, every test runs on the embedded default: a SQLite file
//! of its own. With `TEST_DATABASE_URL` (a PostgreSQL server URL) and
//! `TEST_REDIS_URL` set, each test gets a fresh PostgreSQL database of its
//! own and its sessions go to Redis (session ids are 128-bit random keys, so
//! no test can touch another's, and nothing flushes Redis).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use api::Application;
use reqwest::header::{HeaderMap, SET_COOKIE};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const SECRET_KEY: &str = "test-secret-key-0123456789abcdef-0123456789abcdef";
pub const COOKIE: &str = "km_session";
/// A rate limit no test reaches: a million per second.
pub const GENEROUS_LIMIT: &str = "1000000/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Memory,
    Database,
    Redis,
    /// Files in a directory of the test's own (`SESSION_FILE_PATH`).
    File,
}

impl Backend {
    pub fn env_name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Database => "database",
            Backend::Redis => "redis",
            Backend::File => "file",
        }
    }
}

/// The external services, when the suite runs against them.
pub struct Services {
    pub postgres: String,
    pub redis: String,
}

pub fn services() -> Option<Services> {
    let postgres = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|v| !v.is_empty());
    let redis = std::env::var("TEST_REDIS_URL")
        .ok()
        .filter(|v| !v.is_empty());
    match (postgres, redis) {
        (Some(postgres), Some(redis)) => Some(Services {
            postgres: postgres.trim_end_matches('/').to_owned(),
            redis,
        }),
        (None, None) => None,
        _ => panic!("set both TEST_DATABASE_URL and TEST_REDIS_URL, or neither"),
    }
}

/// The session backends this run can exercise: all four against the
/// services; memory, database and file on the embedded default.
pub fn backends() -> Vec<Backend> {
    if services().is_some() {
        vec![
            Backend::Memory,
            Backend::Database,
            Backend::Redis,
            Backend::File,
        ]
    } else {
        vec![Backend::Memory, Backend::Database, Backend::File]
    }
}

/// The backend a test uses when it does not choose: Redis against the
/// services (production's setup), the database store when embedded.
pub fn default_backend() -> Backend {
    if services().is_some() {
        Backend::Redis
    } else {
        Backend::Database
    }
}

fn random_suffix() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A directory of the test's own, removed with everything in it on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(purpose: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("km-{purpose}-{}", random_suffix()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A database of the test's own: a SQLite file, or a fresh PostgreSQL database.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Dir(PathBuf),
    Postgres { admin_url: String, name: String },
}

impl TestDatabase {
    pub async fn create() -> Self {
        match services() {
            None => {
                let dir = std::env::temp_dir().join(format!("km-test-{}", random_suffix()));
                std::fs::create_dir_all(&dir).expect("temp dir");
                TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", dir.join("kitchen.db").display()),
                    cleanup: Cleanup::Dir(dir),
                }
            }
            Some(s) => {
                let name = format!("km_test_{}", random_suffix());
                let admin_url = format!("{}/postgres", s.postgres);
                let admin = Database::connect(&admin_url)
                    .await
                    .expect("connect to TEST_DATABASE_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await
                    .expect("create test database");
                admin.close().await.ok();
                TestDatabase {
                    url: format!("{}/{name}", s.postgres),
                    cleanup: Cleanup::Postgres { admin_url, name },
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Dir(dir) => {
                std::fs::remove_dir_all(dir).ok();
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside async; a short-lived runtime on its own thread does the work.
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build();
                    if let Ok(rt) = rt {
                        rt.block_on(async {
                            if let Ok(admin) = Database::connect(&admin_url).await {
                                let _ = admin
                                    .execute_unprepared(&format!(
                                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                                    ))
                                    .await;
                                admin.close().await.ok();
                            }
                        });
                    }
                })
                .join()
                .ok();
            }
        }
    }
}

pub struct TestApp {
    pub base: String,
    /// The metrics listener's base URL, when `METRICS_ADDR` is set
    /// (`127.0.0.1:0` gives it a free port).
    pub metrics_base: Option<String>,
    /// A client with its own cookie jar: one visitor.
    pub client: reqwest::Client,
    /// A direct connection to the app's database, to arrange what a test needs.
    pub db: DatabaseConnection,
    pub backend: Backend,
    vars: HashMap<String, String>,
    /// The running app's state: its database pool and session store.
    pub state: Option<api::state::AppState>,
    /// The clock the app stamps times with: it stands still until a test
    /// moves it (`app.clock.advance(..)`), and survives restarts.
    pub clock: api::Clock,
    server: Option<Instance>,
    // Dropped last: the stores outlive the server that uses them.
    _database: Arc<TestDatabase>,
    _session_files: Option<TempDir>,
}

pub struct AppBuilder {
    backend: Backend,
    vars: HashMap<String, String>,
    /// Where the app reaches its database, when not where the test does.
    database_address: Option<String>,
}

impl AppBuilder {
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Sets a configuration variable for this app.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_owned(), value.to_owned());
        self
    }

    /// The app reaches its database at `address` (`host:port`, such as a
    /// proxy the test controls) rather than where the test's own connection
    /// (`TestApp::db`) reaches it.
    pub fn database_through(mut self, address: &str) -> Self {
        self.database_address = Some(address.to_owned());
        self
    }

    pub async fn spawn(self) -> TestApp {
        let database = Arc::new(TestDatabase::create().await);
        let app_url = match &self.database_address {
            Some(address) => with_address(&database.url, address),
            None => database.url.clone(),
        };
        let mut vars = base_vars(self.backend, &app_url);
        let session_files = (self.backend == Backend::File).then(|| TempDir::new("sessions"));
        if let Some(dir) = &session_files {
            vars.insert("SESSION_FILE_PATH".into(), dir.path().display().to_string());
        }
        vars.extend(self.vars);
        let mut app = TestApp {
            base: String::new(),
            metrics_base: None,
            client: new_client(),
            db: Database::connect(&database.url)
                .await
                .expect("connect to the test database"),
            backend: self.backend,
            vars,
            state: None,
            clock: api::Clock::manual(time::OffsetDateTime::now_utc()),
            server: None,
            _database: database,
            _session_files: session_files,
        };
        app.start().await;
        app
    }
}

/// The configuration every test app starts from, on `backend` and the
/// database at `database_url`.
fn base_vars(backend: Backend, database_url: &str) -> HashMap<String, String> {
    let mut vars: HashMap<String, String> = [
        ("LISTEN_ADDR", "127.0.0.1:0"),
        ("SECRET_KEY", SECRET_KEY),
        ("CATALOG_CACHE_TTL_MS", "0"),
        ("SESSION_BACKEND", backend.env_name()),
        // Every test client is 127.0.0.1, and most start sessions
        // freely: limits far above what any test sends, except in the
        // tests of limits, which set their own.
        ("LOGIN_LIMIT_PER_IP", GENEROUS_LIMIT),
        ("LOGIN_LIMIT_PER_USERNAME", GENEROUS_LIMIT),
        ("REGISTER_LIMIT_PER_IP", GENEROUS_LIMIT),
        ("REGISTER_LIMIT_PER_USERNAME", GENEROUS_LIMIT),
        ("NEW_SESSION_LIMIT_PER_IP", GENEROUS_LIMIT),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    vars.insert("DATABASE_URL".into(), database_url.to_owned());
    if let Some(s) = services() {
        vars.insert("REDIS_URL".into(), s.redis.clone());
    }
    vars
}

/// The configuration of a test app on `backend` and the database at
/// `database_url`, for a test that builds the application itself.
pub fn config(backend: Backend, database_url: &str) -> api::Config {
    api::Config::from_vars(base_vars(backend, database_url)).expect("test configuration")
}

pub fn app() -> AppBuilder {
    AppBuilder {
        backend: default_backend(),
        vars: HashMap::new(),
        database_address: None,
    }
}

/// The `host:port` of a database URL (`postgres://user@host:port/db`).
pub fn address_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    authority.rsplit_once('@').map_or(authority, |(_, a)| a)
}

/// The same database URL with another `host:port`.
pub fn with_address(url: &str, address: &str) -> String {
    url.replacen(address_of(url), address, 1)
}

/// The app on the default backend.
pub async fn spawn_app() -> TestApp {
    app().spawn().await
}

pub fn new_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("http client")
}

impl TestApp {
    async fn start(&mut self) {
        let instance = Instance::start(&self.vars, &self.clock).await;
        self.base = instance.base.clone();
        self.metrics_base = instance.metrics_base.clone();
        self.state = Some(instance.state.clone());
        self.server = Some(instance);
    }

    /// Another instance of the service on the same database and session
    /// store, as behind a load balancer. It stops when dropped.
    pub async fn another_instance(&self) -> Instance {
        Instance::start(&self.vars, &self.clock).await
    }

    /// Changes a configuration variable for the next `restart`.
    pub fn set_var(&mut self, name: &str, value: Option<&str>) {
        match value {
            Some(v) => self.vars.insert(name.to_owned(), v.to_owned()),
            None => self.vars.remove(name),
        };
    }

    /// Stops the service (gracefully) and starts it again on the same
    /// database and session store, on a new port. The client keeps its cookies.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    pub async fn stop(&mut self) {
        if let Some(mut instance) = self.server.take() {
            instance.stop().await;
        }
    }

    /// The file store's directory, with `Backend::File`.
    pub fn session_dir(&self) -> Option<PathBuf> {
        self.vars.get("SESSION_FILE_PATH").map(PathBuf::from)
    }

    /// The names in the file store's directory that end with `suffix`.
    pub fn session_files(&self, suffix: &str) -> Vec<String> {
        let dir = self.session_dir().expect("a file store");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("the session directory")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(suffix))
            .collect();
        names.sort();
        names
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A second, independent visitor.
    pub fn another_visitor(&self) -> reqwest::Client {
        new_client()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn put_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn delete(&self, path: &str) -> reqwest::Response {
        self.client
            .delete(self.url(path))
            .send()
            .await
            .expect("request")
    }

    /// A GET's JSON body.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path).await.json().await.expect("json body")
    }

    /// `POST /api/v1/visits`: records a visit and returns the welcome.
    pub async fn visit(&self) -> serde_json::Value {
        self.client
            .post(self.url("/api/v1/visits"))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json body")
    }

    /// `GET /api/v1/cart`, asserting a 200.
    pub async fn cart(&self) -> Value {
        let res = self.get("/api/v1/cart").await;
        assert_eq!(res.status(), 200);
        res.json().await.expect("cart json")
    }

    pub async fn add(&self, product_id: i64, quantity: i64) -> reqwest::Response {
        self.post_json(
            "/api/v1/cart/items",
            &serde_json::json!({"product_id": product_id, "quantity": quantity}),
        )
        .await
    }

    pub async fn set(&self, product_id: i64, quantity: i64) -> reqwest::Response {
        self.put_json(
            &format!("/api/v1/cart/items/{product_id}"),
            &serde_json::json!({"quantity": quantity}),
        )
        .await
    }

    /// `POST /api/v1/auth/register` with the app's own client: a 201 signs
    /// this visitor in as the new account.
    pub async fn register(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/register",
            &serde_json::json!({"username": username, "password": password}),
        )
        .await
    }

    /// `POST /api/v1/auth/login` with the app's own client.
    pub async fn sign_in(&self, username: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/v1/auth/login",
            &serde_json::json!({"username": username, "password": password, "remember_me": false}),
        )
        .await
    }

    /// Makes the account `username` an admin, straight in the database.
    pub async fn make_admin(&self, username: &str) {
        let backend = self.db.get_database_backend();
        let changed = self
            .db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                backend,
                match backend {
                    sea_orm::DatabaseBackend::Postgres => {
                        "UPDATE users SET role = 'admin' WHERE username = $1"
                    }
                    _ => "UPDATE users SET role = 'admin' WHERE username = ?",
                },
                [username.to_lowercase().into()],
            ))
            .await
            .expect("make admin");
        assert_eq!(changed.rows_affected(), 1, "no account {username}");
    }

    pub async fn sql(&self, statement: &str) {
        self.db.execute_unprepared(statement).await.expect("sql");
    }

    /// Runs a statement at every insert or update of a session record in
    /// the database store, through triggers named after `name`: `postgres`
    /// is the body of a PL/pgSQL trigger function, `sqlite` of a trigger.
    pub async fn on_session_write(&self, name: &str, timing: &str, postgres: &str, sqlite: &str) {
        if self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            self.sql(&format!(
                "CREATE FUNCTION {name}() RETURNS trigger AS $$ BEGIN {postgres} END $$ LANGUAGE plpgsql"
            ))
            .await;
            self.sql(&format!(
                "CREATE TRIGGER {name} {timing} INSERT OR UPDATE ON sessions \
                 FOR EACH ROW EXECUTE FUNCTION {name}()"
            ))
            .await;
        } else {
            for event in ["INSERT", "UPDATE"] {
                self.sql(&format!(
                    "CREATE TRIGGER {name}_{event} {timing} {event} ON sessions BEGIN {sqlite} END"
                ))
                .await;
            }
        }
    }

    /// Starts counting the writes (inserts and updates) of session records
    /// in the database store, with triggers on its table; read the count
    /// with [`TestApp::session_writes`].
    pub async fn count_session_writes(&self) {
        assert_eq!(
            self.backend,
            Backend::Database,
            "writes are counted in the database store"
        );
        self.sql("CREATE TABLE session_writes (n BIGINT NOT NULL)")
            .await;
        self.sql("INSERT INTO session_writes (n) VALUES (0)").await;
        self.on_session_write(
            "count_session_write",
            "AFTER",
            "UPDATE session_writes SET n = n + 1; RETURN NULL;",
            "UPDATE session_writes SET n = n + 1;",
        )
        .await;
    }

    /// Session records written since [`TestApp::count_session_writes`].
    pub async fn session_writes(&self) -> i64 {
        self.count("SELECT n FROM session_writes").await
    }

    /// How many sign-ins the `logins` table holds.
    pub async fn logins(&self) -> i64 {
        self.count("SELECT COUNT(*) AS n FROM logins").await
    }

    /// The number in column `n` of the one row `query` answers.
    async fn count(&self, query: &str) -> i64 {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(backend, query))
            .await
            .expect("count query")
            .expect("a count row");
        row.try_get::<i64>("", "n").expect("the count")
    }
}

/// One running instance of the service, in this test's runtime.
pub struct Instance {
    pub base: String,
    /// As [`TestApp::metrics_base`].
    pub metrics_base: Option<String>,
    pub state: api::state::AppState,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Instance {
    async fn start(vars: &HashMap<String, String>, clock: &api::Clock) -> Instance {
        let config = api::Config::from_vars(vars.clone()).expect("test configuration");
        let application = Application::build_with_clock(config, clock.clone())
            .await
            .expect("the app builds");
        let base = format!("http://{}", application.local_addr());
        let metrics_base = application
            .metrics_addr()
            .map(|addr| format!("http://{addr}"));
        let state = application.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            application
                .run_until(async {
                    let _ = rx.await;
                })
                .await
                .expect("the app serves");
        });
        Instance {
            base,
            metrics_base,
            state,
            server: Some((tx, handle)),
        }
    }

    /// Stops gracefully and waits until it has.
    async fn stop(&mut self) {
        if let Some((tx, handle)) = self.server.take() {
            let _ = tx.send(());
            handle.await.expect("the app stops cleanly");
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.server.take() {
            let _ = tx.send(());
            handle.abort();
        }
    }
}

/// A request from `client`, with `body` as JSON when there is one.
pub async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: impl reqwest::IntoUrl,
    body: Option<&Value>,
) -> reqwest::Response {
    let req = client.request(method, url);
    match body {
        Some(b) => req.json(b),
        None => req,
    }
    .send()
    .await
    .expect("request")
}

/// Asserts a problem+json response with the given status and type slug, and returns it.
pub async fn assert_problem(res: reqwest::Response, status: u16, slug: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let body: Value = res.json().await.expect("problem json");
    assert_eq!(body["type"], format!("/problems/{slug}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(
        body["title"].as_str().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| d.len() > 10),
        "{body}"
    );
    body
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(ToOwned::to_owned)
        .collect()
}

/// The `Set-Cookie` headers of a response, parsed.
fn parsed_set_cookies(headers: &HeaderMap) -> Vec<cookie::Cookie<'static>> {
    set_cookies(headers)
        .into_iter()
        .filter_map(|c| cookie::Cookie::parse(c).ok())
        .collect()
}

/// The session cookie's value as set by a response, if it sets one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    parsed_set_cookies(headers)
        .into_iter()
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

/// A `Set-Cookie` header of a response for `name`, if any.
pub fn set_cookie_for(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|c| cookie::Cookie::parse(c.as_str()).is_ok_and(|parsed| parsed.name() == name))
}

/// The value part of a `Set-Cookie` header.
pub fn cookie_value(set_cookie: &str) -> String {
    cookie::Cookie::parse(set_cookie)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

/// Whether a `Set-Cookie` header removes its cookie: no age left, or an
/// expiry in the past.
pub fn is_removal(set_cookie: &str) -> bool {
    let Ok(parsed) = cookie::Cookie::parse(set_cookie) else {
        return false;
    };
    parsed.max_age() == Some(time::Duration::ZERO)
        || parsed
            .expires_datetime()
            .is_some_and(|at| at <= time::OffsetDateTime::now_utc())
}

/// The session id a session cookie's value carries, verified as the
/// service verifies it (under the test secret key).
pub fn session_id(cookie_value: &str) -> String {
    let config = api::Config::from_vars([("SECRET_KEY".to_owned(), SECRET_KEY.to_owned())].into())
        .expect("test configuration");
    let keys = api::session::keys::SessionCookieKeys::new(&config);
    let mut headers = HeaderMap::new();
    headers.insert(
        reqwest::header::COOKIE,
        format!("{COOKIE}={cookie_value}")
            .parse()
            .expect("a cookie header"),
    );
    let (id, _) = keys
        .session_id(&headers)
        .expect("a session cookie signed with the test key");
    id.to_string()
}
