//! Serving the router on the listener, and stopping without losing a
//! request.
//!
//! This is what `axum::serve` does (a hyper-util connection per accepted
//! socket, HTTP/1.1 or HTTP/2 as the client speaks), except for stopping.
//! Told to stop, `axum::serve` drops its listener, which resets every
//! connection the kernel had accepted but the loop had not yet taken, and
//! tells each connection to shut down, which hyper-util does by dropping one
//! whose first request it has not read yet and hyper by closing an idle
//! keep-alive one, although a request may be in the socket already. So a
//! request sent just before SIGTERM could go unanswered: in the test of a
//! stop under load (`tests/binary.rs`), nearly every stop lost some, sent
//! up to 30 ms before the signal.
//!
//! Here, once told to stop:
//! 1. the connections still queued on the listener are taken, then it is
//!    closed: connections made from then on are refused;
//! 2. each connection is told to shut down only once its socket holds no
//!    byte it has not read, so a request already sent is read, and then
//!    answered (on a connection that is no longer kept alive);
//! 3. it returns once every connection has closed, or after `drain_limit`
//!    if some client keeps one open (a request it never finishes sending,
//!    an answer it does not read), leaving those to be cut.
//!
//! Both checks ask the kernel directly, through a second handle on the
//! socket, rather than tokio, whose readiness may not have caught up yet.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tower::Layer;

/// How often a stopping connection whose socket still holds unread bytes
/// looks again, while it goes on serving.
const UNREAD_RECHECK: Duration = Duration::from_millis(5);

/// Serves `router` on `listener` until `shutdown` completes, then stops as
/// the module says.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()>,
    drain_limit: Duration,
) -> io::Result<()> {
    // A second handle on the listening socket, to take what is queued on
    // it at the end.
    let listener = listener.into_std()?;
    let queue = listener.try_clone()?;
    let listener = TcpListener::from_std(listener)?;
    let (stop, stopping) = watch::channel(false);
    let (open, connection_open) = watch::channel(());
    let connections = Connections {
        router,
        stopping,
        open: connection_open,
    };

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => connections.serve(stream, peer),
                Err(e) => accept_failed(e).await,
            },
        }
    }
    drop(listener);
    loop {
        match queue.accept() {
            Ok((stream, peer)) => {
                match stream
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(stream))
                {
                    Ok(stream) => connections.serve(stream, peer),
                    Err(e) => tracing::warn!(error = %e, "cannot serve a queued connection"),
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if is_connection_error(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the queued connections");
                break;
            }
        }
    }
    drop(queue);

    let _ = stop.send(true);
    drop(connections);
    if tokio::time::timeout(drain_limit, open.closed())
        .await
        .is_err()
    {
        tracing::warn!(
            connections = open.receiver_count(),
            limit = ?drain_limit,
            "connections still open when the time to answer was up; cutting them"
        );
    }
    Ok(())
}

/// What every connection's task needs.
struct Connections {
    router: Router,
    /// Becomes `true` when the service stops.
    stopping: watch::Receiver<bool>,
    /// Held by each connection's task: the sender sees when all are gone.
    open: watch::Receiver<()>,
}

impl Connections {
    /// Serves one accepted connection in a task of its own.
    fn serve(&self, stream: TcpStream, peer: SocketAddr) {
        // Sharing the socket: closing the stream alone leaves it open, but
        // the task drops both at once.
        let socket = stream
            .as_fd()
            .try_clone_to_owned()
            .map(std::net::TcpStream::from)
            .inspect_err(|e| tracing::warn!(error = %e, "cannot watch a connection's socket"))
            .ok();
        let service =
            TowerToHyperService::new(Extension(ConnectInfo(peer)).layer(self.router.clone()));
        let (mut stopping, open) = (self.stopping.clone(), self.open.clone());
        tokio::spawn(async move {
            // As `axum::serve` sets it up.
            let mut builder = Builder::new(TokioExecutor::new());
            builder.http2().enable_connect_protocol();
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            tokio::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => return,
                _ = stopping.wait_for(|stopping| *stopping) => {}
            }
            while socket.as_ref().is_some_and(holds_unread_bytes) {
                tokio::select! {
                    _ = connection.as_mut() => return,
                    () = tokio::time::sleep(UNREAD_RECHECK) => {}
                }
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
            drop(open);
        });
    }
}

/// Whether the client has sent bytes this end has not read yet.
fn holds_unread_bytes(socket: &std::net::TcpStream) -> bool {
    // The socket is non-blocking: nothing to read is an error, not a wait.
    matches!(socket.peek(&mut [0u8; 1]), Ok(n) if n > 0)
}

/// As `axum::serve`: a connection that failed before it was taken is
/// nothing to worry about; anything else (such as too many open files) is
/// logged, and accepting waits a second before trying again.
async fn accept_failed(e: io::Error) {
    if is_connection_error(&e) {
        return;
    }
    tracing::error!(error = %e, "cannot accept connections");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}
