//! Redis servers of a test's own: Debian's `redis-server` on free ports of
//! 127.0.0.1 (never the shared one), each in a temporary directory of its
//! own, killed and its directory removed when dropped. One server (the
//! outage tests), the nodes of a cluster and a sentinel
//! (`redis_cluster.rs`).
//!
//! The tests that start them run wherever the tools they need are
//! installed. Where one is missing they pass without running, saying so,
//! unless the suite runs against the services (`TEST_REDIS_URL` set), where
//! a missing tool is a failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::{AppBuilder, Backend, app};

pub const REDIS_SERVER: &str = "/usr/bin/redis-server";
pub const REDIS_CLI: &str = "/usr/bin/redis-cli";

/// Whether `tools` are all installed. A test that needs them returns at
/// once when they are not (printing that it skipped), except against the
/// services, where it fails: there the suite is meant to run whole.
pub fn installed(tools: &[&str]) -> bool {
    let Some(missing) = tools.iter().find(|t| !Path::new(t).exists()) else {
        return true;
    };
    let services = std::env::var("TEST_REDIS_URL").is_ok_and(|v| !v.is_empty());
    assert!(
        !services,
        "TEST_REDIS_URL is set but {missing} is missing: install Debian's redis-server package to run the tests on Redis servers of their own"
    );
    eprintln!("skipped: {missing} is not installed");
    false
}

/// The service with its sessions in the Redis of `url`.
pub fn on_redis(url: &str) -> AppBuilder {
    app().backend(Backend::Redis).var("REDIS_URL", url)
}

/// How a single server keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// In memory only: enough for a pause, which loses nothing.
    None,
    /// An append-only file synced before each write is acknowledged, so a
    /// crash loses nothing the service was told was written.
    AppendOnly,
}

/// What a server runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Single(Persistence),
    /// A node of a cluster, in memory only; its cluster bus listens on its
    /// port + 10000.
    ClusterNode,
    /// A sentinel watching the master on `master_port` as `service`, alone
    /// (quorum 1).
    Sentinel {
        master_port: u16,
        service: &'static str,
    },
}

/// A `redis-server` of the test's own.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    role: Role,
}

impl RedisServer {
    /// Starts a single server, or `None` where `redis-server` is not
    /// installed (see [`installed`]).
    pub async fn start(persistence: Persistence) -> Option<RedisServer> {
        if !installed(&[REDIS_SERVER]) {
            return None;
        }
        Some(Self::spawn(Role::Single(persistence)).await)
    }

    /// Starts a server as `role` on a free port; the caller has checked that
    /// `redis-server` is installed.
    pub async fn spawn(role: Role) -> RedisServer {
        let dir = std::env::temp_dir().join(format!("km-redis-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).expect("a directory for redis-server");
        for _ in 0..20 {
            // Below Linux's ephemeral ports (32768 and up): no outgoing
            // connection takes this port while the server is down, such as
            // the service's own attempts to reconnect to it. A cluster node
            // also needs its bus port, 10000 above, below them too.
            let port = match role {
                Role::ClusterNode => 10_000 + rand::random::<u16>() % 12_000,
                _ => 20_000 + rand::random::<u16>() % 12_000,
            };
            if !is_free(port).await || (role == Role::ClusterNode && !is_free(port + 10_000).await)
            {
                continue;
            }
            let mut server = RedisServer {
                child: None,
                port,
                dir: dir.clone(),
                role,
            };
            if server.launch().await {
                return server;
            }
        }
        panic!("no free port for redis-server after 20 tries");
    }

    /// Starts the server on this port and directory and waits until it
    /// answers; false when it exits first (the port was taken meanwhile).
    async fn launch(&mut self) -> bool {
        let port = self.port.to_string();
        let dir = self.dir.display().to_string();
        let log = self.dir.join("redis.log").display().to_string();
        let mut command = Command::new(REDIS_SERVER);
        if let Role::Sentinel {
            master_port,
            service,
        } = self.role
        {
            // A sentinel runs from a configuration file, which it rewrites.
            let conf = self.dir.join("sentinel.conf");
            let text = format!(
                "bind 127.0.0.1\nport {port}\ndir {dir}\nlogfile {log}\ndaemonize no\n\
                 sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            );
            std::fs::write(&conf, text).expect("write sentinel.conf");
            command.arg(&conf).arg("--sentinel");
        } else {
            command.args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port,
                "--dir",
                &dir,
                "--logfile",
                &log,
                "--daemonize",
                "no",
                "--save",
                "",
            ]);
        }
        match self.role {
            Role::Single(Persistence::None) => {
                command.args(["--appendonly", "no"]);
            }
            Role::Single(Persistence::AppendOnly) => {
                command.args(["--appendonly", "yes", "--appendfsync", "always"]);
            }
            Role::ClusterNode => {
                command.args([
                    "--appendonly",
                    "no",
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                ]);
            }
            Role::Sentinel { .. } => {}
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let pid = format!("process_id:{}", child.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().expect("redis-server's status").is_some() {
                return false;
            }
            // Ours, not another server that took the port.
            if let Some(info) = redis_command(self.port, &["INFO", "server"]).await
                && info.lines().any(|l| l.trim() == pid)
            {
                self.child = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("redis-server did not answer within 10 s; see {log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The URL of a single server.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    fn signal(&self, signal: &str) {
        let child = self.child.as_ref().expect("redis-server is running");
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
    }

    /// Freezes the server: its connections stay open, nothing is answered.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    pub fn resume(&self) {
        self.signal("-CONT");
    }

    /// Kills the server at once, as a crash would.
    pub fn crash(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("kill redis-server");
            child.wait().expect("redis-server ended");
        }
    }

    /// Starts it again on the same port and data; returns once it answers.
    pub async fn restart(&mut self) {
        assert!(
            self.launch().await,
            "redis-server did not start again on port {}",
            self.port
        );
    }

    /// A section of `INFO` on the running server.
    pub async fn info(&self, section: &str) -> String {
        redis_command(self.port, &["INFO", section])
            .await
            .expect("redis-server answers INFO")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGKILL ends a stopped process too.
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether nothing listens on `port` of 127.0.0.1.
async fn is_free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).await.is_ok()
}

/// Sends one command to the Redis on `port` and returns its reply as text
/// (a bulk string's content, else the reply's first line: `:1` for an
/// integer, `-ERR ...` for an error), or `None` when nothing answers within
/// a second.
pub async fn redis_command(port: u16, args: &[&str]) -> Option<String> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let Some(length) = line.strip_prefix('$') else {
            return Some(line.trim_end().to_owned());
        };
        let length: usize = length.trim().parse().ok()?;
        let mut body = vec![0; length + 2];
        reader.read_exact(&mut body).await.ok()?;
        body.truncate(length);
        String::from_utf8(body).ok()
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}
