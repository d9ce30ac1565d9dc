//! The HTTP listener, with the bounds a client cannot push past: a connection that does not
//! send its request head in time (or sits idle between requests) is closed, the number of open
//! connections is capped below the file-descriptor limit, and hitting either limit is logged
//! once, when it starts, not per connection.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Bounds on client connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Most connections open at once; further ones are closed as soon as they are accepted.
    pub max_connections: usize,
    /// Time a client has to send a request head, on a new connection and between the requests
    /// of a kept-alive one (an idle connection is closed after it). Open event streams are
    /// responses in progress, not idle: they are not affected.
    pub header_read_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits { max_connections: 4096, header_read_timeout: Duration::from_secs(30) }
    }
}

impl ConnectionLimits {
    /// These limits, with the connection cap lowered to leave room under `fd_limit` for the
    /// backends' pipes, files and the listener itself.
    pub fn within_fd_limit(self, fd_limit: u64) -> ConnectionLimits {
        let room = usize::try_from(fd_limit.saturating_sub(FD_RESERVE).max(fd_limit / 2)).unwrap_or(usize::MAX);
        ConnectionLimits { max_connections: self.max_connections.min(room), ..self }
    }
}

/// File descriptors kept back from client connections (backend pipes, config files, logs).
const FD_RESERVE: u64 = 256;

/// Raise the soft open-files limit to the hard one (the default soft 1024 is easy to exhaust
/// with idle sockets) and return the limit in force.
pub fn raise_fd_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(soft), hard) = (limit.current, limit.maximum) else { return u64::MAX };
    let target = hard.unwrap_or(soft).min(1 << 20);
    if target > soft {
        match setrlimit(Resource::Nofile, Rlimit { current: Some(target), maximum: hard }) {
            Ok(()) => return target,
            Err(error) => tracing::warn!(%error, soft, target, "cannot raise the open-files limit"),
        }
    }
    soft
}

/// Serve `router` on `listener` until `stop` turns true, then let open connections finish
/// their current response (the caller bounds how long it waits).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut at_cap = Episode::default();
    let mut accept_failing = Episode::default();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut stop) => break,
        };
        let Some((stream, peer)) = accepted_or_pause(accepted, &mut accept_failing).await else { continue };
        if !below_cap(&open, limits.max_connections, &mut at_cap) {
            drop(stream);
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let open = Arc::clone(&open);
        let (router, stop) = (router.clone(), stop.clone());
        tokio::spawn(async move {
            connection(stream, peer, router, limits, stop).await;
            open.fetch_sub(1, Ordering::Relaxed);
        });
    }
    while open.load(Ordering::Relaxed) > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A condition that is logged when it starts and when it ends, not each time it is seen.
#[derive(Default)]
struct Episode {
    ongoing: bool,
}

impl Episode {
    /// The condition holds; true if it just started.
    fn begins(&mut self) -> bool {
        !std::mem::replace(&mut self.ongoing, true)
    }

    /// The condition is over; true if it was ongoing.
    fn ends(&mut self) -> bool {
        std::mem::take(&mut self.ongoing)
    }
}

/// The accepted connection; `None` after a failed accept, following a pause so a lack of file
/// descriptors does not turn into a busy loop.
async fn accepted_or_pause(
    accepted: std::io::Result<(TcpStream, SocketAddr)>,
    failing: &mut Episode,
) -> Option<(TcpStream, SocketAddr)> {
    match accepted {
        Ok(accepted) => {
            if failing.ends() {
                tracing::info!("accepting connections again");
            }
            Some(accepted)
        }
        Err(error) => {
            if failing.begins() {
                tracing::warn!(%error, "cannot accept connections (out of file descriptors?); retrying");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
            None
        }
    }
}

/// True if fewer than `max` connections are `open`, so one more may be served.
fn below_cap(open: &AtomicUsize, max: usize, at_cap: &mut Episode) -> bool {
    if open.load(Ordering::Relaxed) >= max {
        if at_cap.begins() {
            tracing::warn!(limit = max, "connection limit reached: closing new connections until open ones end");
        }
        return false;
    }
    if at_cap.ends() {
        tracing::info!("below the connection limit again");
    }
    true
}

/// Resolves once `stop` is (or turns) true, or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: ConnectionLimits,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // The peer decides whether loopback Host names are admitted (core::front).
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, request).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = stopped(&mut stop) => {
            // Finish the response in progress, then close instead of keeping alive.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(error) = result {
        tracing::debug!(%peer, %error, "connection ended");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn start(limits: ConnectionLimits) -> (SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = Router::new().fallback(|| async { "ok" });
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::spawn(serve(listener, router, limits, stop_rx));
        (addr, stop_tx)
    }

    /// Reads until the peer closes (or 2 s pass); true if it closed.
    async fn closed_by_server(stream: &mut TcpStream) -> bool {
        let mut buf = [0u8; 256];
        matches!(tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await, Ok(Ok(0)) | Ok(Err(_)))
    }

    async fn get(addr: SocketAddr) -> String {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.expect("write");
        let mut text = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(2), stream.read_to_string(&mut text)).await;
        text
    }

    #[tokio::test]
    async fn silent_connections_are_bounded_and_closed_and_the_server_keeps_answering() {
        let limits = ConnectionLimits { max_connections: 3, header_read_timeout: Duration::from_millis(300) };
        let (addr, _stop) = start(limits).await;
        let mut silent = Vec::new();
        for _ in 0..3 {
            silent.push(TcpStream::connect(addr).await.expect("connect"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let mut over = TcpStream::connect(addr).await.expect("the kernel accepts");
        assert!(closed_by_server(&mut over).await, "a connection over the cap is closed at once");
        for stream in &mut silent {
            assert!(closed_by_server(stream).await, "a connection that never sends a request head is closed");
        }
        assert!(get(addr).await.starts_with("HTTP/1.1 200"), "room again once the silent ones are gone");
    }

    #[tokio::test]
    async fn an_idle_kept_alive_connection_is_closed_after_the_header_timeout() {
        let limits = ConnectionLimits { max_connections: 8, header_read_timeout: Duration::from_millis(300) };
        let (addr, _stop) = start(limits).await;
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("write");
        let mut buf = vec![0u8; 1024];
        let n =
            tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await.expect("answer").expect("read");
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        assert!(closed_by_server(&mut stream).await, "idle after its answer: closed");
    }

    #[test]
    fn the_connection_cap_leaves_room_under_the_fd_limit() {
        let limits = ConnectionLimits::default();
        assert_eq!(limits.within_fd_limit(1024).max_connections, 768);
        assert_eq!(limits.within_fd_limit(1 << 20).max_connections, 4096);
        assert_eq!(limits.within_fd_limit(300).max_connections, 150);
    }
}
